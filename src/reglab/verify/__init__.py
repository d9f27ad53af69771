"""Check the notes' predictions on a real model: w̃(α) from the Hessian vs the trained minimizer."""

from reglab.verify._objective import FlatObjective, minimize_fista, minimize_lbfgs
from reglab.verify._backprop import epoch_vs_reglab, full_backprop_check
from reglab.verify._verify import VerifyCase, VerifyReport, verify, verify_config

__all__ = ["verify", "verify_config", "VerifyReport", "VerifyCase", "FlatObjective", "minimize_lbfgs", "minimize_fista",
           "epoch_vs_reglab", "full_backprop_check"]
