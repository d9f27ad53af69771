"""The training loop: mini-batches, regularizer hooks, per-epoch metrics, divergence.

The regularizer chain has three kinds of piece, and the trainer uses each where
it belongs: the model transforms (dropout) build the network once; the steps
(penalties, decay, prox, projections) act in every mini-batch; the callbacks
(early stopping) see every epoch and the end of training. One epoch, for each
mini-batch (drawn by a seeded ``torch.Generator``)::

    loss = C₀(batch) + steps.loss_penalty()      # penalty terms of the steps
    loss.backward(); steps.add_penalty_grad()    # closed-form penalty gradients (L2)
    steps.pre_step(lr); optimizer.step(); steps.post_step(lr)

and after it ``callbacks.on_epoch_end(epoch, metrics, model)``.

All randomness (shuffling, and any regularizer that draws) comes from the one
generator seeded with ``train.seed``; its state is part of the checkpoint, so a
resumed run continues with exactly the numbers of an uninterrupted one.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Sequence

import torch
from torch import nn

from reglab.config import RunConfig, parse_config
from reglab.data import Split, Splits, load_dataset
from reglab.errors import ConfigError, DataError
from reglab.models import build_model
from reglab.regularize import BindContext, Regularizer, from_config, select_parameters
from reglab.regularize._base import as_chain
from reglab.train._losses import get_loss
from reglab.train._metrics import evaluate, weight_stats
from reglab.train._optim import make_optimizer

__all__ = ["Trainer", "EpochResult", "resolve_device"]


def resolve_device(name: str) -> torch.device:
    """``auto`` → CUDA when available, else CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("train.device = 'cuda' but no CUDA device is available; use 'auto' or 'cpu'")
    return torch.device(name)


@dataclass
class EpochResult:
    """What one epoch produced: its metrics, or why it diverged, or why training should stop."""

    metrics: dict[str, float] | None
    diverged: str | None = None
    stop: str | None = None


