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

import torch
from torch import nn

from reglab.regularize._base import BindContext, Bound, Regularizer, Strength

__all__ = ["L2", "WeightDecay"]


class _BoundL2(Bound):
    def __init__(self, params: list[tuple[str, nn.Parameter]], alpha: float) -> None:
        super().__init__(params)
        self.alpha = alpha

    def penalty(self) -> torch.Tensor | None:
        if self.alpha == 0.0 or not self.params:
            return None
        return 0.5 * self.alpha * torch.stack([p.pow(2).sum() for _, p in self.params]).sum()

    def loss_penalty(self) -> torch.Tensor | None:
        return None  # the gradient αw is added directly, see add_penalty_grad

    def add_penalty_grad(self) -> None:
        """∇[(α/2)‖w‖²] = αw, added to each weight's gradient in one fused step."""
        if self.alpha == 0.0 or not self.params:
            return
        tensors = [p for _, p in self.params]
        for p in tensors:
            if p.grad is None:
                p.grad = torch.zeros_like(p)
        with torch.no_grad():
            torch._foreach_add_([p.grad for p in tensors], tensors, alpha=self.alpha)

    def describe(self) -> dict:
        return {**super().describe(), "alpha": self.alpha}


@dataclass(frozen=True)
class L2(Strength):
    """L2 penalty (α/2)‖w‖² on the mean loss; ``convention="nielsen"`` reads ``alpha`` as Nielsen's λ.

    >>> import torch.nn as nn
    >>> bound = L2(alpha=0.1).bind(nn.Linear(2, 1))
    >>> bound.penalized
    ['weight']
    """

    name = "l2"

    def _bind(self, params: list[tuple[str, nn.Parameter]], context: BindContext) -> Bound:
        return _BoundL2(params, self.effective_alpha(context.n_train))


class _BoundDecay(Bound):
    def __init__(self, params: list[tuple[str, nn.Parameter]], wd: float) -> None:
        super().__init__(params)
        self.wd = wd
        self._tensors = [p for _, p in params]

    def pre_step(self, lr: float) -> None:
        if self.wd and self._tensors:
            with torch.no_grad():
                torch._foreach_mul_(self._tensors, 1.0 - lr * self.wd)

    def describe(self) -> dict:
        return {**super().describe(), "wd": self.wd}


@dataclass(frozen=True)
class WeightDecay(Regularizer):
    """Decoupled decay w ← (1 − η·wd)·w before each optimizer step (AdamW-style)."""

    wd: float = 0.0
    name = "weight_decay"

    def __post_init__(self) -> None:
        if not self.wd >= 0.0:
            raise ValueError(f"weight_decay wd must be >= 0, got {self.wd}")

    def _bind(self, params: list[tuple[str, nn.Parameter]], context: BindContext) -> Bound:
        return _BoundDecay(params, self.wd)
