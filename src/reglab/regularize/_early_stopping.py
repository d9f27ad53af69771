"""Early stopping: stop when a validation metric stops improving, and return the best weights.

Goodfellow et al. 2016, §7.8 (Algorithm 7.1): after every epoch evaluate the
monitored metric (validation loss by default). An epoch *improves* when::

    value < best − min_delta          (mode "min", the only mode so far)

Then best ← value, a copy of the weights is kept and the wait counter resets;
otherwise wait ← wait + 1, and training stops once wait ≥ patience. When
training ends the best weights are restored (``restore_best``). For a quadratic
loss and plain gradient descent, stopping after τ steps with learning rate η acts
like an L2 penalty with α ≈ 1/(τη) (Goodfellow et al., eq. 7.44), hence "a
regularizer". Nielsen (ch. 3) uses the same idea with "no improvement in n
epochs" on the validation accuracy (``monitor = "val_error"``).

All of the state — best value, best epoch, wait counter, the best weights — is in
``state_dict``, so a resumed run stops at the same epoch with the same weights.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, get_args

import torch
from torch import nn

from reglab.errors import ConfigError
from reglab.regularize._base import BindContext, BoundCallback, Callback
from reglab.regularize._config import PieceConfig
from reglab.regularize._schema import Field

__all__ = ["EarlyStopping", "EarlyStoppingConfig", "MONITORS"]

Monitor = Literal["val_loss", "val_error"]
MONITORS = get_args(Monitor)


class _BoundEarlyStopping(BoundCallback):
    def __init__(self, spec: "EarlyStopping") -> None:
        self.spec = spec
        self.best_value = math.inf
        self.best_epoch: int | None = None
        self.wait = 0
        self.last_epoch: int | None = None
        self.stopped_epoch: int | None = None
        self.best_weights: dict[str, torch.Tensor] | None = None

    def on_epoch_end(self, epoch: int, metrics: dict[str, float], model: nn.Module) -> str | None:
        monitor = self.spec.monitor
        value = metrics.get(monitor, math.nan)
        if not math.isfinite(value):
            raise ConfigError(f"early stopping monitors {monitor!r}, which is {value} at epoch {epoch} "
                             "(no validation split, or no error rate for regression?)")
        self.last_epoch = epoch
        if value < self.best_value - self.spec.min_delta:
            self.best_value, self.best_epoch, self.wait = value, epoch, 0
            self.best_weights = {k: v.detach().clone() for k, v in model.state_dict().items()}
            return None
        self.wait += 1
        if self.wait < self.spec.patience:
            return None
        self.stopped_epoch = epoch
        epochs = f"{self.wait} epoch{'s' if self.wait != 1 else ''}"
        return (f"early stopping: {monitor} did not improve by min_delta={self.spec.min_delta:g} for {epochs}; "
                f"best {self.best_value:.6g} at epoch {self.best_epoch}")

    def on_train_end(self, model: nn.Module) -> dict[str, Any] | None:
        if self.best_weights is None:
            return None
        if self.spec.restore_best:
            model.load_state_dict(self.best_weights)
        return {
            "best_epoch": self.best_epoch,
            "stopped_epoch": self.stopped_epoch if self.stopped_epoch is not None else self.last_epoch,
            "stopped_early": self.stopped_epoch is not None,
            "restored": self.spec.restore_best,
            "monitor": self.spec.monitor,
            "best_value": self.best_value,
        }

    def describe(self) -> dict:
        s = self.spec
        return {**super().describe(), "monitor": s.monitor, "patience": s.patience, "min_delta": s.min_delta,
                "mode": s.mode, "restore_best": s.restore_best}

    def state_dict(self) -> dict[str, Any]:
        weights = None if self.best_weights is None else {k: v.clone() for k, v in self.best_weights.items()}
        return {"best_value": self.best_value, "best_epoch": self.best_epoch, "wait": self.wait,
                "last_epoch": self.last_epoch, "stopped_epoch": self.stopped_epoch, "best_weights": weights}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best_value = state["best_value"]
        self.best_epoch = state["best_epoch"]
        self.wait = state["wait"]
        self.last_epoch = state["last_epoch"]
        self.stopped_epoch = state["stopped_epoch"]
        weights = state["best_weights"]
        self.best_weights = None if weights is None else {k: v.clone() for k, v in weights.items()}


@dataclass(frozen=True)
class EarlyStopping(Callback):
    """Stop after ``patience`` epochs without an improvement of ``monitor`` by more than ``min_delta``.

    ``monitor`` is ``"val_loss"`` (the mean data loss on the validation split,
    without any penalty) or ``"val_error"``. At the end of training the weights of
    the best epoch are restored (``restore_best``) and reported: ``best_epoch``,
    ``stopped_epoch``, ``restored``, ``monitor``, ``best_value``. A callback: it
    keeps and restores the whole model state, so it has no ``mask``.

    >>> import torch.nn as nn
    >>> net = nn.Linear(1, 1)
    >>> bound = EarlyStopping(patience=2).bind(net)
    >>> [bound.on_epoch_end(e, {"val_loss": v}, net) for e, v in enumerate([0.5, 0.4, 0.45, 0.41], 1)]
    [None, None, None, 'early stopping: val_loss did not improve by min_delta=0 for 2 epochs; best 0.4 at epoch 2']

    Reference: Goodfellow et al. 2016, §7.8; Nielsen, ch. 3; Prechelt, "Early
    stopping — but when?" (1998).
    """

    monitor: str = "val_loss"
    patience: int = 5
    min_delta: float = 0.0
    mode: str = "min"
    restore_best: bool = True
    name = "early_stopping"

    def _bind(self, model: nn.Module, context: BindContext) -> BoundCallback:
        return _BoundEarlyStopping(self)


class EarlyStoppingConfig(PieceConfig):
    """Stop when the validation metric has not improved for ``patience`` epochs; restore the best weights."""

    kind: Literal["early_stopping"]
    monitor: Monitor = "val_loss"
    patience: int = Field(5, ge=0, description="epochs without improvement before stopping")
    min_delta: float = Field(0.0, ge=0.0, description="an improvement must lower the metric by more than this")
    mode: Literal["min"] = Field("min", description="both monitors are minimized; the field leaves room for "
                                 "accuracies")
    restore_best: bool = Field(True, description="load the weights of the best epoch when training ends")
    piece: ClassVar[type] = EarlyStopping
