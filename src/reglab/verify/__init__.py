"""Check the notes' predictions on a real model: w̃(α) from the Hessian vs the trained minimizer.

The parts, which experiments call too:

* :func:`fit_minimizers` (with :func:`minimize_lbfgs`, :func:`minimize_fista`): the
  trained minimizers of C₀ + α·Ω(m ⊙ w) on a :class:`reglab.curvature.Objective`;
* :func:`reglab.theory.predict`: the quadratic model's prediction from H at w₀;
* :func:`compare`: relative error ‖p − t‖/max(‖p‖, ‖t‖), cosine, norms, and
  ``holds`` (relative error ≤ threshold, default :data:`HOLDS_THRESHOLD`).

α multiplies the penalty added to the *mean* training loss (torch's weight_decay;
Nielsen's λ = α·n), and H is the Hessian of that mean loss.
"""

from reglab.verify._backprop import epoch_vs_reglab, full_backprop_check
from reglab.verify._compare import HOLDS_THRESHOLD, Comparison, compare, relative_error
from reglab.verify._objective import (
    FitResult,
    FlatObjective,
    classification_error,
    fit_minimizers,
    minimize_fista,
    minimize_lbfgs,
)
from reglab.verify._verify import VerifyCase, VerifyReport, verify, verify_config

__all__ = ["verify", "verify_config", "VerifyReport", "VerifyCase", "fit_minimizers", "compare", "Comparison",
           "relative_error", "HOLDS_THRESHOLD", "FitResult", "classification_error", "minimize_lbfgs",
           "minimize_fista", "FlatObjective", "epoch_vs_reglab", "full_backprop_check"]
