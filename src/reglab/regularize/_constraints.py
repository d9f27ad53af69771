"""Norm constraints as projections after each optimizer step.

"A norm penalty is a norm constraint" (Goodfellow et al. 2016, §7.2; lecture
notes 002): argmin C₀(w) + α·J(w) is argmin C₀(w) subject to J(w) ≤ k for some k
that depends on α and on C₀. Projected gradient descent enforces the constraint
directly: a gradient step on C₀ alone, then the Euclidean projection onto the
feasible set (a post-step, so it goes last in a chain, as in optax).

**L2 ball** (:class:`L2Ball`). The selected tensors, taken *jointly* as one vector,
are projected onto {‖w‖₂ ≤ k}::

    w ← w · min(1, k / ‖w‖₂)

For least squares, the L2 penalty (α/2)‖w‖² on the mean loss and the ball with
k = ‖w̃(α)‖ (w̃ the penalized minimizer) have the same solution.

**Max-norm** (:class:`MaxNorm`; Srivastava et al. 2014, §5.1; Hinton et al.
2012). Each unit's incoming weight vector — a row of a Linear weight, an output
filter of a Conv weight — is rescaled to norm at most c::

    w_j ← w_j · min(1, c / ‖w_j‖₂)

Neither has a strength α: the radius is the knob (k = ∞ changes nothing).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, Literal

import torch
from torch import nn

from reglab.regularize import ops
from reglab.regularize._base import BindContext, BoundStep, Params, Step
from reglab.regularize._config import MaskedConfig
from reglab.regularize._schema import Field

__all__ = ["L2Ball", "MaxNorm", "L2BallConfig", "MaxNormConfig"]

_TRANSPOSED = (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)


class _BoundL2Ball(BoundStep):
    def __init__(self, params: Params, radius: float) -> None:
        super().__init__(params)
        self.radius = radius
        self._tensors = self.tensors

    def post_step(self, lr: float) -> None:
        if math.isinf(self.radius) or not self._tensors:
            return
        with torch.no_grad():
            for t, projected in zip(self._tensors, ops.project_l2_ball(self._tensors, self.radius)):
                t.copy_(projected)

    def describe(self) -> dict:
        return {**super().describe(), "radius": self.radius}


@dataclass(frozen=True)
class L2Ball(Step):
    """Project the masked tensors jointly onto the ball ‖w‖₂ ≤ ``radius`` after each step.

    >>> import torch, torch.nn as nn
    >>> net = nn.Linear(2, 1, bias=False)
    >>> with torch.no_grad():
    ...     _ = net.weight.copy_(torch.tensor([[3.0, 4.0]]))
    >>> L2Ball(radius=1.0).bind(net).post_step(lr=0.1)
    >>> net.weight.data
    tensor([[0.6000, 0.8000]])

    Reference: Goodfellow et al. 2016, §7.2 (norm penalties as constrained optimization).
    """

    radius: float = math.inf
    name = "l2_ball"

    def _bind(self, params: Params, context: BindContext, model: nn.Module) -> BoundStep:
        return _BoundL2Ball(params, self.radius)


def _unit_dims(model: nn.Module) -> dict[int, int]:
    """The dimension that indexes output units, per weight tensor (ConvTranspose stores (in, out, …))."""
    return {id(m.weight): 1 for m in model.modules() if isinstance(m, _TRANSPOSED)}


class _BoundMaxNorm(BoundStep):
    def __init__(self, params: Params, max_norm: float, dims: list[int]) -> None:
        super().__init__(params)
        self.max_norm = max_norm
        self._tensors = [(p, d) for (_, p), d in zip(params, dims)]

    def post_step(self, lr: float) -> None:
        if math.isinf(self.max_norm):
            return
        with torch.no_grad():
            for w, dim in self._tensors:
                w.copy_(ops.project_max_norm(w, self.max_norm, dim))

    def describe(self) -> dict:
        return {**super().describe(), "max_norm": self.max_norm}


@dataclass(frozen=True)
class MaxNorm(Step):
    """Rescale each unit's incoming weight vector to norm ≤ ``max_norm`` after each step.

    A unit is a row of a Linear weight (out × in) or an output filter of a Conv
    weight; for a 1-D tensor (a bias, if the mask selects it) each entry is
    clipped to [−c, c]. Srivastava et al. use c between 3 and 4 with dropout.

    >>> import torch, torch.nn as nn
    >>> net = nn.Linear(2, 2, bias=False)
    >>> with torch.no_grad():
    ...     _ = net.weight.copy_(torch.tensor([[3.0, 4.0], [0.3, 0.4]]))
    >>> MaxNorm(max_norm=1.0).bind(net).post_step(lr=0.1)
    >>> net.weight.data
    tensor([[0.6000, 0.8000],
            [0.3000, 0.4000]])

    References: Srivastava et al., "Dropout", JMLR 15 (2014), §5.1; Hinton et al.,
    "Improving neural networks by preventing co-adaptation of feature detectors" (2012).
    """

    max_norm: float = math.inf
    name = "max_norm"

    def _bind(self, params: Params, context: BindContext, model: nn.Module) -> BoundStep:
        dims = _unit_dims(model)
        return _BoundMaxNorm(params, self.max_norm, [dims.get(id(p), 0) for _, p in params])


class L2BallConfig(MaskedConfig):
    """Projection after each step onto the ball ‖w‖₂ ≤ radius (the masked tensors jointly)."""

    kind: Literal["l2_ball"]
    radius: float = Field(gt=0.0, allow_inf_nan=True, description="k in ‖w‖₂ ≤ k; inf means no constraint")
    piece: ClassVar[type] = L2Ball


class MaxNormConfig(MaskedConfig):
    """Max-norm: after each step every unit's incoming weight vector is rescaled to norm ≤ max_norm."""

    kind: Literal["max_norm"]
    max_norm: float = Field(gt=0.0, allow_inf_nan=True,
                            description="c in ‖w_unit‖₂ ≤ c (Srivastava et al.: 3-4); inf means none")
    piece: ClassVar[type] = MaxNorm
