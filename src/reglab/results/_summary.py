"""A sweep comparison as files: ``OUT/sweeps/SWEEP_ID/summary.json`` and its figure, for ``reglab report``.

The report (a low layer that reads files only) shows what is written here; the summary holds the
comparison's JSON document plus the table as the report prints it (``table``: title, columns,
rows of text) and the names of its figure files.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from reglab._json import dumps
from reglab.experiments._base import save_figures
from reglab.errors import ReglabError
from reglab.results._compare import DEFAULT_METRIC, SweepComparison, compare_sweep
from reglab.results._select import known_sweeps
from reglab.store import RunStore
from reglab.results._figure import comparison_figure, short_axis
from reglab.store._folder import write_atomic

__all__ = ["comparison_table", "write_comparison", "sweep_folder", "refresh_sweeps", "SUMMARY"]

SUMMARY = "summary.json"


def _headers(axes: list[str]) -> list[str]:
    short = [short_axis(a) for a in axes]
    return short if len(set(short)) == len(short) else list(axes)


def _cell(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def comparison_table(c: SweepComparison) -> dict[str, Any]:
    """``{"title", "columns", "rows"}``: one row per combination of the non-seed axes, all cells text."""
    best = c.best
    seeds = ", ".join(c.seed_axes) or "no seed axis"
    rows = []
    for i, row in enumerate(c.rows):
        stat = "–" if row.mean is None else f"{row.mean:.4g} ± {row.sd:.2g}"
        statuses = ", ".join(f"{k} {v}" for k, v in sorted(row.statuses.items()))
        rows.append([*(_cell(row.axes[a]) for a in c.group_axes), stat, str(row.n), statuses,
                     "★" if i == best else ""])
    return {"title": f"{c.sweep_id}: {c.metric}, mean ± sd over {seeds} (completed runs)",
            "columns": [*_headers(c.group_axes), f"{c.metric} mean ± sd", "n", "status", "best"], "rows": rows}


def sweep_folder(out: str | os.PathLike, sweep_id: str) -> Path:
    return Path(out) / "sweeps" / sweep_id


def write_comparison(c: SweepComparison, out: str | os.PathLike) -> SweepComparison:
    """Draw the figure and write the summary into ``OUT/sweeps/SWEEP_ID/``; ``c.files`` gets their paths."""
    folder = sweep_folder(out, c.sweep_id)
    folder.mkdir(parents=True, exist_ok=True)
    names = save_figures({c.metric: comparison_figure(c)}, folder)
    c.files = {"figure": str(folder / f"{c.metric}.png"), "summary": str(folder / SUMMARY)}
    document = {**c.to_json(), "table": comparison_table(c), "figures": names}
    write_atomic(folder / SUMMARY, dumps(document, indent=2) + "\n")
    return c


def _last_metric(out: str | os.PathLike, sweep_id: str) -> str:
    """The metric the sweep was last compared on (its summary's), else the default."""
    try:
        metric = json.loads((sweep_folder(out, sweep_id) / SUMMARY).read_text(encoding="utf-8")).get("metric")
    except (OSError, ValueError, AttributeError):
        return DEFAULT_METRIC
    return metric if isinstance(metric, str) else DEFAULT_METRIC


def refresh_sweeps(out: str | os.PathLike) -> list[SweepComparison]:
    """Compare every sweep in the store in ``out`` again (on the metric it was last compared on) and write it.

    Reads the store only (nothing is trained); a results folder without a store has no sweeps.
    """
    if not Path(out, "runs.db").exists():
        return []
    done = []
    for sweep_id in known_sweeps(RunStore(out)):
        metric = _last_metric(out, sweep_id)
        try:
            comparison = compare_sweep(out, sweep_id, metric)
        except ReglabError:  # the metric of an old summary is gone: compare on the default one
            comparison = compare_sweep(out, sweep_id, DEFAULT_METRIC)
        done.append(write_comparison(comparison, out))
    return done
