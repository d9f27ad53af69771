"""Strict JSON for every document reglab writes: one helper, used by the CLI, runs and experiments.

NaN and ±Inf become ``null`` (strict JSON has no such numbers), tensors and NumPy
values become plain Python, tuples become lists, keys become strings.

>>> dumps({"a": float("nan"), "b": (1, 2.5)})
'{"a": null, "b": [1, 2.5]}'
"""

from __future__ import annotations

import json
import math
from typing import Any

__all__ = ["strict_json", "dumps"]


def strict_json(value: Any) -> Any:
    """``value`` with NaN/Inf → None, tensors and NumPy values → plain Python, recursively."""
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        value = value.tolist()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): strict_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [strict_json(v) for v in value]
    return value


def dumps(value: Any, *, indent: int | None = None) -> str:
    """The strict JSON text of ``value`` (``allow_nan=False``: a NaN that slipped through is a bug)."""
    return json.dumps(strict_json(value), indent=indent, allow_nan=False, default=str)
