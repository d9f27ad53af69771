"""L1 penalty in the loss (subgradient) and its proximal step (soft-thresholding).

**L1 (subgradient).** C = C₀ + α·Σ|w|, C₀ the *mean* loss over the training
examples. Autograd differentiates |w| as sign(w), so plain SGD performs the
update of the lecture notes (Nielsen ch. 3, eq. 41 of seed 003)::

    w ← w − η·α·sign(w) − η·∇C₀

Nielsen writes C₀ + (λ/n)·Σ|w| with n the training-set size: α = λ/n, selected
with ``convention="nielsen"``. torch's ``sign(0) = 0``, so a weight that is
exactly zero gets no penalty push (the subgradient chosen from [−α, α] is 0).
The update almost never lands exactly on zero: weights the data do not need
oscillate around 0 with amplitude ≈ ηα instead of becoming sparse.

**L1 proximal step** (ISTA; Goodfellow et al. 2016, §7.1.2; Parikh & Boyd 2014,
§6.5.2). The penalty is left out of the loss; after each optimizer step on C₀
alone the weights are soft-thresholded::

    w ← sign(w)·max(|w| − η·α, 0)

which is the exact minimizer of ½‖v − w‖² + ηα‖v‖₁. It produces exact zeros,
and a zero can become non-zero again when the data gradient pushes it out by
more than ηα. With plain SGD this is proximal gradient descent on C₀ + α‖w‖₁;
with momentum or Adam the step is still applied with threshold η·α (a common
heuristic, not a proximal method in the strict sense). Put it last in a chain.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

import torch
from torch import nn

from reglab.regularize import ops
from reglab.regularize._base import BindContext, BoundPenalty, BoundStep, Params, Strength
from reglab.regularize._config import StrengthConfig

__all__ = ["L1", "L1Prox", "L1Config", "L1ProxConfig"]


class _BoundL1(BoundPenalty):
    op = staticmethod(ops.l1_penalty)


@dataclass(frozen=True)
class L1(Strength):
    """L1 penalty α‖w‖₁ on the mean loss, minimized by its subgradient α·sign(w).

    ``convention="nielsen"`` reads ``alpha`` as Nielsen's λ in C₀ + (λ/n)Σ|w|.

    >>> import torch.nn as nn
    >>> net = nn.Linear(2, 1)
    >>> _ = nn.init.constant_(net.weight, -0.5)
    >>> L1(alpha=0.25).bind(net).penalty()  # 0.25 · (0.5 + 0.5)
    tensor(0.2500, grad_fn=<MulBackward0>)

    Reference: Nielsen, *Neural Networks and Deep Learning*, ch. 3; Goodfellow et
    al. 2016, §7.1.2.
    """

    name = "l1"

    def _bind(self, params: Params, context: BindContext, model: nn.Module) -> BoundStep:
        return _BoundL1(params, self.effective_alpha(context.n_train))


class _BoundL1Prox(BoundStep):
    def __init__(self, params: Params, alpha: float) -> None:
        super().__init__(params)
        self.alpha = alpha
        self._tensors = self.tensors

    def penalty_value(self) -> torch.Tensor | None:
        """α‖w‖₁ for reporting (objective = C₀ + α‖w‖₁); never added to the loss."""
        if self.alpha == 0.0 or not self._tensors:
            return None
        with torch.no_grad():
            return ops.l1_penalty(self._tensors, self.alpha)

    def post_step(self, lr: float) -> None:
        if self.alpha == 0.0:
            return
        threshold = lr * self.alpha
        with torch.no_grad():
            for w in self._tensors:
                w.copy_(ops.prox_l1(w, threshold))

    def describe(self) -> dict:
        return {**super().describe(), "alpha": self.alpha}


@dataclass(frozen=True)
class L1Prox(Strength):
    """Soft-threshold w ← sign(w)·max(|w| − ηα, 0) after each optimizer step (proximal L1).

    Minimizes the same C₀ + α‖w‖₁ as :class:`L1` (α on the mean loss; Nielsen's
    λ = α·n with ``convention="nielsen"``) but yields exact zeros. The penalty is
    not part of the loss; :meth:`BoundStep.penalty_value` reports α‖w‖₁ for metrics.

    >>> import torch, torch.nn as nn
    >>> net = nn.Linear(3, 1, bias=False)
    >>> with torch.no_grad():
    ...     _ = net.weight.copy_(torch.tensor([[0.05, -0.3, 1.0]]))
    >>> L1Prox(alpha=1.0).bind(net).post_step(lr=0.1)
    >>> net.weight.data
    tensor([[ 0.0000, -0.2000,  0.9000]])

    Reference: Goodfellow et al. 2016, §7.1.2; Parikh & Boyd, *Proximal
    Algorithms* (2014), §6.5.2.
    """

    name = "l1_prox"

    def _bind(self, params: Params, context: BindContext, model: nn.Module) -> BoundStep:
        return _BoundL1Prox(params, self.effective_alpha(context.n_train))


class L1Config(StrengthConfig):
    """L1 penalty in the loss: C = C₀ + α‖w‖₁ on the mean loss C₀, minimized by its subgradient."""

    kind: Literal["l1"]
    piece: ClassVar[type] = L1


class L1ProxConfig(StrengthConfig):
    """Proximal L1: after each step w ← sign(w)·max(|w| − ηα, 0) (threshold lr·α); exact zeros. Same α as ``l1``."""

    kind: Literal["l1_prox"]
    piece: ClassVar[type] = L1Prox
