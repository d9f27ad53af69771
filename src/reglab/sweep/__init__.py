"""Sweeps: a grid of runs from one config, trained together where they can be.

``load_sweep`` reads a sweep config (a run config plus a ``[sweep]`` table of
axes) and validates every grid point; ``run_sweep`` trains the points not yet in
the store, grouping those that share data, model and training settings into one
vectorized pass (:class:`VectorizedTrainer`), on an executor (in process or a
local process pool); the driver alone writes the store.

>>> sweep = parse_sweep({"train": {"epochs": 1}, "regularizer": [{"kind": "l2", "alpha": 0.0}],
...                      "sweep": {"regularizer.0.alpha": {"log": [1e-4, 1e-2], "num": 3}}})
>>> [p.values["regularizer.0.alpha"] for p in sweep.points]
[0.0001, 0.001, 0.01]
"""

from reglab.sweep._driver import DONE_STATUSES, PointReport, SweepResult, plan_sweep, run_sweep
from reglab.sweep._engine import MemberResult, VectorizedTrainer, train_vectorized
from reglab.sweep._executors import (
    EXECUTORS,
    DaskExecutor,
    Executor,
    InProcessExecutor,
    ProcessExecutor,
    WorkerLost,
    make_executor,
)
from reglab.sweep._plan import ENGINES, VECTORIZABLE_KINDS, Member, WorkUnit, plan_units
from reglab.sweep._timing import EngineTiming, time_engines
from reglab.sweep._spec import GridPoint, Sweep, axis_values, load_sweep, parse_sweep, sweep_of
from reglab.sweep._work import PointOutcome, run_unit

__all__ = ["load_sweep", "parse_sweep", "sweep_of", "axis_values", "Sweep", "GridPoint", "run_sweep", "plan_sweep", "SweepResult",
           "PointReport", "DONE_STATUSES", "plan_units", "ENGINES", "EngineTiming", "time_engines", "WorkUnit", "Member", "VECTORIZABLE_KINDS",
           "VectorizedTrainer", "train_vectorized", "MemberResult", "run_unit", "PointOutcome", "Executor",
           "InProcessExecutor", "ProcessExecutor", "DaskExecutor", "WorkerLost", "make_executor", "EXECUTORS"]
