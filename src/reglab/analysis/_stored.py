"""Hessian spectrum, trace and density of a model trained with ``reglab train``."""

from __future__ import annotations

import os
from typing import Any

import torch

from reglab.curvature import eigen, hessian_operator, spectral_density, trace
from reglab.regularize import select_parameters
from reglab.train import load_run
from reglab.train._load import locate_run

__all__ = ["stored_hessian_summary"]


def _pairs(result: Any) -> dict[str, Any]:
    return {"eigenvalues": result.eigenvalues.tolist(), "residual_norms": result.residual_norms.tolist(),
            "num_matvecs": result.num_matvecs, "seconds": result.seconds, "method": result.method,
            "converged": result.converged}


def stored_hessian_summary(run: str, out: str | os.PathLike = "reglab-runs", *, top: int = 5, bottom: int = 0,
                           with_trace: bool = False, with_density: bool = False, params: str = "all",
                           seed: int = 0) -> dict[str, Any]:
    """Top/bottom eigenvalues, trace (Hutch++) and spectral density (SLQ) of the mean training loss.

    The Hessian is that of the unregularized mean loss C₀ on the training split at
    the checkpointed weights, in float64, model in eval mode (dropout off). ``params``:
    ``all`` trainable parameters or only the ``weights`` (what L2 penalizes by default).
    """
    run_id, folder = locate_run(run, out)
    model, splits, loss_fn = load_run(folder)
    names = None if params == "all" else [n for n, _ in select_parameters(model, params)]
    train = splits.train
    op = hessian_operator(model, loss_fn, (train.x, train.y), params=names, dtype=torch.float64)
    size = op.shape[0]
    summary: dict[str, Any] = {"run_id": run_id, "n_parameters": size, "params": params,
                               "loss": loss_fn.__name__, "n_train": len(train)}
    if top:
        summary["top"] = _pairs(eigen(op, min(top, size), "LA", seed=seed))
    if bottom:
        summary["bottom"] = _pairs(eigen(op, min(bottom, size), "SA", seed=seed))
    if with_trace:
        t = trace(op, method="hutch++" if size > 300 else "exact", num_matvecs=min(300, size), seed=seed)
        summary["trace"] = {"estimate": t.estimate, "stderr": t.stderr, "num_matvecs": t.num_matvecs,
                            "method": t.method}
    if with_density:
        d = spectral_density(op, num_probes=5, lanczos_steps=min(60, size), seed=seed)
        summary["density"] = {"grid": d.grid.tolist(), "density": d.density.tolist(), "sigma": d.sigma,
                              "num_matvecs": d.num_matvecs}
    return summary
