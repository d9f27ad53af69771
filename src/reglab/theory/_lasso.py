"""L1 regularization with a diagonal Hessian: soft thresholding."""

from __future__ import annotations

from typing import Any

from reglab.regularize.ops import prox_l1
from reglab.theory._arrays import Array, scalar_or, strengths, tensor

__all__ = ["soft_threshold"]


def soft_threshold(w_star: Array, h_diag: Array, alpha: Any) -> Array:
    r"""The minimizer of the quadratic model of ``C₀ + α‖w‖₁`` when ``H`` is diagonal.

    With ``C₀(w) ≈ C₀(w*) + ½ Σᵢ Hᵢᵢ (wᵢ − wᵢ*)²`` the problem separates:

    .. math::
        w_i = \operatorname{sign}(w_i^*)\,\max\Big(|w_i^*| - \frac{\alpha}{H_{ii}},\,0\Big),

    (the proximal map of ``‖·‖₁`` with threshold ``α/Hᵢᵢ``, ``reglab.regularize.ops.prox_l1``),
    so a weight with ``|wᵢ*| ≤ α/Hᵢᵢ`` becomes exactly 0 (sparsity) and the others
    move toward 0 by ``α/Hᵢᵢ``. ``α`` multiplies ``‖w‖₁`` added to the *mean* loss
    and ``H`` is the Hessian of that mean loss. A vector ``alpha`` gives one row per
    strength.

    Args:
        w_star: ``(P,)`` the unregularized minimum.
        h_diag: ``(P,)`` the diagonal of ``H``, all ``> 0``.
        alpha: a strength ``≥ 0`` or a 1-D sequence of them.

    Example:
        >>> import numpy as np
        >>> from reglab.theory import soft_threshold
        >>> soft_threshold(np.array([2.0, -0.5, -3.0]), np.array([1.0, 1.0, 2.0]), 1.0)
        array([ 1. ,  0. , -2.5])

    Reference: Goodfellow, Bengio & Courville, *Deep Learning*, 2016, §7.1.2.
    """
    w = tensor(w_star, "w_star", ndim=1)
    h = tensor(h_diag, "h_diag", ndim=1)
    if h.shape != w.shape:
        raise ValueError(f"h_diag must have the shape of w_star {tuple(w.shape)}, got {tuple(h.shape)}")
    if bool((h <= 0).any()):
        raise ValueError("h_diag must be > 0 everywhere")
    alphas, scalar = strengths(alpha)
    shrunk = prox_l1(w[None, :], alphas[:, None] / h[None, :]) + 0.0  # + 0.0 turns the −0 of negative wᵢ* into 0
    return scalar_or(shrunk, scalar, w_star)
