"""L2 regularization around a minimum: the ridge transform and its summaries."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from reglab.theory._arrays import Array, like, ratio, scalar_or, spectrum, strengths, tensor

__all__ = ["ridge_transform", "shrink_factors", "effective_parameters", "newton_step_prediction", "effective_hessian",
           "predict"]


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


def newton_step_prediction(H0: Any, grad0: Array, w0: Array, alpha: Any, mask: Any = None) -> Array:
    r"""The minimizer of the quadratic model of ``C₀ + (α/2)‖Dw‖²`` taken at any point ``w₀``.

    .. math::
        w(\alpha) = w_0 - (H_0 + \alpha D)^{-1}\big(\nabla C_0(w_0) + \alpha D w_0\big),

    with ``D = I`` (``mask=None``) or ``D = diag(mask)``, the penalized coordinates
    (the others are minimized jointly, unpenalized). For when ``C₀`` has no finite
    minimizer (e.g. logistic regression on separable data), so
    :func:`ridge_transform`'s ``w*`` does not exist; it is the notes' formula
    when ``∇C₀(w₀) = 0``. Without a mask ``H0`` may be dense or eigenpairs
    (missing eigenvalues taken as 0, which needs ``α > 0``); with a mask it must
    be dense and the system is solved by least squares (SVD), so a direction that
    neither the loss nor the penalty sees (a null direction of ``H₀ + αD``, such as
    a softmax bias shift) gets no step. Convention as in :func:`ridge_transform`.

    Example:
        >>> import numpy as np
        >>> from reglab.theory import newton_step_prediction
        >>> newton_step_prediction(np.eye(2), np.array([-1.0, 0.0]), np.zeros(2), 1.0)
        array([0.5, 0. ])
        >>> newton_step_prediction(np.eye(2), np.array([-1.0, -1.0]), np.zeros(2), 1.0, mask=[True, False])
        array([0.5, 1. ])

    Reference: Goodfellow, Bengio & Courville, *Deep Learning*, 2016, §4.3 and §7.1.1.
    """
    w = tensor(w0, "w0", ndim=1)
    g = tensor(grad0, "grad0", ndim=1)
    if g.shape != w.shape:
        raise ValueError(f"grad0 and w0 must have the same shape, got {tuple(g.shape)} and {tuple(w.shape)}")
    alphas, scalar = strengths(alpha)
    if mask is not None:
        return scalar_or(_masked_newton(H0, g, w, alphas, penalty_mask(mask, w.shape[0])), scalar, w0)
    values, vectors = spectrum(H0, w.shape[0])
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


def _masked_newton(H0: Any, g: torch.Tensor, w: torch.Tensor, alphas: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    H = symmetric(H0, w.shape[0], "H0")
    D = torch.diag(mask.double())
    rows = []
    for a in alphas.tolist():
        rhs = (g + a * D @ w).unsqueeze(1)
        # gelsd (SVD) gives the minimum-norm step reproducibly; the default gelsy's rank decision on a
        # singular H + αD (a softmax bias shift) changes with the memory alignment of its input.
        rows.append(w - torch.linalg.lstsq(H + a * D, rhs, driver="gelsd").solution[:, 0])
    return torch.stack(rows)


def effective_hessian(H: Any, mask: Any) -> Array:
    r"""The Hessian of the quadratic model in the penalized coordinates, the others minimized out.

    With ``p`` the penalized coordinates (``mask``) and ``u`` the rest, minimizing
    the quadratic model over ``w_u`` leaves a quadratic in ``w_p`` with the Schur complement

    .. math::
        H_{\text{eff}} = H_{pp} - H_{pu} H_{uu}^{+} H_{up}

    (``H_uu⁺`` by least squares, so a null direction of the unpenalized block is
    harmless); with every coordinate penalized it is ``H`` itself. The closed forms
    (:func:`ridge_transform`, :func:`soft_threshold`) then hold with ``H_eff``.

    Example:
        >>> import numpy as np
        >>> from reglab.theory import effective_hessian
        >>> effective_hessian(np.array([[2.0, 1.0], [1.0, 1.0]]), [True, False])
        array([[1.]])
    """
    m = penalty_mask(mask, _side(H))
    return like(_schur(symmetric(H, m.shape[0], "H"), m), H)


def penalty_mask(mask: Any, size: int) -> torch.Tensor:
    """``mask`` as a boolean tensor of length ``size`` (``None``: every coordinate penalized)."""
    if mask is None:
        return torch.ones(size, dtype=torch.bool)
    m = mask.detach().cpu() if isinstance(mask, torch.Tensor) else torch.as_tensor(np.asarray(mask))
    if m.dtype != torch.bool:
        raise ValueError(f"mask must be booleans (True = penalized), got dtype {m.dtype}")
    if m.shape != (size,):
        raise ValueError(f"mask must have shape ({size},), got {tuple(m.shape)}")
    return m


def symmetric(H: Any, size: int, name: str) -> torch.Tensor:
    """``H`` as a float64 ``size × size`` tensor, checked to be symmetric."""
    t = tensor(H, name, ndim=2)
    if t.shape != (size, size):
        raise ValueError(f"{name} must have shape ({size}, {size}), got {tuple(t.shape)}")
    scale = float(t.abs().max()) if t.numel() else 0.0
    if float((t - t.T).abs().max()) > 1e-10 * max(scale, 1e-300):
        raise ValueError(f"{name} must be symmetric")
    return t.cpu()


def _side(H: Any) -> int:
    shape = tuple(H.shape) if hasattr(H, "shape") else np.asarray(H).shape
    if len(shape) != 2:
        raise ValueError(f"H must be a square matrix, got shape {shape}")
    return shape[0]


def _schur(H: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    hpp = H[mask][:, mask]
    if bool(mask.all()):
        return hpp
    u = ~mask
    hpu, huu = H[mask][:, u], H[u][:, u]
    return hpp - hpu @ torch.linalg.lstsq(huu, hpu.T).solution


def predict(H: Any, w0: Array, alphas: Any, mask: Any = None, *, penalty: str = "l2",
            grad0: Array | None = None) -> Array:
    r"""The notes' prediction of the regularized minimizer, on the penalized coordinates.

    ``H`` is the dense Hessian of the *mean* loss ``C₀`` at ``w₀`` (all ``P``
    coordinates), ``mask`` the penalized coordinates (default: all), ``α`` the
    strength on the mean loss (``C₀ + (α/2)‖w_p‖²`` or ``C₀ + α‖w_p‖₁``). The
    unpenalized coordinates are minimized jointly (``H_eff`` = :func:`effective_hessian`).

    * ``grad0=None``: ``w₀`` is the unregularized minimizer ``w*`` and
      ``penalty="l2"`` gives :func:`ridge_transform` ``Q(Λ+αI)⁻¹ΛQᵀw*_p`` with
      ``H_eff = QΛQᵀ``; ``penalty="l1"`` gives :func:`soft_threshold` with
      ``diag(H_eff)`` (exact when ``H_eff`` is diagonal).
    * ``grad0 = ∇C₀(w₀)``: ``w₀`` is any point (e.g. ``w̃(α₀)`` when ``C₀`` has no
      finite minimizer); L2 only, by :func:`newton_step_prediction` with the mask,
      restricted to the penalized coordinates.

    Returns ``(k,)`` for a scalar ``α`` and ``(m, k)`` for ``m`` strengths, ``k`` the
    number of penalized coordinates, of the kind of ``w0``.

    Example:
        >>> import numpy as np
        >>> from reglab.theory import predict
        >>> H = np.array([[3.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 2.0]])
        >>> predict(H, np.array([1.0, 1.0, 5.0]), [1.0, 3.0], mask=[True, True, False])
        array([[0.75, 0.5 ],
               [0.5 , 0.25]])
        >>> predict(H, np.array([1.0, -2.0, 5.0]), 1.5, mask=[True, True, False], penalty="l1")
        array([ 0.5, -0.5])

    Reference: Goodfellow, Bengio & Courville, *Deep Learning*, 2016, §7.1.1–7.1.2.
    """
    from reglab.theory._lasso import soft_threshold

    if penalty not in ("l2", "l1"):
        raise ValueError(f"penalty must be 'l2' or 'l1', got {penalty!r}")
    w = tensor(w0, "w0", ndim=1)
    m = penalty_mask(mask, w.shape[0])
    if grad0 is not None:
        if penalty == "l1":
            raise ValueError("an L1 prediction needs the unregularized minimizer: pass grad0=None")
        full = newton_step_prediction(H, grad0, w, alphas, mask=m)
        return like(full[..., m], w0)
    H_eff = _schur(symmetric(H, w.shape[0], "H"), m)
    if penalty == "l1":
        return like(soft_threshold(w[m], torch.diagonal(H_eff), alphas), w0)
    lam, Q = torch.linalg.eigh(H_eff)
    return like(ridge_transform((lam.flip(0), Q.flip(1)), w[m], alphas), w0)
