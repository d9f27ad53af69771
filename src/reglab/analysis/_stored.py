"""Hessian spectrum, trace and density of a model trained with ``reglab train``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from reglab.config import load_config
from reglab.curvature import eigen, hessian_operator, spectral_density, trace
from reglab.errors import RunError
from reglab.regularize import select_parameters
from reglab.store import RunStore
from reglab.train import Trainer

__all__ = ["load_run_model", "stored_hessian_summary"]


def _run_dir(run: str, out: str | os.PathLike) -> tuple[str, Path]:
    path = Path(run)
    if (path / "config.toml").is_file():
        return path.name, path
    store_db = Path(out) / "runs.db"
    if not store_db.exists():
        raise RunError(f"{run!r} is neither a run folder (with config.toml) nor a run id in {store_db}")
    record = RunStore(out).get_run(run)
    return record["id"], RunStore(out).run_dir(record["id"])


def load_run_model(run: str, out: str | os.PathLike = "reglab-runs") -> tuple[str, Trainer]:
    """Rebuild a stored run's trainer (data, model) with the weights of its last checkpoint."""
    run_id, folder = _run_dir(run, out)
    ckpt = folder / "checkpoint.pt"
    if not ckpt.exists():
        raise RunError(f"run {run_id} has no checkpoint at {ckpt} (was it trained with train.checkpoint = false?)")
    trainer = Trainer(load_config(folder / "config.toml"))
    trainer.load_state_dict(torch.load(ckpt, map_location=trainer.device, weights_only=False))
    return run_id, trainer


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
    run_id, trainer = load_run_model(run, out)
    names = None if params == "all" else [n for n, _ in select_parameters(trainer.model, params)]
    train = trainer.data["train"]
    op = hessian_operator(trainer.model, trainer.loss_fn, (train.x, train.y), params=names, dtype=torch.float64)
    size = op.shape[0]
    summary: dict[str, Any] = {"run_id": run_id, "n_parameters": size, "params": params,
                               "loss": trainer.loss_name, "n_train": len(train)}
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
