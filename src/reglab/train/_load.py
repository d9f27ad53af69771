"""A stored run as the pieces downstream code needs: its trained model, its data splits, its loss.

Everything after training (curvature of a stored run, ``reglab hessian``, the
experiments' checks) needs exactly these three, not a :class:`Trainer` with an
optimizer, regularizer state and metrics.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from reglab.config import load_config
from reglab.data import Splits, load_dataset
from reglab.errors import RunError
from reglab.models import build_model
from reglab.regularize import BindContext, from_config
from reglab.store import RunStore
from reglab.train._losses import LossFn, get_loss

__all__ = ["load_run", "locate_run"]

CONFIG, CHECKPOINT = "config.toml", "checkpoint.pt"


def locate_run(run: str | os.PathLike, out: str | os.PathLike = "reglab-runs") -> tuple[str, Path]:
    """``(run_id, folder)`` for a run folder (one holding config.toml) or a run id (or unique prefix) in ``out``."""
    path = Path(run)
    if (path / CONFIG).is_file():
        return path.name, path
    store_db = Path(out) / "runs.db"
    if not store_db.exists():
        raise RunError(f"{str(run)!r} is neither a run folder (with {CONFIG}) nor a run id in {store_db}")
    store = RunStore(out)
    record = store.get_run(str(run))
    return record["id"], store.run_dir(record["id"])


def load_run(run: str | os.PathLike, out: str | os.PathLike = "reglab-runs") -> tuple[nn.Module, Splits, LossFn]:
    """The model of a stored run with the weights of its last checkpoint, its data splits and its loss.

    ``run`` is a run folder or a run id (or a unique prefix of one) in the store
    ``out``. The model is rebuilt from the run's config.toml as the trainer built it
    (dropout layers included, in ``train.dtype``), on the CPU, in eval mode; the
    splits are loaded again from the config (the same numbers: data sets are
    seeded); ``loss_fn`` is the mean loss C₀ the run trained on.

    Raises :class:`reglab.errors.RunError` when the run, its config.toml or its
    checkpoint.pt is missing.
    """
    run_id, folder = locate_run(run, out)
    if not (folder / CONFIG).is_file():
        raise RunError(f"run {run_id} has no {CONFIG} in {folder}")
    ckpt = folder / CHECKPOINT
    if not ckpt.is_file():
        raise RunError(f"run {run_id} has no checkpoint at {ckpt} (was it trained with train.checkpoint = false?)")
    cfg = load_config(folder / CONFIG)
    splits = load_dataset(cfg.data)
    _, loss_fn = get_loss(cfg.train.loss, splits.task)
    model = build_model(cfg.model, splits.example_shape, splits.output_dim, seed=cfg.train.seed)
    # The trainer's model is the regularizer chain's wrap_model of it (dropout inserts layers, which
    # shifts the state-dict keys); the generator is only needed in training mode, never here.
    context = BindContext(n_train=len(splits.train), generator=torch.Generator().manual_seed(cfg.train.seed))
    model = from_config(cfg.regularizer).wrap_model(model, context)
    model = model.to(dtype=torch.float64 if cfg.train.dtype == "float64" else torch.float32)
    state = torch.load(ckpt, map_location="cpu", weights_only=False)
    model.load_state_dict(state["model"])
    return model.eval(), splits, loss_fn
