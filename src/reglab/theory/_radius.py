"""The L2 penalty as a norm constraint: the radius for a strength and the strength for a radius."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.optimize
import torch

from reglab.theory._arrays import Array, positive, ratio, scalar_or, spectrum, strengths, tensor

__all__ = ["constraint_radius", "alpha_for_radius"]


def constraint_radius(H_or_eigen: Any, w_star: Array, alpha: Any) -> Array | float:
    r"""The radius ``k(α) = ‖w̃(α)‖₂`` of the L2 ball whose constrained minimum is ``w̃(α)``.

    Minimizing ``C₀`` subject to ``‖w‖₂ ≤ k`` has the KKT condition
    ``∇C₀(w) + 2μw = 0`` with ``μ ≥ 0`` — the stationarity condition of the
    penalty ``(α/2)‖w‖²`` with ``α = 2μ``. So for the quadratic model the ball of
    radius ``‖w̃(α)‖₂`` has the same minimizer as the penalty of strength ``α``;
    ``k`` falls monotonically as ``α`` grows (for ``H ⪰ 0``). Arguments as in
    :func:`reglab.theory.ridge_transform`; a scalar ``alpha`` gives a float.

    Example:
        >>> import numpy as np
        >>> from reglab.theory import constraint_radius
        >>> constraint_radius(np.diag([3.0, 1.0]), np.array([1.0, 1.0]), 1.0)
        0.9013878188659973

    Reference: Goodfellow, Bengio & Courville, *Deep Learning*, 2016, §7.2.
    """
    w = tensor(w_star, "w_star", ndim=1)
    values, vectors = spectrum(H_or_eigen, w.shape[0])
    alphas, scalar = strengths(alpha)
    radii = torch.linalg.vector_norm(ratio(values, alphas) * (vectors.T @ w), dim=1)
    return scalar_or(radii, scalar, w_star)


def alpha_for_radius(H_or_eigen: Any, w_star: Array, k: float) -> float:
    r"""The strength ``α ≥ 0`` with ``‖w̃(α)‖₂ = k``: the inverse of :func:`constraint_radius`.

    ``‖w̃(α)‖² = Σᵢ (λᵢ cᵢ/(λᵢ+α))²`` with ``c = Qᵀw*`` decreases strictly in ``α``
    for ``H ⪰ 0``, from ``r₀ = ‖w̃(0)‖`` to 0; the root is bracketed by
    ``[0, λ_max(r₀/k − 1)]`` and found by Brent's method. If ``k ≥ r₀`` the
    constraint is inactive and the answer is 0.

    Example:
        >>> import numpy as np
        >>> from reglab.theory import alpha_for_radius
        >>> round(alpha_for_radius(np.diag([3.0, 1.0]), np.array([1.0, 1.0]), 0.9013878188659973), 10)
        1.0

    Reference: Goodfellow, Bengio & Courville, *Deep Learning*, 2016, §7.2.
    """
    radius = positive(k, "k")
    w = tensor(w_star, "w_star", ndim=1)
    values, vectors = spectrum(H_or_eigen, w.shape[0])
    scale = float(values.abs().max()) if values.numel() else 0.0
    if bool((values < -1e-12 * scale).any()):
        raise ValueError("H must be positive semi-definite for alpha_for_radius")
    values = values.clamp(min=0.0).numpy()
    weighted = values * (vectors.T @ w).numpy()  # λᵢcᵢ; zero where λᵢ = 0

    def excess(alpha: float) -> float:
        denominator = values + alpha
        shrunk = np.divide(weighted, denominator, out=np.zeros_like(weighted), where=denominator > 0)
        return float(np.linalg.norm(shrunk)) - radius

    r0 = excess(0.0) + radius
    if radius >= r0:
        return 0.0
    upper = float(values.max()) * (r0 / radius - 1.0)
    return float(scipy.optimize.brentq(excess, 0.0, upper, xtol=1e-14 * upper, rtol=4 * np.finfo(float).eps))
