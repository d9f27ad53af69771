"""The tune-alpha figure: log-evidence (± its error bar) and validation/test error against α."""

from __future__ import annotations

import os

from matplotlib.figure import Figure

__all__ = ["evidence_figure", "save_figure"]


def evidence_figure(document: dict) -> Figure:
    """Draw from a ``ConfigTuneResult.to_json()`` document alone (no training, no data).

    Top: the log-evidence of the last spectrum's quadratic model over α (band: ±1
    stderr on the SLQ path), the fixed point marked. Bottom: the measured
    validation and test error of every training, at its α.
    """
    fig = Figure(figsize=(6.4, 6.0), layout="constrained")
    top, bottom = fig.subplots(2, 1, sharex=True)
    curve = document["curve"]
    a, v, e = curve["alpha"], curve["log_evidence"], curve["stderr"]
    top.plot(a, v, color="C0", label="log-evidence (last spectrum)")
    if any(x > 0 for x in e):
        top.fill_between(a, [x - s for x, s in zip(v, e)], [x + s for x, s in zip(v, e)], color="C0", alpha=0.2,
                         label="± 1 stderr (SLQ)")
    for ax in (top, bottom):
        ax.axvline(document["alpha"], color="k", ls="--", lw=1, label="evidence α" if ax is top else None)
        ax.set_xscale("log")
    top.set_ylabel("log p(D | α)")
    top.legend(fontsize=8)
    runs = sorted(document["runs"], key=lambda r: r["alpha"])
    for key, color in (("val_error", "C1"), ("test_error", "C2")):
        pts = [(r["alpha"], r["final"].get(key)) for r in runs if r["final"].get(key) is not None]
        if pts:
            bottom.plot(*zip(*pts), "o-", color=color, label=key.replace("_", " "))
    bottom.set_xlabel("α (reglab: on the mean loss = torch weight_decay)")
    bottom.set_ylabel("error (trained runs)")
    bottom.legend(fontsize=8)
    fig.suptitle(f"evidence tuning: α = {document['alpha']:.3g}, γ = {document['gamma']:.1f}, "
                 f"{document['trainings']} trainings", fontsize=10)
    return fig


def save_figure(document: dict, path: str | os.PathLike) -> str:
    """Render :func:`evidence_figure` to ``path`` with the Agg canvas (chosen here, only when saving)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig = evidence_figure(document)
    FigureCanvasAgg(fig)
    fig.savefig(path, dpi=120)
    return str(path)
