"""L2 penalty in the loss and decoupled weight decay.

**L2 (coupled).** C = C₀ + (α/2)·Σw², C₀ the *mean* loss over the training examples.
Plain SGD then performs w ← (1 − ηα)·w − η∇C₀ (lecture notes 000–002, 004;
Goodfellow et al. 2016, eq. 7.5). α equals torch SGD's ``weight_decay``. Nielsen
(seed 003) writes C₀ + (λ/2n)·Σw² with n the training-set size: α = λ/n, selected
with ``convention="nielsen"``.

**Decoupled weight decay** (Loshchilov & Hutter 2019, AdamW): w ← w − η·wd·w applied
outside the gradient, before the optimizer's step, as torch's AdamW does. With
plain SGD it equals L2 with α = wd; with Adam or momentum it does not.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

import torch
from torch import nn

from reglab.regularize import ops
from reglab.regularize._base import BindContext, BoundPenalty, BoundStep, Params, Step, Strength
from reglab.regularize._config import MaskedConfig, StrengthConfig
from reglab.regularize._schema import Field

__all__ = ["L2", "WeightDecay", "L2Config", "WeightDecayConfig"]


class _BoundL2(BoundPenalty):
    op = staticmethod(ops.l2_penalty)

    def loss_penalty(self) -> torch.Tensor | None:
        return None  # the gradient αw is added directly, see add_penalty_grad

    def add_penalty_grad(self) -> None:
        """∇[(α/2)‖w‖²] = αw, added to each weight's gradient in one fused step."""
        if self.alpha == 0.0 or not self.params:
            return
        tensors = self.tensors
        for p in tensors:
            if p.grad is None:
                p.grad = torch.zeros_like(p)
        with torch.no_grad():
            ops.l2_penalty_grad(tensors, self.alpha, out=[p.grad for p in tensors])


@dataclass(frozen=True)
class L2(Strength):
    """L2 penalty (α/2)‖w‖² on the mean loss; ``convention="nielsen"`` reads ``alpha`` as Nielsen's λ.

    >>> import torch.nn as nn
    >>> bound = L2(alpha=0.1).bind(nn.Linear(2, 1))
    >>> bound.penalized
    ['weight']
    """

    name = "l2"

    def _bind(self, params: Params, context: BindContext, model: nn.Module) -> BoundStep:
        return _BoundL2(params, self.effective_alpha(context.n_train))


class _BoundDecay(BoundStep):
    def __init__(self, params: Params, wd: float) -> None:
        super().__init__(params)
        self.wd = wd
        self._tensors = self.tensors

    def pre_step(self, lr: float) -> None:
        if self.wd and self._tensors:
            with torch.no_grad():
                torch._foreach_mul_(self._tensors, 1.0 - lr * self.wd)

    def describe(self) -> dict:
        return {**super().describe(), "wd": self.wd}


@dataclass(frozen=True)
class WeightDecay(Step):
    """Decoupled decay w ← (1 − η·wd)·w before each optimizer step (AdamW-style)."""

    wd: float = 0.0
    name = "weight_decay"

    def _bind(self, params: Params, context: BindContext, model: nn.Module) -> BoundStep:
        return _BoundDecay(params, self.wd)


class L2Config(StrengthConfig):
    """L2 penalty in the loss: C = C₀ + (α/2)‖w‖² on the mean loss C₀."""

    kind: Literal["l2"]
    piece: ClassVar[type] = L2


class WeightDecayConfig(MaskedConfig):
    """Decoupled weight decay (AdamW style): w ← w − η·wd·w outside the gradient."""

    kind: Literal["weight_decay"]
    wd: float = Field(ge=0.0, description="decay per unit learning rate: each step multiplies w by (1 − η·wd)")
    piece: ClassVar[type] = WeightDecay
