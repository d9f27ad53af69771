"""The figure of ``reglab runs compare``: the metric against the strength, one line per other axis.

The x axis is logarithmic when the strength axis has positive values; a strength of 0 (no
regularization) cannot sit on a log axis, so it is drawn one decade left of the smallest
positive strength, labelled ``0``, behind a dotted break line. Error bars are ± one sample sd
over the seeds; the best row (lowest mean, or highest with ``higher_is_better``) is a star.
"""

from __future__ import annotations

import math
from typing import Any

from matplotlib.figure import Figure

from reglab.experiments._plot import PALETTE, new_figure, seeds_label
from reglab.results._compare import ComparisonRow, SweepComparison

__all__ = ["comparison_figure", "zero_position", "short_axis"]


def short_axis(key: str) -> str:
    """An axis key as a legend or column shows it: its last part (``regularizer.0.kind`` → ``kind``)."""
    return key.rsplit(".", 1)[-1]


def zero_position(xs: list[float]) -> float | None:
    """Where x = 0 is drawn on a log axis: a decade below the smallest positive x (None: no log axis).

    >>> zero_position([0.0, 1e-3, 1e-1]), zero_position([0.0, 1.0, -1.0]), zero_position([0.0])
    (0.0001, None, None)
    """
    positive = [x for x in xs if x > 0]
    if not positive or any(x < 0 for x in xs):
        return None
    return min(positive) / 10.0


def _lines(c: SweepComparison) -> dict[str, list[ComparisonRow]]:
    """Rows by line: one line per value of the other axes, or one across the combinations (no strength)."""
    if c.strength_axis is None:
        return {c.metric: c.rows}
    lines: dict[str, list[ComparisonRow]] = {}
    for row in c.rows:
        label = ", ".join(f"{short_axis(a)}={row.axes[a]}" for a in c.line_axes) or c.metric
        lines.setdefault(label, []).append(row)
    return lines


def _x(c: SweepComparison, row: ComparisonRow, categories: list[str], zero: float | None) -> float:
    if c.strength_axis is None:
        return float(categories.index(_category(c, row)))
    value = float(row.axes[c.strength_axis])
    return zero if value == 0 and zero is not None else value


def _category(c: SweepComparison, row: ComparisonRow) -> str:
    return ", ".join(f"{short_axis(a)}={row.axes[a]}" for a in c.group_axes) or "all points"


def comparison_figure(c: SweepComparison) -> Figure:
    """Mean ± sd of ``c.metric`` against the strength axis (or the combinations, when no axis is numeric)."""
    fig, axes = new_figure(1, 1, width=6.4, height=4.2)
    ax = axes[0, 0]
    strengths = [float(r.axes[c.strength_axis]) for r in c.rows] if c.strength_axis else []
    zero = zero_position(strengths)
    categories = [] if c.strength_axis else list(dict.fromkeys(_category(c, r) for r in c.rows))
    best = c.best
    for color, (label, rows) in zip(PALETTE * 4, _lines(c).items()):
        shown = sorted((r for r in rows if r.mean is not None), key=lambda r: _x(c, r, categories, zero))
        if not shown:
            continue
        ax.errorbar([_x(c, r, categories, zero) for r in shown], [r.mean for r in shown],
                    yerr=[r.sd for r in shown], color=color, marker="o", ms=4, capsize=3, label=label,
                    ls="-" if c.strength_axis else "none")
    if best is not None:
        row = c.rows[best]
        where = ", ".join(f"{short_axis(a)}={row.axes[a]}" for a in c.group_axes) or "all points"
        ax.plot([_x(c, row, categories, zero)], [row.mean], "*", color="black", ms=14, zorder=5,
                label=f"best: {where} ({row.mean:.4g})")
    _x_axis(ax, c, strengths, zero, categories)
    n_seeds = max((r.n for r in c.rows), default=1)
    ax.set(ylabel=f"{c.metric} (mean ± sd over {seeds_label(max(n_seeds, 1))})",
           title=f"{c.name or c.sweep_id}: {c.metric}")
    if best is None:
        ax.text(0.5, 0.5, f"no completed run has a finite {c.metric}", transform=ax.transAxes, ha="center")
    else:
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def _x_axis(ax: Any, c: SweepComparison, strengths: list[float], zero: float | None,
            categories: list[str]) -> None:
    if c.strength_axis is None:
        ax.set_xticks(range(len(categories)), categories, rotation=20, ha="right", fontsize=8)
        ax.set_xlabel("combination of the axes")
        return
    ax.set_xlabel(f"{c.strength_axis} (on the mean loss)" if short_axis(c.strength_axis) == "alpha"
                  else c.strength_axis)
    if zero is None:
        return
    ax.set_xscale("log")
    if 0.0 in strengths:
        smallest = min(x for x in strengths if x > 0)
        ax.axvline(math.sqrt(zero * smallest), color="gray", ls=":", lw=1)
        decades = sorted({10.0 ** round(math.log10(x)) for x in strengths if x > 0})
        ax.set_xticks([zero, *decades], ["0", *[f"{d:g}" for d in decades]])
        ax.minorticks_off()
