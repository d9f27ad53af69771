"""L2 regularization around a minimum: the ridge transform and its summaries."""

from __future__ import annotations

from typing import Any

from reglab.theory._arrays import Array, ratio, scalar_or, spectrum, strengths, tensor

__all__ = ["ridge_transform", "shrink_factors", "effective_parameters", "newton_step_prediction"]


def ridge_transform(H_or_eigen: Any, w_star: Array, alpha: Any) -> Array:
    r"""The minimizer of the quadratic model of ``C₀ + (α/2)‖w‖²`` around a minimum ``w*``.

    With ``C₀(w) ≈ C₀(w*) + ½(w − w*)ᵀH(w − w*)`` and ``H = QΛQᵀ``:

    .. math::
        \tilde w = (H + \alpha I)^{-1} H w^* = Q(\Lambda + \alpha I)^{-1}\Lambda Q^\top w^*,

    so the component of ``w*`` along eigenvector ``qᵢ`` is scaled by
    ``λᵢ/(λᵢ+α)``: kept where the curvature is large, removed where it is small.
    ``α`` multiplies the penalty added to the *mean* loss and ``H`` is the
    Hessian of that mean loss (no factor ``n``; Nielsen's ``λ`` is ``α·n``).

    Args:
        H_or_eigen: dense symmetric ``H`` (``P×P``), an ``(eigenvalues, eigenvectors)``
            pair, or an ``EigenResult``. With only ``r < P`` eigenpairs the missing
            eigenvalues are taken to be 0, so those directions are removed.
        w_star: ``(P,)`` the unregularized minimum.
        alpha: a strength ``≥ 0`` or a 1-D sequence of them (result ``(m, P)``).
            Where ``λᵢ = α = 0`` the factor is its ``α→0⁺`` limit, 0.

    Returns:
        ``w̃`` of the kind of ``w_star`` (NumPy or torch), float64.

    Example:
        >>> import numpy as np
        >>> from reglab.theory import ridge_transform
        >>> ridge_transform(np.diag([3.0, 1.0]), np.array([1.0, 1.0]), 1.0)
        array([0.75, 0.5 ])

    Reference: Goodfellow, Bengio & Courville, *Deep Learning*, 2016, §7.1.1.
    """
    w = tensor(w_star, "w_star", ndim=1)
    values, vectors = spectrum(H_or_eigen, w.shape[0])
    alphas, scalar = strengths(alpha)
    coefficients = vectors.T @ w
    result = (ratio(values, alphas) * coefficients) @ vectors.T
    return scalar_or(result, scalar, w_star)


def shrink_factors(eigenvalues: Array, alpha: Any) -> Array:
    r"""The factors ``λᵢ/(λᵢ + α)`` by which L2 regularization scales each eigen-component.

    Near 1 where ``λᵢ ≫ α`` (a direction the data determine), near 0 where
    ``λᵢ ≪ α``. A vector ``alpha`` gives one row per strength. Convention as in
    :func:`ridge_transform`.

    Example:
        >>> import numpy as np
        >>> from reglab.theory import shrink_factors
        >>> shrink_factors(np.array([3.0, 1.0, 0.0]), 1.0)
        array([0.75, 0.5 , 0.  ])

    Reference: Goodfellow, Bengio & Courville, *Deep Learning*, 2016, §7.1.1.
    """
    values = tensor(eigenvalues, "eigenvalues", ndim=1)
    alphas, scalar = strengths(alpha)
    return scalar_or(ratio(values, alphas), scalar, eigenvalues)


def effective_parameters(eigenvalues: Array, alpha: Any) -> Array | float:
    r"""The effective number of parameters ``γ(α) = Σᵢ λᵢ/(λᵢ + α)``.

    Counts the directions the data determine: ``γ(0)`` is the rank of ``H`` and
    ``γ → 0`` as ``α → ∞``. A scalar ``alpha`` gives a float, a vector one value each.

    Example:
        >>> from reglab.theory import effective_parameters
        >>> effective_parameters([3.0, 1.0, 0.0], 1.0)
        1.25

    Reference: Bishop, *Pattern Recognition and Machine Learning*, 2006, eq. 3.91;
    MacKay, "Bayesian interpolation", Neural Computation 1992.
    """
    values = tensor(eigenvalues, "eigenvalues", ndim=1)
    alphas, scalar = strengths(alpha)
    return scalar_or(ratio(values, alphas).sum(dim=1), scalar, eigenvalues)


def newton_step_prediction(H0: Any, grad0: Array, w0: Array, alpha: Any) -> Array:
    r"""The minimizer of the quadratic model of ``C₀ + (α/2)‖w‖²`` taken at any point ``w₀``.

    .. math::
        w(\alpha) = w_0 - (H_0 + \alpha I)^{-1}\big(\nabla C_0(w_0) + \alpha w_0\big).

    For when ``C₀`` has no finite minimizer (e.g. logistic regression on
    separable data), so :func:`ridge_transform`'s ``w*`` does not exist. ``H0``
    may be dense or eigenpairs (missing eigenvalues taken as 0, which needs
    ``α > 0``). Convention as in :func:`ridge_transform`.

    Example:
        >>> import numpy as np
        >>> from reglab.theory import newton_step_prediction
        >>> newton_step_prediction(np.eye(2), np.array([-1.0, 0.0]), np.zeros(2), 1.0)
        array([0.5, 0. ])

    Reference: Goodfellow, Bengio & Courville, *Deep Learning*, 2016, §4.3 and §7.1.1.
    """
    w = tensor(w0, "w0", ndim=1)
    g = tensor(grad0, "grad0", ndim=1)
    if g.shape != w.shape:
        raise ValueError(f"grad0 and w0 must have the same shape, got {tuple(g.shape)} and {tuple(w.shape)}")
    values, vectors = spectrum(H0, w.shape[0])
    alphas, scalar = strengths(alpha)
    partial = vectors.shape[1] < w.shape[0]
    if partial and bool((alphas == 0).any()):
        raise ValueError("alpha must be > 0 when H0 is given by fewer than P eigenpairs")
    denominator = values[None, :] + alphas[:, None]
    if bool((denominator == 0).any()):
        raise ValueError("H0 + alpha*I is singular: an eigenvalue equals -alpha")
    rhs = g[None, :] + alphas[:, None] * w[None, :]
    coefficients = rhs @ vectors
    step = (coefficients / denominator) @ vectors.T
    if partial:
        step = step + (rhs - coefficients @ vectors.T) / alphas[:, None]
    return scalar_or(w[None, :] - step, scalar, w0)
