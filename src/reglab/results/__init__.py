"""Stored runs and sweeps, looked at together: compared over seeds, and exported to MLflow and TensorBoard.

``compare_sweep(out, sweep_id)`` reads a sweep's runs back from the store (the driver's tags)
and gives the metric's mean ± sd over seeds per combination of the other axes;
``write_comparison`` draws its figure and writes ``OUT/sweeps/SWEEP_ID/`` for ``reglab report``.
``export_mlflow`` and ``export_tensorboard`` write stored runs (a run, or a sweep's) where
those tools read them; they need the extras ``reglab[mlflow]`` and ``reglab[tensorboard]``.
"""

from reglab.results._compare import DEFAULT_METRIC, ComparisonRow, SweepComparison, compare_sweep, seed_axis
from reglab.results._export import ExportResult, flatten_config
from reglab.results._mlflow import export_mlflow
from reglab.results._tensorboard import export_tensorboard
from reglab.results._figure import comparison_figure
from reglab.results._select import SweepRuns, known_sweeps, select_runs, sweep_runs
from reglab.results._summary import comparison_table, refresh_sweeps, sweep_folder, write_comparison

__all__ = ["compare_sweep", "SweepComparison", "ComparisonRow", "DEFAULT_METRIC", "seed_axis", "comparison_figure",
           "comparison_table", "write_comparison", "refresh_sweeps", "sweep_folder", "known_sweeps", "sweep_runs",
           "select_runs", "SweepRuns", "export_mlflow", "export_tensorboard", "flatten_config", "ExportResult"]
