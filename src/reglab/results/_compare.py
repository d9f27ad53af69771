"""``compare_sweep``: a stored sweep's final metric, mean ± sd over seeds per combination of its other axes.

A sweep's axes split three ways: **seed axes** (a key whose last part is ``seed`` or ends in
``_seed``: ``train.seed``, ``data.seed``, ``model.init_seed``), averaged over; the **strength
axis** (the first numeric axis whose key ends in ``alpha``, else the first numeric non-seed
axis), the figure's x axis; and the rest, one line of the figure each (``regularizer.0.kind``). A row is one combination of the non-seed axes; its
mean ± sd (sample sd, :func:`reglab.experiments._common.mean_sd`) is over the row's
``completed`` runs with a finite value of the metric, ``n`` of them; its status counts say
what became of every point in it. The best row has the lowest mean (errors and losses are
better lower), or the highest with ``higher_is_better`` (``--higher-is-better``: a metric such as
``sparsity`` where more is what is sought).

α here is what the sweep's config says: the strength on the *mean* training loss
(reglab's convention; Nielsen's λ = α·n).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reglab.errors import ConfigError, RunError
from reglab.experiments._common import mean_sd
from reglab.results._select import sweep_runs
from reglab.store import RunStore
from reglab.train import FINAL_KEYS

__all__ = ["ComparisonRow", "SweepComparison", "compare_sweep", "seed_axis", "DEFAULT_METRIC"]

DEFAULT_METRIC = "test_error"


@dataclass
class ComparisonRow:
    """One combination of the non-seed axes: the metric's mean ± sd over its completed seeds."""

    axes: dict[str, Any]
    values: list[float]
    statuses: dict[str, int]
    run_ids: list[str]

    @property
    def mean(self) -> float | None:
        return mean_sd(self.values)[0] if self.values else None

    @property
    def sd(self) -> float | None:
        return mean_sd(self.values)[1] if self.values else None

    @property
    def n(self) -> int:
        return len(self.values)

    def to_json(self) -> dict[str, Any]:
        return {"axes": self.axes, "n": self.n, "mean": self.mean, "sd": self.sd, "values": self.values,
                "status": self.statuses, "run_ids": self.run_ids}


@dataclass
class SweepComparison:
    """What ``reglab runs compare`` shows: the rows, the best one, and how the axes were read."""

    sweep_id: str
    name: str | None
    metric: str
    axes: list[str]
    seed_axes: list[str]
    strength_axis: str | None
    line_axes: list[str]
    rows: list[ComparisonRow]
    superseded: int = 0
    files: dict[str, str] = field(default_factory=dict)
    higher_is_better: bool = False

    @property
    def group_axes(self) -> list[str]:
        return [a for a in self.axes if a not in self.seed_axes]

    @property
    def best(self) -> int | None:
        """Index of the row with the lowest mean, or the highest with ``higher_is_better`` (None when no row
        has a value)."""
        scored = [i for i, r in enumerate(self.rows) if r.mean is not None]
        if not scored:
            return None
        pick = max if self.higher_is_better else min
        return pick(scored, key=lambda i: self.rows[i].mean)

    def to_json(self) -> dict[str, Any]:
        best = self.best
        return {"sweep_id": self.sweep_id, "name": self.name, "metric": self.metric, "axes": self.axes,
                "seed_axes": self.seed_axes, "strength_axis": self.strength_axis, "line_axes": self.line_axes,
                "rows": [r.to_json() for r in self.rows], "higher_is_better": self.higher_is_better,
                "best": None if best is None else {"row": best, **self.rows[best].to_json()},
                "superseded_runs": self.superseded, **self.files}


def seed_axis(key: str) -> bool:
    """Whether an axis is averaged over (its last part is ``seed`` or ends in ``_seed``).

    >>> seed_axis("train.seed"), seed_axis("model.init_seed"), seed_axis("regularizer.0.alpha")
    (True, True, False)
    """
    last = key.rsplit(".", 1)[-1]
    return last == "seed" or last.endswith("_seed")


def _numeric(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _strength(axes: list[str], points: list[dict[str, Any]]) -> str | None:
    numeric = [a for a in axes if all(_numeric((p["tags"].get("axes") or {}).get(a)) for p in points)]
    return next((a for a in numeric if a.rsplit(".", 1)[-1] == "alpha"), numeric[0] if numeric else None)


def _metric_value(run: dict[str, Any], metric: str) -> float | None:
    value = (run.get("final") or {}).get(metric)
    return float(value) if _numeric(value) and math.isfinite(value) else None


def _allowed_metrics(points: list[dict[str, Any]]) -> list[str]:
    found = {k for p in points for k, v in (p.get("final") or {}).items() if _numeric(v)}
    return [*FINAL_KEYS, *sorted(found - set(FINAL_KEYS))]


def compare_sweep(out: str | os.PathLike, sweep_id: str, metric: str = DEFAULT_METRIC, *,
                  higher_is_better: bool = False) -> SweepComparison:
    """Read sweep ``sweep_id`` (its id or a unique prefix) from the store in ``out`` and compare its points.

    >>> import tempfile
    >>> from reglab.sweep import parse_sweep, run_sweep
    >>> sweep = parse_sweep({"data": {"n_train": 60}, "model": {"hidden": [4]}, "train": {"epochs": 1},
    ...                      "regularizer": [{"kind": "l2", "alpha": 0.0}],
    ...                      "sweep": {"regularizer.0.alpha": [0.0, 0.01], "train.seed": [0, 1]}})
    >>> out = tempfile.mkdtemp()
    >>> _ = run_sweep(sweep, out=out, executor="vectorized")
    >>> comparison = compare_sweep(out, sweep.id)
    >>> comparison.strength_axis, comparison.seed_axes, [(r.axes, r.n) for r in comparison.rows]
    ('regularizer.0.alpha', ['train.seed'], [({'regularizer.0.alpha': 0.0}, 2), ({'regularizer.0.alpha': 0.01}, 2)])
    """
    if not Path(out, "runs.db").exists() and not any(Path(out, "runs").glob("*/run.json")):
        raise RunError(f"no run store at {Path(out) / 'runs.db'}; run a sweep first or pass --out", field="--out")
    found = sweep_runs(RunStore(out), sweep_id)
    allowed = _allowed_metrics(found.points)
    if metric not in allowed:
        raise ConfigError(f"--metric must be one of {', '.join(allowed)}; got {metric!r}", field="--metric")
    seeds = [a for a in found.axes if seed_axis(a)]
    group_axes = [a for a in found.axes if a not in seeds]
    strength = _strength(group_axes, found.points)
    rows: dict[tuple, ComparisonRow] = {}
    for run in found.points:
        values = run["tags"].get("axes") or {}
        axes = {a: values.get(a) for a in group_axes}
        key = tuple(repr(v) for v in axes.values())
        row = rows.setdefault(key, ComparisonRow(axes, [], {}, []))
        row.statuses[run["status"]] = row.statuses.get(run["status"], 0) + 1
        row.run_ids.append(run["id"])
        value = _metric_value(run, metric)
        if run["status"] == "completed" and value is not None:
            row.values.append(value)
    name = found.points[0]["name"] if found.points else None
    return SweepComparison(found.sweep_id, name, metric, found.axes, seeds, strength,
                           [a for a in group_axes if a != strength], list(rows.values()), found.superseded,
                           higher_is_better=higher_is_better)
