"""What a worker does with a work unit: train it, hold its run folders' locks, never touch the store.

:func:`run_unit` is a plain top-level function of picklable data in, picklable
data out, so a thread, a process pool or a Dask worker can run it alike. Faults
stay inside their point: a point that raises is returned as ``failed`` with its
reason; when a vectorized pass raises, its members are retrained one by one from the
start (the failed pass's checkpoints are dropped) through :func:`reglab.train.train`,
so only the point at fault fails.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from reglab.config import RunConfig, parse_config
from reglab.data import Splits, load_dataset
from reglab.errors import ReglabError
from reglab.store import RunLock, owner_pid
from reglab.store._folder import RunFolder
from reglab.sweep._checkpoint import checkpoint_epoch
from reglab.sweep._engine import PROBE_STEPS, MemberResult, SeparateIsFaster, _final, train_vectorized
from reglab.sweep._plan import Member, WorkUnit
from reglab.train import CHECKPOINT, Trainer, train

__all__ = ["PointOutcome", "run_unit"]


@dataclass
class PointOutcome:
    """The result of one grid point and which engine produced it (and why)."""

    index: int
    engine: str
    engine_reason: str
    result: MemberResult


ProgressFn = Callable[[int, int], None]


def run_unit(unit: WorkUnit, progress: ProgressFn | None = None, *, keep_models: bool = False) -> list[PointOutcome]:
    """Train one unit; one outcome per member, in the unit's order.

    ``keep_models``: each completed (or diverged, when it ran separately) point's result carries its
    trained network (``result.model``), for a caller in the same process.

    A member whose run folder holds a checkpoint (an interrupted point the driver
    handed back) continues from it, in a pass with the members stopped at the same epoch.
    """
    with _locked(unit.members) as refused:
        outcomes = {m.index: PointOutcome(m.index, unit.engine, unit.reason, r) for m, r in refused}
        members = [m for m in unit.members if m.index not in outcomes]
        starts = {m.index: checkpoint_epoch(m.run_dir) for m in members}
        resumed = any(starts.values())
        engine, reason = unit.engine, unit.reason
        data = _SharedSplits(members, keep_models)
        if engine == "auto" and len(members) > 1 and not resumed:
            outcomes.update(_auto(members, reason, progress, data))
        elif engine in ("vectorized", "auto") and (len(members) > 1 or resumed):
            outcomes.update(_vectorized(members, starts, reason, progress, data))
        else:
            outcomes.update({m.index: PointOutcome(m.index, "separate", reason, _separate(m, progress, data))
                             for m in members})
    return [outcomes[m.index] for m in unit.members]


class _SharedSplits:
    """The unit's data, loaded once on first use (a unit of several members shares its data config),
    and whether the caller wants the trained networks back (``keep_models``)."""

    def __init__(self, members: list[Member], keep_models: bool = False) -> None:
        self.shared = len(members) > 1
        self.keep_models = keep_models
        self._splits: Splits | None = None

    def get(self, cfg: RunConfig) -> Splits | None:
        if not self.shared:
            return None  # the trainer loads it
        if self._splits is None:
            self._splits = load_dataset(cfg.data)
        return self._splits


def _auto(members: list[Member], reason: str, progress: ProgressFn | None,
          data: _SharedSplits) -> dict[int, PointOutcome]:
    """``--engine auto``: time a separate run's step, then start the pass and time its own first steps.

    The pass goes on when its steps beat M separate ones (nothing is trained twice);
    otherwise it stops there, having stored nothing, and the members train separately.
    A failure to time is left to the vectorized pass.
    """
    from reglab.sweep._timing import separate_step_seconds

    try:
        configs = [parse_config(m.config) for m in members]
        separate_s = separate_step_seconds(configs, data.get(configs[0]))
    except Exception:
        return _pass(members, reason, progress, data)
    timed: dict[str, float] = {}

    def probe(vectorized_s: float) -> bool:
        timed["vectorized"] = vectorized_s
        return vectorized_s < separate_s

    def why(choice: str) -> str:
        separate = f"{separate_s * 1e3:.2f} ms as separate runs, per step of all members"
        if not timed:
            return f"{reason}; the first epoch has too few steps to time the pass ({separate}); chose {choice}"
        return (f"{reason}; timed {PROBE_STEPS} steps: {timed['vectorized'] * 1e3:.2f} ms vectorized vs "
                f"{separate}; chose {choice}")

    try:
        outcomes = _pass(members, reason, progress, data, probe=probe, reraise=(SeparateIsFaster,))
    except SeparateIsFaster:
        return {m.index: PointOutcome(m.index, "separate", why("separate"), _separate(m, progress, data))
                for m in members}
    for outcome in outcomes.values():
        if outcome.engine == "vectorized":
            outcome.engine_reason = why("vectorized")
    return outcomes


def _vectorized(members: list[Member], starts: dict[int, int], reason: str, progress: ProgressFn | None,
                data: _SharedSplits) -> dict[int, PointOutcome]:
    """One pass per epoch the members' checkpoints stopped at (one pass when none was interrupted)."""
    by_start: dict[int, list[Member]] = {}
    for m in members:
        by_start.setdefault(starts[m.index], []).append(m)
    outcomes: dict[int, PointOutcome] = {}
    for start, group in sorted(by_start.items()):
        why = reason if start == 0 else (
            f"{reason}; resumed from the checkpoint of epoch {start}"
            + (f" with the {len(group) - 1} other point(s) stopped there" if len(group) > 1 else ", on its own"))
        outcomes.update(_pass(group, why, progress, data))
    return outcomes


