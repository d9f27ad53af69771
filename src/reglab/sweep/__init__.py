"""Sweeps: a grid of runs from one config, trained together where they can be (see :func:`run_sweep`)."""

from reglab.sweep._engine import MemberResult, VectorizedTrainer, train_vectorized
from reglab.sweep._plan import Member, WorkUnit, plan_units
from reglab.sweep._spec import GridPoint, Sweep, axis_values, load_sweep, parse_sweep
from reglab.sweep._work import PointOutcome, run_unit

__all__ = ["load_sweep", "parse_sweep", "axis_values", "Sweep", "GridPoint", "plan_units", "WorkUnit", "Member",
           "VectorizedTrainer", "train_vectorized", "MemberResult", "run_unit", "PointOutcome"]
