"""Hessian (or GGN) spectrum, trace and density of a model trained with ``reglab train``."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import torch

from reglab.curvature import (
    Progress,
    eigen,
    ggn_operator,
    hessian_operator,
    resolve_device,
    resolve_dtype,
    spectral_density,
    trace,
)
from reglab.errors import ConfigError
from reglab.regularize import select_parameters
from reglab.train import load_run
from reglab.train._load import locate_run

__all__ = ["stored_hessian_summary"]

PARAMS = ("all", "weights")
# SLQ size of ``--density``: chosen by the accuracy check in benchmarks/bench_curvature_scale.py
# (the smoothed density against an 8-probe, 120-step reference on a 55k-parameter MLP).
DENSITY_PROBES, DENSITY_STEPS = 3, 30


def _pairs(result: Any) -> dict[str, Any]:
    values = result.eigenvalues.abs().clamp_min(torch.finfo(torch.float64).tiny)
    return {"eigenvalues": result.eigenvalues.tolist(), "residual_norms": result.residual_norms.tolist(),
            "relative_residuals": (result.residual_norms / values).tolist(),
            "num_matvecs": result.num_matvecs, "seconds": result.seconds, "method": result.method,
            "converged": result.converged}


def stored_hessian_summary(run: str, out: str | os.PathLike = "reglab-runs", *, top: int = 5, bottom: int = 0,
                           with_trace: bool = False, with_density: bool = False, params: str = "all",
                           seed: int = 0, batch_size: int | None = None, dtype: str = "float64",
                           device: str | None = None, ggn: bool = False, eigen_method: str = "auto",
                           density_probes: int = DENSITY_PROBES, density_steps: int = DENSITY_STEPS,
                           progress: Callable[[Progress], None] | None = None) -> dict[str, Any]:
    """Top/bottom eigenvalues, trace (Hutch++) and spectral density (SLQ) of the mean training loss.

    The curvature is the Hessian (or with ``ggn`` the generalized Gauss–Newton
    matrix) of the unregularized mean loss C₀ on the training split at the
    checkpointed weights, model in eval mode (dropout off). ``params``: ``all``
    trainable parameters or only the ``weights`` (what L2 penalizes by default).

    ``batch_size`` accumulates every product over chunks of that many examples
    (exact ``n_b/N`` weights; memory bounded by one chunk); ``dtype`` is that of
    the products (``float64`` or ``float32``: the Lanczos runs are float64 either
    way, and with ``float32`` the reported residuals ``‖Hv − λv‖`` are measured
    with float64 products on the same data, so they are the pairs' true
    residuals); ``device`` is ``cpu``, ``cuda`` or ``auto``. ``progress`` gets a
    :class:`reglab.curvature.Progress` after every product.

    The density is SLQ with ``density_probes`` Rademacher probes of
    ``density_steps`` Lanczos steps each, the probes advanced as one block
    (one ``matmat`` per step; ``spectral_density(method="block")``).
    """
    if params not in PARAMS:
        raise ConfigError(f"params must be one of {PARAMS}, got {params!r}", field="params")
    torch_dtype = resolve_dtype(dtype)
    torch_device = resolve_device(device)
    run_id, folder = locate_run(run, out)
    model, splits, loss_fn = load_run(folder)
    names = None if params == "all" else [n for n, _ in select_parameters(model, params)]
    train = splits.train
    factory = ggn_operator if ggn else hessian_operator

    def operator(dt: torch.dtype):
        return factory(model, loss_fn, (train.x, train.y), params=names, dtype=dt, batch_size=batch_size,
                       device=torch_device)

    op = operator(torch_dtype)
    residual_op = operator(torch.float64) if torch_dtype != torch.float64 else None
    size = op.shape[0]
    summary: dict[str, Any] = {"run_id": run_id, "n_parameters": size, "params": params,
                               "loss": loss_fn.__name__, "n_train": len(train),
                               "curvature": "ggn" if ggn else "hessian",
                               "dtype": str(torch_dtype).removeprefix("torch."),
                               "device": str(op.device), "batch_size": batch_size,
                               "residuals_dtype": "float64"}
    for key, count, which in (("top", top, "LA"), ("bottom", bottom, "SA")):
        if count:
            summary[key] = _pairs(eigen(op, min(count, size), which, seed=seed, method=eigen_method,
                                        residual_op=residual_op, progress=progress))
    if with_trace:
        t = trace(op, method="hutch++" if size > 300 else "exact", num_matvecs=min(300, size), seed=seed,
                  progress=progress)
        summary["trace"] = {"estimate": t.estimate, "stderr": t.stderr, "num_matvecs": t.num_matvecs,
                            "method": t.method}
    if with_density:
        d = spectral_density(op, num_probes=density_probes, lanczos_steps=min(density_steps, size), seed=seed,
                             method="block", progress=progress)
        summary["density"] = {"grid": d.grid.tolist(), "density": d.density.tolist(), "sigma": d.sigma,
                              "num_matvecs": d.num_matvecs, "num_probes": density_probes,
                              "lanczos_steps": int(d.nodes.shape[1]), "method": d.method,
                              "nodes": d.nodes.tolist(), "weights": d.weights.tolist(),
                              "moments": {str(k): {"estimate": d.moment(k), "stderr": d.moment_stderr(k)}
                                          for k in (1, 2)}}
    return summary
