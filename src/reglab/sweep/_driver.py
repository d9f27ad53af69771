"""The sweep driver: plan, skip what is done, hand units to an executor, store results as they arrive.

The driver is the only writer of ``OUT/runs.db``. For each unit it creates the
members' runs (folder, ``config.toml``, a ``created`` row tagged with the sweep
id, the point's index and its axes' values) just before handing the unit out;
the process that trains a unit holds its run folders' locks
(:class:`reglab.store.RunLock`) while it trains; when the unit's outcomes come
back, the driver records each point's epochs and final status. A point is
*done* when the store holds a ``completed`` or ``diverged`` run of its config
hash (both are deterministic outcomes); rerunning a sweep skips those and trains
the rest again (``failed``, ``interrupted``, never started): an interrupted point
whose run folder holds a checkpoint (a vectorized pass writes one per member every
``train.checkpoint_every`` epochs) gets that run back and continues from the
checkpoint, the others start afresh. Ctrl-C or SIGTERM
(as KeyboardInterrupt) stops the executor, stores the points in flight as
``interrupted`` and keeps everything that finished.
"""

from __future__ import annotations

import os
import platform
import secrets
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch

from reglab._json import strict_json
from reglab._version import __version__
from reglab.config import config_to_toml
from reglab.store import DEFAULT_OUT, RunLock, RunStore
from reglab.sweep._executors import Executor, WorkerLost, make_executor
from reglab.sweep._plan import WorkUnit, plan_units
from reglab.sweep._spec import GridPoint, Sweep
from reglab.sweep._work import PointOutcome
from reglab.train import CHECKPOINT, resolve_device

__all__ = ["PointReport", "SweepResult", "run_sweep", "plan_sweep", "DONE_STATUSES"]

DONE_STATUSES = ("completed", "diverged")

ProgressFn = Callable[[int, int, str], None]


@dataclass
class PointReport:
    """What became of one grid point (``--json``'s ``points`` entries)."""

    index: int
    id: str
    config: dict[str, Any]
    status: str
    reason: str | None
    engine: str
    engine_reason: str
    final: dict[str, Any] | None
    run_id: str | None = None
    skipped: bool = False
    error_kind: str | None = None
    resumed_from: int = 0  # the checkpoint's epoch when an interrupted run was continued
    epochs_trained: int = 0  # epochs trained by this sweep run (fewer than train.epochs when resumed)

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "index": self.index, "config": self.config, "status": self.status,
                "reason": self.reason, "engine": self.engine, "engine_reason": self.engine_reason,
                "final": self.final, "run_id": self.run_id, "skipped": self.skipped,
                "resumed_from": self.resumed_from, "epochs_trained": self.epochs_trained}


@dataclass
class SweepResult:
    sweep_id: str
    executor: str
    points: list[PointReport]
    seconds: float
    out: str | None = None
    dry_run: bool = False
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def new_runs(self) -> int:
        """Points this sweep trained from the start (a point continued from a checkpoint is ``resumed``)."""
        return sum(1 for p in self.points if p.run_id is not None and not p.skipped and not p.resumed_from)

    @property
    def resumed(self) -> int:
        """Interrupted points this sweep continued from their checkpoints."""
        return sum(1 for p in self.points if p.run_id is not None and not p.skipped and p.resumed_from)

    @property
    def skipped(self) -> int:
        return sum(1 for p in self.points if p.skipped)

    def to_json(self) -> dict[str, Any]:
        return strict_json({"sweep_id": self.sweep_id, "executor": self.executor, "dry_run": self.dry_run,
                            "points": [p.to_json() for p in self.points], "new_runs": self.new_runs,
                            "resumed": self.resumed, "skipped": self.skipped, "seconds": self.seconds,
                            "out": self.out})


def _versions() -> dict[str, str]:
    return {"reglab": __version__, "torch": torch.__version__, "python": platform.python_version()}


def _done_runs(store: RunStore) -> dict[str, dict[str, Any]]:
    """config hash → the run that settles it: a finished deterministic one, else one still being trained."""
    found: dict[str, dict[str, Any]] = {}
    for run in sorted(store.list_runs(), key=lambda r: r["created_at"]):
        if run["status"] in DONE_STATUSES:
            found[run["config_hash"]] = run
        elif run["status"] in ("created", "running") and found.get(run["config_hash"], {}).get("status") not in \
                DONE_STATUSES:
            found[run["config_hash"]] = run  # its owner is alive (dead owners read as interrupted)
    return found


