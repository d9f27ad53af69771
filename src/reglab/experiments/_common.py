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


def _stat(values: Sequence[float]) -> dict[str, float]:
    return dict(zip(("mean", "sd"), mean_sd(values)))


def summarize_histories(runs: Sequence[Sequence[dict]], keys: Sequence[str] = ("train_error", "test_error")) -> dict:
    """Mean ± sd over seeds of the final value and of each epoch's value of ``keys``, plus best test error.

    ``runs`` holds one history (list of per-epoch metric dicts) per seed, all of equal length.
    """
    epochs = len(runs[0])
    out: dict = {}
    for key in keys:
        out[f"final_{key}"] = _stat([h[-1][key] for h in runs])
        per_epoch = [mean_sd([h[e][key] for h in runs]) for e in range(epochs)]
        out[f"curve_{key}"] = [m for m, _ in per_epoch]
        out[f"curve_{key}_sd"] = [s for _, s in per_epoch]
    out["best_test_error"] = _stat([min(e["test_error"] for e in h) for h in runs])
    out["final_gap"] = _stat([h[-1]["test_error"] - h[-1]["train_error"] for h in runs])
    return out
