"""What the MLflow and TensorBoard exports share: the runs an id names, their flat params, the result.

A run's resolved config becomes flat ``key = value`` params with the keys of ``--set``
(``train.lr``, ``regularizer.0.alpha``); lists of plain values stay one param (``model.hidden``
= ``[32]``). Every value is text as JSON writes it (``0.001``, ``true``, ``null``) except
strings, which are themselves.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reglab.config import flatten_config
from reglab.errors import ConfigError, RunError
from reglab.results._select import select_runs
from reglab.store import RunStore

__all__ = ["ExportResult", "flatten_config", "param_text", "stored_runs", "finite_history", "need_extra"]


@dataclass
class ExportResult:
    """Where an export went and what it wrote: ``exported`` (run id → the target's id or folder), ``skipped``."""

    target: str
    name: str
    exported: dict[str, str] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"target": self.target, "name": self.name, "exported": self.exported, "skipped": self.skipped}


def param_text(value: Any) -> str:
    """A param's value as text: strings as they are, everything else as JSON.

    >>> param_text("l2"), param_text(0.001), param_text([32]), param_text(None), param_text(True)
    ('l2', '0.001', '[32]', 'null', 'true')
    """
    return value if isinstance(value, str) else json.dumps(value)


def stored_runs(out: str | os.PathLike, ident: str) -> tuple[RunStore, str, list[dict[str, Any]]]:
    """The store in ``out`` and the runs ``ident`` names (a run id or a sweep id), with their name."""
    if not Path(out, "runs.db").exists() and not any(Path(out, "runs").glob("*/run.json")):
        raise RunError(f"no run store at {Path(out) / 'runs.db'}; train something first or pass --out", field="--out")
    store = RunStore(out)
    name, runs = select_runs(store, ident)
    return store, name, runs


def finite_history(store: RunStore, run_id: str) -> list[tuple[int, str, float]]:
    """``(epoch, metric, value)`` of every finite per-epoch value stored for the run, in epoch order."""
    return [(int(row["epoch"]), key, float(value)) for row in store.metrics(run_id) for key, value in row.items()
            if key != "epoch" and value is not None and math.isfinite(value)]


def need_extra(extra: str, option: str, exc: ImportError) -> ConfigError:
    """The error for a missing optional dependency: which extra to install."""
    return ConfigError(f"{option} needs the optional extra reglab[{extra}] ({exc.name or exc}): "
                       f"pip install 'reglab[{extra}]'", field=option)
