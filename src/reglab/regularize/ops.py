"""The math of the regularizers as pure tensor functions: one definition each.

Every piece in :mod:`reglab.regularize`, the FISTA solver of ``verify``, the
projected-gradient path of the ``penalty-vs-constraint`` experiment, the flat
objectives of ``curvature`` and the closed forms of ``theory`` call these; none of
them writes the formulas again. The functions never modify their inputs (the
bound pieces copy the result back into the parameters under ``no_grad``).

Strength convention: ``alpha`` multiplies the penalty added to the *mean*
training loss C₀ (reglab's α; torch SGD's ``weight_decay``; Nielsen's λ = α·n).

===========================  ==============================================
function                     math
===========================  ==============================================
:func:`l2_penalty`           (α/2)·Σₜ‖wₜ‖²
:func:`l2_penalty_grad`      α·wₜ for each tensor
:func:`l1_penalty`           α·Σₜ‖wₜ‖₁
:func:`prox_l1`              sign(w)·max(|w| − τ, 0)   (soft-threshold, τ ≥ 0)
:func:`project_l2_ball`      w·min(1, k/‖w‖₂), the tensors taken jointly
:func:`project_max_norm`     each unit's row wⱼ·min(1, c/‖wⱼ‖₂)
===========================  ==============================================

>>> import torch
>>> prox_l1(torch.tensor([0.05, -0.3, 1.0]), 0.1)
tensor([ 0.0000, -0.2000,  0.9000])
>>> project_l2_ball([torch.tensor([3.0, 4.0])], 1.0)
[tensor([0.6000, 0.8000])]

References: Parikh & Boyd, *Proximal Algorithms* (2014), §6.5.2 (soft-threshold)
and §6.5.1 (projection onto a ball); Srivastava et al., "Dropout", JMLR 15 (2014),
§5.1 (max-norm); the optax ``projections`` module for the shape of the API.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

__all__ = ["l2_penalty", "l2_penalty_grad", "l1_penalty", "prox_l1", "project_l2_ball", "project_max_norm",
           "ball_scale"]

Tensors = Sequence[torch.Tensor]


def l2_penalty(tensors: Tensors, alpha: float) -> torch.Tensor:
    """(α/2)·Σₜ‖wₜ‖², differentiable (a scalar tensor; 0 for no tensors).

    >>> l2_penalty([torch.tensor([1.0, 2.0]), torch.tensor([[2.0]])], 0.5)
    tensor(2.2500)
    """
    if not tensors:
        return torch.zeros(())
    return 0.5 * alpha * torch.stack([t.pow(2).sum() for t in tensors]).sum()


def l2_penalty_grad(tensors: Tensors, alpha: float, out: Sequence[torch.Tensor] | None = None) -> list[torch.Tensor]:
    """∇[(α/2)‖w‖²] = α·w, one tensor per input tensor.

    With ``out`` (one tensor per input, e.g. the ``.grad`` of each parameter) the
    gradient is *added* to ``out`` in place, ``out += α·w``, in one fused foreach
    operation (one rounding per entry, as torch SGD's ``weight_decay``), and
    ``out`` is returned. This is how the training loop adds the L2 gradient.

    >>> g = [torch.tensor([1.0, 1.0])]
    >>> l2_penalty_grad([torch.tensor([2.0, -4.0])], 0.5, out=g)
    [tensor([ 2., -1.])]
    """
    if out is not None:
        if tensors:
            torch._foreach_add_(list(out), list(tensors), alpha=alpha)
        return list(out)
    return list(torch._foreach_mul(list(tensors), alpha)) if tensors else []


def l1_penalty(tensors: Tensors, alpha: float) -> torch.Tensor:
    """α·Σₜ‖wₜ‖₁, differentiable (autograd's subgradient of |w| at 0 is 0).

    >>> l1_penalty([torch.tensor([-0.5, 0.5])], 0.25)
    tensor(0.2500)
    """
    if not tensors:
        return torch.zeros(())
    return alpha * torch.stack([t.abs().sum() for t in tensors]).sum()


def prox_l1(w: torch.Tensor, threshold: float | torch.Tensor) -> torch.Tensor:
    """The proximal map of τ‖·‖₁: sign(w)·max(|w| − τ, 0), the minimizer of ½‖v − w‖² + τ‖v‖₁.

    ``threshold`` τ ≥ 0 is a number or a tensor broadcastable to ``w`` (τ = 0 leaves
    an entry as it is, which is how a mask of unpenalized coordinates is expressed).
    Entries with |w| ≤ τ become exactly 0.
    """
    return torch.sign(w) * torch.clamp(w.abs() - threshold, min=0.0)


def ball_scale(tensors: Tensors, radius: float) -> torch.Tensor:
    """min(1, k/‖w‖₂) for the tensors taken jointly as one vector (1 when ‖w‖ = 0 or k = ∞)."""
    if math.isinf(radius) or not tensors:
        return torch.ones(())
    norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(t) for t in tensors]))
    return (norm.new_tensor(radius) / norm).clamp(max=1.0)  # a true division (a float / tensor multiplies by 1/norm); norm 0 gives inf, clamped to 1


def project_l2_ball(tensors: Tensors, radius: float) -> list[torch.Tensor]:
    """Euclidean projection of the tensors, jointly, onto {‖w‖₂ ≤ radius}: w·min(1, k/‖w‖₂)."""
    scale = ball_scale(tensors, radius)
    return [t * scale.to(t.dtype) for t in tensors]


def project_max_norm(w: torch.Tensor, max_norm: float, dim: int = 0) -> torch.Tensor:
    """Rescale each unit's incoming weights (the slices along ``dim``) to norm ≤ ``max_norm``.

    A unit is a row of a Linear weight (out × in, ``dim = 0``) or an output filter of
    a Conv weight (``dim = 1`` for ConvTranspose, which stores in × out). A 1-D tensor
    (a bias) is clipped entry-wise to [−c, c]: each entry is its own unit.

    >>> project_max_norm(torch.tensor([[3.0, 4.0], [0.3, 0.4]]), 1.0)
    tensor([[0.6000, 0.8000],
            [0.3000, 0.4000]])
    """
    if math.isinf(max_norm):
        return w.clone()
    if w.dim() < 2:
        return w.clamp(-max_norm, max_norm)
    rows = w.movedim(dim, 0).reshape(w.shape[dim], -1)
    scale = (max_norm / torch.linalg.vector_norm(rows, dim=1)).clamp(max=1.0)  # zero rows: inf → 1
    shape = [1] * w.dim()
    shape[dim] = -1
    return w * scale.reshape(shape)