def _pass(members: list[Member], reason: str, progress: ProgressFn | None, data: _SharedSplits, *,
          probe: Callable[[float], bool] | None = None,
          reraise: tuple[type[Exception], ...] = ()) -> dict[int, PointOutcome]:
    try:
        configs = [parse_config(m.config) for m in members]
        results = train_vectorized(configs, splits=data.get(configs[0]), progress=progress,
                                   run_dirs=[m.run_dir for m in members], probe=probe, keep_models=data.keep_models)
    except reraise:
        raise
    except Exception as exc:  # isolate the fault: each member on its own, so only the culprit fails
        why = f"the vectorized pass failed ({type(exc).__name__}: {exc}); each point ran separately from the start"
        return {m.index: PointOutcome(m.index, "separate", why, _separate(m, progress, data, fresh=True))
                for m in members}
    return {m.index: PointOutcome(m.index, "vectorized", reason, r) for m, r in zip(members, results)}


def _separate(member: Member, progress: ProgressFn | None, data: _SharedSplits, *,
              fresh: bool = False) -> MemberResult:
    """Train one point on its own, in its run folder (continuing from the folder's checkpoint, or with
    ``fresh`` from the start: after a failed pass, whose checkpoints are not trusted)."""
    start = time.perf_counter()
    if fresh and member.run_dir is not None:
        Path(member.run_dir, CHECKPOINT).unlink(missing_ok=True)
        RunFolder(member.run_dir).reset_metrics([])
    try:
        cfg = parse_config(member.config)
        epoch_progress = (lambda e, total, _metrics: progress(e, total)) if progress else None
        result = train(cfg, progress=epoch_progress, trainer=Trainer(cfg, splits=data.get(cfg)),
                       folder=member.run_dir)
    except ReglabError as exc:
        return MemberResult("failed", str(exc), [], _final([]), [], time.perf_counter() - start, "input")
    except Exception as exc:
        return MemberResult("failed", f"internal error {type(exc).__name__}: {exc}", [], _final([]), [],
                            time.perf_counter() - start, "internal")
    return MemberResult(result.status, result.reason, result.history, result.final, result.penalized,
                        time.perf_counter() - start, resumed_from=result.resumed_from,
                        model=result.model if data.keep_models else None)


@contextlib.contextmanager
def _locked(members: tuple[Member, ...]) -> Iterator[list[tuple[Member, MemberResult]]]:
    """Hold the lock of every member's run folder while training; members whose lock is taken are refused."""
    locks: list[RunLock] = []
    refused: list[tuple[Member, MemberResult]] = []
    try:
        for m in members:
            if m.run_dir is None:
                continue
            lock = RunLock(m.run_dir)
            if lock.acquire():
                locks.append(lock)
            else:
                why = f"its run folder {m.run_dir} is locked by another process (PID {owner_pid(m.run_dir)})"
                refused.append((m, MemberResult("failed", why, [], _final([]), [], 0.0, "input")))
        yield refused
    finally:
        for lock in locks:
            lock.release()