class Trainer:
    """Owns the model, optimizer, regularizers, data and generator of one run.

    >>> from reglab.config import parse_config
    >>> cfg = parse_config({"train": {"epochs": 1}, "regularizer": [{"kind": "l2", "alpha": 1e-3}]})
    >>> trainer = Trainer(cfg)
    >>> trainer.run_epoch().metrics["epoch"]
    1
    """

    def __init__(self, cfg: RunConfig, *, splits: Splits | None = None, model: nn.Module | None = None,
                 regularizer: Regularizer | None = None) -> None:
        self.cfg = cfg
        tc = cfg.train
        self.device = resolve_device(tc.device)
        self.dtype = torch.float64 if tc.dtype == "float64" else torch.float32
        self.splits = splits or load_dataset(cfg.data)
        self.classification = self.splits.task == "classification"
        self.loss_name, self.loss_fn = get_loss(tc.loss, self.splits.task)
        self.generator = torch.Generator().manual_seed(tc.seed)
        n_train = len(self.splits.train)
        if n_train == 0:
            raise DataError("the training split is empty (check data.n_train and the data set's size)")
        context = BindContext(n_train=n_train, generator=self.generator)
        reg = as_chain(regularizer) if regularizer is not None else from_config(cfg.regularizer)
        model = model if model is not None else build_model(
            cfg.model, self.splits.example_shape, self.splits.output_dim, seed=tc.seed)
        self.base_model = model  # before the transforms: set_regularizer wraps it afresh
        for transform in reg.transforms:
            model = transform.wrap_model(model, context)
        self.model = model.to(device=self.device, dtype=self.dtype)
        self.reg = reg.bind(self.model, context)  # every piece, in order (describe, state_dict)
        self.steps = self.reg.steps
        self.callbacks = self.reg.callbacks
        self.optimizer = make_optimizer(self.model, tc)
        self.weights = [p for _, p in select_parameters(self.model, "weights")]
        self.data = {name: self._to_device(getattr(self.splits, name)) for name in ("train", "val", "test")}
        self.fit_split = self.data["train"]  # what the optimizer sees; metrics use the original splits
        self.augmenter, self.aug_generator = self._augmentation()
        self.history: list[dict[str, float]] = []
        self.final_override: dict[str, Any] | None = None

    def _augmentation(self) -> tuple[Any, torch.Generator | None]:
        """Offline: expand the training split once. Online: return the per-batch augmenter.

        Augmentation draws from its own generator (seeded ``train.seed + 1``, on the
        data's device, checkpointed), so turning it on does not change the shuffling.
        """
        acfg = getattr(self.cfg, "augment", None)
        if acfg is None:
            return None, None
        if self.splits.image_shape is None:
            raise ConfigError(f"[augment] needs an image data set; data.name = {self.splits.name!r} is not one")
        from reglab.data.augment import Augmenter

        augmenter = Augmenter(rotation=acfg.rotation, translation=acfg.translation, skew=acfg.skew,
                              elastic_alpha=acfg.elastic_alpha, elastic_sigma=acfg.elastic_sigma,
                              probability=acfg.probability)
        generator = torch.Generator(device=self.device).manual_seed(self.cfg.train.seed + 1)
        if acfg.mode == "offline":
            train = self.data["train"]
            self.fit_split = Split(*augmenter.expand(train.x, train.y, acfg.copies, generator))
            return None, None
        return augmenter, generator

    def _to_device(self, split: Split) -> Split:
        y = split.y.to(self.device)
        return Split(split.x.to(self.device, self.dtype), y if y.dtype == torch.int64 else y.to(self.dtype))

    @property
    def epoch(self) -> int:
        return len(self.history)

    @property
    def penalized(self) -> list[str]:
        return self.reg.penalized

    def _lr(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

    def set_regularizer(self, regularizer: Regularizer | Sequence[Any]) -> None:
        """Change the regularizer chain mid-run: same model, weights, optimizer (and its state), data, generator.

        Training goes on from the current weights, as when the TensorFlow Playground's
        regularization is changed without a reset. The new chain's model transforms
        (dropout) wrap :attr:`base_model`, the network before any transform, so the
        previous chain's layers are gone and the Linear layers (the optimizer's
        parameters) are the same objects; its steps and callbacks are bound afresh
        (their state starts new). ``regularizer`` is a :class:`Regularizer` or a list
        of ``[[regularizer]]`` configs (dicts or config objects); given configs,
        :attr:`cfg` is updated to them, so it describes the chain in use from now on.
        The history is kept: the epochs before the change were trained with the old chain.

        >>> from reglab.config import parse_config
        >>> trainer = Trainer(parse_config({"data": {"name": "xor", "n_points": 40}, "train": {"batch_size": 8}}))
        >>> _ = trainer.run_epoch()
        >>> trainer.set_regularizer([{"kind": "l1_prox", "alpha": 0.5}])
        >>> [piece.name for piece in trainer.reg.pieces], trainer.epoch
        (['l1_prox'], 1)
        """
        if isinstance(regularizer, Regularizer):
            reg = as_chain(regularizer)
        else:
            entries = [r.model_dump() if hasattr(r, "model_dump") else dict(r) for r in regularizer]
            self.cfg = parse_config({**self.cfg.model_dump(), "regularizer": entries})
            reg = from_config(self.cfg.regularizer)
        context = BindContext(n_train=len(self.splits.train), generator=self.generator)
        model = self.base_model
        for transform in reg.transforms:
            model = transform.wrap_model(model, context)
        self.model = model.to(device=self.device, dtype=self.dtype)
        self.reg = reg.bind(self.model, context)
        self.steps = self.reg.steps
        self.callbacks = self.reg.callbacks

    def set_lr(self, lr: float) -> None:
        """Change the learning rate mid-run (every parameter group); :attr:`cfg` records it.

        >>> from reglab.config import parse_config
        >>> trainer = Trainer(parse_config({"data": {"name": "xor", "n_points": 40}}))
        >>> trainer.set_lr(0.03)
        >>> trainer.measure(0)["lr"], trainer.cfg.train.lr
        (0.03, 0.03)
        """
        self.cfg = parse_config({**self.cfg.model_dump(), "train": {**self.cfg.train.model_dump(), "lr": lr}})
        for group in self.optimizer.param_groups:
            group["lr"] = self.cfg.train.lr

    def run_epoch(self) -> EpochResult:
        """Train one epoch, then measure. Stops early on a non-finite loss."""
        start = time.perf_counter()
        train = self.fit_split
        n, bs = len(train), self.cfg.train.batch_size
        order = torch.randperm(n, generator=self.generator).to(self.device)
        self.model.train()
        losses = []
        lr = self._lr()
        for i in range(0, n, bs):
            idx = order[i : i + bs]
            self.optimizer.zero_grad(set_to_none=True)
            xb = train.x[idx]
            if self.augmenter is not None:
                xb = self.augmenter(xb, self.aug_generator)
            data_loss = self.loss_fn(self.model(xb), train.y[idx])
            penalty = self.steps.loss_penalty()
            loss = data_loss if penalty is None else data_loss + penalty
            loss.backward()
            self.steps.add_penalty_grad()
            self.steps.pre_step(lr)
            self.optimizer.step()
            self.steps.post_step(lr)
            losses.append(data_loss.detach())
        step_losses = torch.stack(losses)
        bad = (~torch.isfinite(step_losses)).nonzero()
        epoch = self.epoch + 1
        if len(bad):
            step = int(bad[0]) + 1
            value = float(step_losses[step - 1])
            return EpochResult(None, diverged=(
                f"non-finite training loss ({value}) at epoch {epoch}, step {step} of {len(losses)} "
                f"(lr = {lr}); try a smaller train.lr"))
        metrics = self.measure(epoch)
        metrics["step_loss"] = float(step_losses.double().mean())
        metrics["epoch_time"] = time.perf_counter() - start
        if not all(math.isfinite(metrics[k]) for k in ("train_loss", "weight_norm")):
            return EpochResult(None, diverged=f"non-finite parameters or loss after epoch {epoch} (lr = {lr})")
        self.history.append(metrics)
        stop = self.callbacks.on_epoch_end(epoch, metrics, self.model)
        return EpochResult(metrics, stop=stop)

    def measure(self, epoch: int) -> dict[str, float]:
        """Losses and errors on every split, penalty, ‖w‖₂ and sparsity of the weights."""
        self.model.eval()
        out: dict[str, Any] = {"epoch": epoch}
        for name, split in self.data.items():
            out[f"{name}_loss"], out[f"{name}_error"] = evaluate(
                self.model, split, self.loss_fn, classification=self.classification)
        with torch.no_grad():
            penalty = self.steps.penalty_value()
        out["penalty"] = float(penalty) if penalty is not None else 0.0
        out["objective"] = out["train_loss"] + out["penalty"]
        out["weight_norm"], out["sparsity"] = weight_stats(self.weights)
        gap_key = "error" if self.classification else "loss"
        out["gap"] = out[f"test_{gap_key}"] - out[f"train_{gap_key}"]
        out["lr"] = self._lr()
        return out

    def finish(self) -> dict[str, Any] | None:
        """End of training: let regularizers act (early stopping restores the best weights).

        When they changed the weights, the model is measured again and that measurement
        (tagged ``restored``) becomes the run's final metrics.
        """
        note = self.callbacks.on_train_end(self.model)
        if note:
            self.final_override = {**self.measure(self.epoch), **note}
        return note

    def state_dict(self) -> dict[str, Any]:
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "generator": self.generator.get_state(),
            "aug_generator": self.aug_generator.get_state() if self.aug_generator is not None else None,
            "regularizer": self.reg.state_dict(),
            "history": self.history,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.generator.set_state(state["generator"])
        if self.aug_generator is not None and state.get("aug_generator") is not None:
            self.aug_generator.set_state(state["aug_generator"])
        self.reg.load_state_dict(state["regularizer"])
        self.history = list(state["history"])