def _unit_of(units: list[WorkUnit]) -> dict[int, WorkUnit]:
    return {m.index: unit for unit in units for m in unit.members}


def plan_sweep(sweep: Sweep, *, out: str | os.PathLike | None = DEFAULT_OUT, max_members: int | None = None,
               engine: str = "vectorized") -> tuple[list[WorkUnit], list[PointReport]]:
    """The units still to train and a report for every point (``planned``, or the stored run that settles it)."""
    done = _done_runs(RunStore(out)) if out is not None and Path(out, "runs.db").exists() else {}
    todo = [p for p in sweep.points if p.id not in done]
    units = plan_units(todo, max_members=max_members, engine=engine)
    by_index = _unit_of(units)
    reports = []
    for point in sweep.points:
        run = done.get(point.id)
        if run is not None:
            live = run["status"] not in DONE_STATUSES
            reports.append(PointReport(point.index, point.id, point.values, run["status"],
                                       "being trained by another process" if live else run["reason"], "stored",
                                       f"already in the store as run {run['id']}", run.get("final"), run["id"],
                                       skipped=True))
        else:
            unit = by_index[point.index]
            reports.append(PointReport(point.index, point.id, point.values, "planned", None, unit.engine,
                                       unit.reason, None))
    return units, reports


def run_sweep(sweep: Sweep, *, out: str | os.PathLike = DEFAULT_OUT, executor: str | Executor = "auto",
              workers: int = 1, scheduler: str | None = None, max_members: int | None = None,
              engine: str = "vectorized", progress: ProgressFn | None = None,
              argv: list[str] | None = None) -> SweepResult:
    """Train every point of ``sweep`` not yet done in ``out``; return one report per point.

    ``executor`` is ``"auto"``, ``"vectorized"`` (in this process), ``"process"``
    (``workers`` local processes), ``"dask"`` (a local cluster of ``workers``, or
    the ``scheduler`` at that address) or an :class:`Executor`. ``engine`` and
    ``max_members`` shape the plan (:func:`reglab.sweep.plan_units`). ``progress(done, total,
    text)`` is called as points finish (and, in process, after each epoch of a pass).

    >>> import tempfile
    >>> from reglab.sweep import parse_sweep
    >>> sweep = parse_sweep({"data": {"n_train": 50}, "model": {"hidden": [4]}, "train": {"epochs": 1},
    ...                      "sweep": {"train.seed": [0, 1]}})
    >>> result = run_sweep(sweep, out=tempfile.mkdtemp(), executor="vectorized")
    >>> [p.status for p in result.points], [p.engine for p in result.points]
    (['completed', 'completed'], ['vectorized', 'vectorized'])
    """
    start = time.perf_counter()
    store = RunStore(out)
    units, reports = plan_sweep(sweep, out=out, max_members=max_members, engine=engine)
    by_index = {r.index: r for r in reports}
    total, done = len(reports), sum(1 for r in reports if r.skipped)
    state = {"pass": 0}

    def tell(text: str = "") -> None:
        if progress is not None:
            progress(done, total, text)

    def epoch_progress(epoch: int, epochs: int) -> None:
        tell(f"pass {state['pass']}/{len(units)}: epoch {epoch}/{epochs}")

    runner = executor if isinstance(executor, Executor) else make_executor(
        executor, workers, n_units=len(units), scheduler=scheduler, epoch_progress=epoch_progress)
    points = {p.index: p for p in sweep.points}
    interrupted = {r["config_hash"] for r in store.list_runs() if r["status"] == "interrupted"} if units else set()
    opened: dict[int, str] = {}  # point index → run id, created but not yet recorded
    tell()
    try:
        with runner:
            pending = list(units)
            in_flight: dict[Any, WorkUnit] = {}
            while pending or in_flight:
                while pending and len(in_flight) < runner.capacity:
                    unit = pending.pop(0)
                    state["pass"] += 1
                    unit = unit.with_run_dirs(_open_runs(store, sweep, unit, points, opened, argv, interrupted))
                    in_flight[runner.submit(unit)] = unit
                for future in runner.wait_first(in_flight):
                    unit = in_flight.pop(future)
                    for outcome in _outcomes(runner, future, unit):
                        report = by_index[outcome.index]
                        _record(store, report, outcome, opened.pop(outcome.index))
                        done += 1
                        tell(f"{report.status}: point {outcome.index + 1}")
    except BaseException:
        for index, run_id in opened.items():
            _best_effort(lambda run_id=run_id: store.finish(
                run_id, "interrupted", "the sweep was interrupted (Ctrl-C, SIGTERM or an error) before this "
                "point finished; rerun the sweep to train it", None, 0.0))
            by_index[index].status = "interrupted"
        raise
    return SweepResult(sweep.id, runner.name, reports, time.perf_counter() - start, str(out))


