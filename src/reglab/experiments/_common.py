"""Small numeric helpers for experiment summaries."""

from __future__ import annotations

import statistics
from typing import Sequence

__all__ = ["mean_sd", "fmt_pm"]


def mean_sd(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value)."""
    values = [float(v) for v in values]
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def fmt_pm(values: Sequence[float], digits: int = 4) -> str:
    m, s = mean_sd(values)
    return f"{m:.{digits}f} ± {s:.{digits}f}"
