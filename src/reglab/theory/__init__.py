"""Closed forms of regularization theory, as pure functions of arrays.

Convention for the strength ``α``: it multiplies the penalty added to the
*mean* training loss,

    C(w) = C₀(w) + (α/2)‖w‖²₂     (L2)       or     C(w) = C₀(w) + α‖w‖₁     (L1),

and ``H`` is the Hessian of that same mean loss ``C₀``, so no factor ``n``
appears in any formula. This ``α`` is torch SGD's ``weight_decay`` and
Goodfellow et al.'s ``α``; Nielsen's ``λ`` is ``α·n``; scikit-learn's ``Ridge``
``alpha`` is ``n·α`` for ``C₀ = (1/2n)‖Xw − y‖²``, its ``Lasso`` ``alpha`` is ``α``.

Inputs may be NumPy arrays or torch tensors; the computation is in float64 and
array results come back as the kind of the main input (``w_star``,
``eigenvalues`` or ``w0``). A strength may be a vector: results then gain a
leading axis, one row per strength. Scalar results are Python floats.

Example:
    >>> import numpy as np
    >>> from reglab.theory import ridge_transform, shrink_factors
    >>> H, w_star = np.diag([4.0, 0.25]), np.array([1.0, 1.0])
    >>> ridge_transform(H, w_star, 0.25)
    array([0.94117647, 0.5       ])
    >>> shrink_factors(np.array([4.0, 0.25]), [0.0, 0.25]).tolist()
    [[1.0, 1.0], [0.9411764705882353, 0.5]]

Reference: Goodfellow, Bengio & Courville, *Deep Learning*, 2016, chapter 7.
"""

from reglab.theory._early_stopping import early_stopping_alpha, early_stopping_factors
from reglab.theory._lasso import soft_threshold
from reglab.theory._radius import alpha_for_radius, constraint_radius
from reglab.theory._ridge import (
    effective_hessian,
    effective_parameters,
    newton_step_prediction,
    predict,
    ridge_transform,
    shrink_factors,
)

__all__ = [
    "ridge_transform",
    "shrink_factors",
    "effective_parameters",
    "soft_threshold",
    "constraint_radius",
    "alpha_for_radius",
    "early_stopping_alpha",
    "early_stopping_factors",
    "newton_step_prediction",
    "effective_hessian",
    "predict",
]