def _outcomes(runner: Executor, future: Any, unit: WorkUnit) -> list[PointOutcome]:
    from reglab.sweep._engine import MemberResult, _final

    try:
        return runner.result(future)
    except WorkerLost as exc:
        return [PointOutcome(m.index, unit.engine, unit.reason,
                             MemberResult("failed", f"{exc}; rerun the sweep to train it", [], _final([]), [], 0.0,
                                          "internal")) for m in unit.members]


def _open_runs(store: RunStore, sweep: Sweep, unit: WorkUnit, points: dict[int, GridPoint],
               opened: dict[int, str], argv: list[str] | None, interrupted: set[str]) -> dict[int, str]:
    """Create each member's run (folder, config.toml, a ``created`` row); return index → run folder.

    A point with an interrupted run (``interrupted``: config hashes) whose folder holds a
    checkpoint gets that run back instead, and its trainer continues from the checkpoint.
    """
    dirs = {}
    for member in unit.members:
        point = points[member.index]
        resumed = _resumable(store, point.id) if point.id in interrupted else None
        if resumed is not None:  # an interrupted run left a checkpoint: its trainer continues from there
            store.mark_running(resumed, [])
            opened[member.index] = resumed
            dirs[member.index] = str(store.run_dir(resumed))
            continue
        run_id = f"{point.id[:8]}-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}-{secrets.token_hex(2)}"
        run_dir = store.run_dir(run_id)
        run_dir.mkdir(parents=True)
        lock = RunLock(run_dir)
        lock.acquire()  # a fresh folder; held while the run becomes visible, released for its trainer
        try:
            store.create_run(run_id, config=point.config.model_dump(mode="json"), config_hash=point.id,
                             name=point.config.name, versions=_versions(),
                             device=_device(point.config.train.device),
                             tags={"sweep": sweep.id, "sweep_point": point.index, "axes": point.values,
                                   "argv": list(argv or [])})
            (run_dir / "config.toml").write_text(config_to_toml(point.config), encoding="utf-8")
            store.mark_running(run_id, [])  # 'running' while its unit is out; the penalized names come back with it
        except BaseException:
            shutil.rmtree(run_dir, ignore_errors=True)
            raise
        finally:
            lock.release()
        opened[member.index] = run_id
        dirs[member.index] = str(run_dir)
    return dirs


def _resumable(store: RunStore, config_hash: str) -> str | None:
    """The interrupted run of this config whose folder holds a checkpoint and no live owner, if any."""
    run = store.find_resumable(config_hash)
    if run is None or run["status"] != "interrupted" or not (store.run_dir(run["id"]) / CHECKPOINT).exists():
        return None
    lock = RunLock(store.run_dir(run["id"]))
    if not lock.acquire():
        return None
    lock.release()
    return run["id"]


def _device(name: str) -> str:
    """The device the run will use; a device that is missing here is the worker's error to report, not ours."""
    try:
        return str(resolve_device(name))
    except ValueError:
        return name


def _record(store: RunStore, report: PointReport, outcome: PointOutcome, run_id: str) -> None:
    result = outcome.result
    store.mark_running(run_id, result.penalized)
    store.record_epochs(run_id, result.history, len(result.history))
    store.finish(run_id, result.status, result.reason, result.final, result.duration_s)
    report.status, report.reason, report.final = result.status, result.reason, result.final
    report.engine, report.engine_reason, report.run_id = outcome.engine, outcome.engine_reason, run_id
    report.error_kind = result.error_kind
    report.resumed_from, report.epochs_trained = result.resumed_from, len(result.history) - result.resumed_from


def _best_effort(write: Callable[[], None]) -> None:
    try:
        write()
    except Exception:  # the interruption is what the user must see
        pass
