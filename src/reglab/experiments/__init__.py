"""The notes' experiments as one-command built-ins (``reglab experiment NAME``).

Each module registers one experiment as ``compute(ctx) -> summary`` plus ``figures``,
``tables`` and ``reading`` drawn from that summary. :func:`run_experiment` runs it and
writes ``OUT/experiments/NAME/summary.json`` with PNG and SVG figures beside it;
:func:`redraw` draws the figures again from a stored ``summary.json``; :func:`run_demo`
is the guided tour behind ``reglab demo``.
"""

from importlib import import_module

from reglab.experiments._base import (EXPERIMENTS, Experiment, ExperimentContext, ExperimentResult, ExperimentRun,
                                      Table, redraw, register, run_experiment, save_figures)
from reglab.experiments._demo import DEMO_EXPERIMENTS, Demo, run_demo

_MODULES = ("mnist_weight_decay", "playground_l2", "ridge_geometry", "lasso_geometry", "penalty_vs_constraint",
            "spectrum_shrinkage", "early_stopping", "dropout", "augmentation", "nn_vs_svm", "polynomial_degree",
            "beyond_nets", "nielsen_overfitting", "evidence_vs_grid")

for _name in _MODULES:
    import_module(f"reglab.experiments.{_name}")

__all__ = ["EXPERIMENTS", "DEMO_EXPERIMENTS", "Demo", "Experiment", "ExperimentContext", "ExperimentResult",
           "ExperimentRun", "Table", "redraw", "register", "run_demo", "run_experiment", "save_figures"]
