"""The notes' experiments as one-command built-ins (``reglab experiment NAME``).

Each module registers one experiment; :func:`run_experiment` runs it and writes
``OUT/experiments/NAME/summary.json`` with PNG and SVG figures beside it.
"""

from importlib import import_module

from reglab.experiments._base import EXPERIMENTS, ExperimentContext, ExperimentResult, Table, run_experiment

_MODULES = ("mnist_weight_decay", "playground_l2", "ridge_geometry", "lasso_geometry", "penalty_vs_constraint",
            "spectrum_shrinkage", "early_stopping", "dropout", "augmentation", "nn_vs_svm", "polynomial_degree",
            "beyond_nets")

for _name in _MODULES:
    import_module(f"reglab.experiments.{_name}")

__all__ = ["EXPERIMENTS", "ExperimentContext", "ExperimentResult", "Table", "run_experiment"]
