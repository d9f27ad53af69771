"""Early stopping of gradient descent as L2 regularization."""

from __future__ import annotations

from typing import Any

import torch

from reglab.theory._arrays import Array, positive, scalar_or, tensor

__all__ = ["early_stopping_alpha", "early_stopping_factors"]


def early_stopping_factors(eigenvalues: Array, lr: float, steps: Any) -> Array:
    r"""The factors ``1 − (1 − ηλᵢ)^τ`` of gradient descent stopped after ``τ`` steps.

    Gradient descent with learning rate ``η`` on the quadratic model
    ``½(w − w*)ᵀH(w − w*)`` from ``w⁽⁰⁾ = 0`` gives

    .. math::
        Q^\top w^{(\tau)} = \big[I - (I - \eta\Lambda)^\tau\big] Q^\top w^*,

    to compare with :func:`shrink_factors` ``λᵢ/(λᵢ+α)``: the two agree when
    ``(I − ηΛ)^τ = (Λ + αI)⁻¹α``, which for ``ηλᵢ ≪ 1`` and ``λᵢ ≪ α`` gives
    ``α ≈ 1/(ητ)`` (:func:`early_stopping_alpha`). ``steps`` may be an integer or
    a 1-D sequence (one row each); ``η λᵢ < 2`` is needed for convergence.

    Example:
        >>> import numpy as np
        >>> from reglab.theory import early_stopping_factors
        >>> early_stopping_factors(np.array([1.0, 0.5]), 0.5, 2)
        array([0.75  , 0.4375])

    Reference: Goodfellow, Bengio & Courville, *Deep Learning*, 2016, §7.8.
    """
    values = tensor(eigenvalues, "eigenvalues", ndim=1)
    eta = positive(lr, "lr")
    taus = tensor(steps, "steps")
    if taus.ndim > 1 or bool((taus < 0).any()) or bool((taus != taus.round()).any()):
        raise ValueError(f"steps must be a non-negative integer or a 1-D sequence of them, got {steps!r}")
    scalar = taus.ndim == 0
    factors = 1.0 - torch.pow(1.0 - eta * values[None, :], taus.reshape(-1, 1))
    return scalar_or(factors, scalar, eigenvalues)


def early_stopping_alpha(lr: float, steps: int) -> float:
    r"""The L2 strength equivalent to stopping gradient descent after ``τ`` steps: ``α ≈ 1/(ητ)``.

    From ``(1 − ηλ)^τ ≈ α/(λ + α)`` for small ``ηλ`` and ``λ/α`` (see
    :func:`early_stopping_factors`): the number of steps times the learning rate
    plays the role of the inverse weight decay.

    Example:
        >>> from reglab.theory import early_stopping_alpha
        >>> early_stopping_alpha(0.1, 100)
        0.1

    Reference: Goodfellow, Bengio & Courville, *Deep Learning*, 2016, §7.8.
    """
    eta = positive(lr, "lr")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    return 1.0 / (eta * steps)
