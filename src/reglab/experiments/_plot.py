"""Matplotlib helpers shared by the experiments: one consistent look, no global backend.

Figures are plain :class:`matplotlib.figure.Figure` objects (not pyplot figures), so drawing
them selects no backend and leaves a user's pyplot state alone; they are rendered by the
Agg (PNG) and SVG canvases when :func:`reglab.experiments.save_figures` writes them.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
from matplotlib.figure import Figure

__all__ = ["new_figure", "subplots", "PALETTE", "plot_error_curves", "error_curves_figure", "seeds_label",
           "plot_penalty_geometry"]

PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]


def subplots(nrows: int = 1, ncols: int = 1, *, figsize: tuple[float, float], **kwargs):
    """``Figure(figsize)`` with a grid of axes (always 2-D), like ``plt.subplots(squeeze=False)``."""
    fig = Figure(figsize=figsize)
    return fig, fig.subplots(nrows, ncols, squeeze=False, **kwargs)


def new_figure(ncols: int = 1, nrows: int = 1, width: float = 5.0, height: float = 3.6):
    """A figure with a grid of axes and a light grid on each."""
    fig, axes = subplots(nrows, ncols, figsize=(width * ncols, height * nrows))
    for ax in axes.flat:
        ax.grid(True, alpha=0.3)
    return fig, axes


def seeds_label(seeds: int) -> str:
    """How many seeds, in words.

    >>> seeds_label(1), seeds_label(3)
    ('1 seed', '3 seeds')
    """
    return f"{seeds} seed{'s' * (seeds > 1)}"


def plot_error_curves(axes, per_variant: dict, seeds: int) -> None:
    """Train (left) and test (right) error per epoch for each variant, with ±sd bands over seeds.

    ``per_variant`` maps a label to :func:`reglab.experiments._common.summarize_histories` output.
    """
    for color, (variant, row) in zip(PALETTE, per_variant.items()):
        xs = list(range(1, len(row["curve_test_error"]) + 1))
        for ax, key in zip(axes[0], ("train_error", "test_error")):
            mean, sd = row[f"curve_{key}"], row[f"curve_{key}_sd"]
            ax.plot(xs, mean, color=color, marker="o" if len(xs) < 8 else None, ms=4,
                    label=f"{variant} (final {row[f'final_{key}']['mean']:.3f})")
            if seeds > 1:
                ax.fill_between(xs, [m - s for m, s in zip(mean, sd)], [m + s for m, s in zip(mean, sd)],
                                color=color, alpha=0.15)


def error_curves_figure(per_variant: dict, seeds: int, *, train_title: str, suptitle: str,
                        ylim: tuple[float, float] | None = None) -> Figure:
    """Training (left) and test (right) error per epoch of each variant, legends, one title."""
    fig, axes = new_figure(2, 1, width=5.2)
    plot_error_curves(axes, per_variant, seeds)
    limits = {} if ylim is None else {"ylim": ylim}
    axes[0, 0].set(title=train_title, xlabel="epoch", ylabel="error rate", **limits)
    axes[0, 1].set(title="test error", xlabel="epoch", ylabel="error rate", **limits)
    for ax in axes[0]:
        ax.legend(fontsize=8)
    fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def plot_penalty_geometry(ax, H, w_star, grid, penalty: Callable, *, path, marked_alphas, marked_w, shown,
                          loss_scales, penalty_levels, path_label: str, shown_label: str,
                          label_offset: tuple[float, float], path_lw: float = 2.0) -> None:
    """The notes' picture of a norm penalty on a 2-parameter quadratic C₀(w) = ½(w − w*)ᵀH(w − w*).

    On the square ``grid × grid``: C₀'s level sets (faint at ``loss_scales`` times its value at
    ``shown`` = w̃, bold through w̃), the penalty's (``penalty(w1, w2)``, dashed at
    ``penalty_levels``, bold through w̃), the path w̃(α) with the ``marked_alphas`` labelled,
    w* and w̃; equal axes w₁, w₂.
    """
    H, w_star, shown, path = np.asarray(H), np.asarray(w_star), np.asarray(shown), np.asarray(path)
    W1, W2 = np.meshgrid(grid, grid)
    D = np.stack([W1 - w_star[0], W2 - w_star[1]], -1)
    loss = 0.5 * np.einsum("...i,ij,...j->...", D, H, D)
    level = 0.5 * (shown - w_star) @ H @ (shown - w_star)
    ax.contour(W1, W2, loss, levels=level * np.asarray(loss_scales), colors=PALETTE[0], linewidths=0.8, alpha=0.6)
    ax.contour(W1, W2, loss, levels=[level], colors=PALETTE[0], linewidths=1.8)
    values = penalty(W1, W2)
    ax.contour(W1, W2, values, levels=list(penalty_levels), colors="gray", linestyles="--", linewidths=0.8)
    ax.contour(W1, W2, values, levels=[float(penalty(*shown))], colors="black", linestyles="--", linewidths=1.4)
    ax.plot(path[:, 0], path[:, 1], color=PALETTE[1], lw=path_lw, label=path_label)
    for a, w in zip(marked_alphas, marked_w):
        ax.plot(*w, "o", color=PALETTE[1], ms=4)
        ax.annotate(f"α={a:g}", w, textcoords="offset points", xytext=label_offset, fontsize=7, color=PALETTE[1])
    ax.plot(*w_star, "*", color="black", ms=13, label="w* (minimum of C₀)")
    ax.plot(*shown, "o", color="black", mfc="white", ms=8, mew=1.8, label=shown_label)
    ax.set(xlim=(grid[0], grid[-1]), ylim=(grid[0], grid[-1]), aspect="equal", xlabel="w₁", ylabel="w₂")
