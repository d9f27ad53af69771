"""What a worker does with a work unit: train it, hold its run folders' locks, never touch the store.

:func:`run_unit` is a plain top-level function of picklable data in, picklable
data out, so a thread, a process pool or a Dask worker can run it alike. Faults
stay inside their point: a point that raises is returned as ``failed`` with its
reason; when a vectorized pass raises, its members are retrained one by one
through :func:`reglab.train.train`, so only the point at fault fails.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Callable

from reglab.config import parse_config
from reglab.errors import ReglabError
from reglab.store import RunLock, owner_pid
from reglab.sweep._engine import MemberResult, _final, train_vectorized
from reglab.sweep._plan import Member, WorkUnit
from reglab.train import train

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
    """
    with _locked(unit.members) as refused:
        outcomes = {m.index: PointOutcome(m.index, unit.engine, unit.reason, r) for m, r in refused}
        members = [m for m in unit.members if m.index not in outcomes]
        engine, reason = unit.engine, unit.reason
        if engine == "auto" and len(members) > 1:
            engine, reason = _choose(members, reason)
        if engine in ("vectorized", "auto") and len(members) > 1:
            outcomes.update(_vectorized(members, reason, progress, keep_models))
        else:
            outcomes.update({m.index: PointOutcome(m.index, "separate", reason, _separate(m, progress, keep_models))
                             for m in members})
    return [outcomes[m.index] for m in unit.members]


def _choose(members: list[Member], reason: str) -> tuple[str, str]:
    """``--engine auto``: time both engines on this unit; a failure to time is left to the vectorized pass."""
    from reglab.data import load_dataset
    from reglab.sweep._timing import time_engines

    try:
        configs = [parse_config(m.config) for m in members]
        timing = time_engines(configs, load_dataset(configs[0].data))
    except Exception:
        return "vectorized", reason
    return timing.choice, f"{reason}; {timing.describe()}"


def _vectorized(members: list[Member], reason: str, progress: ProgressFn | None,
                keep_models: bool = False) -> dict[int, PointOutcome]:
    try:
        configs = [parse_config(m.config) for m in members]
        results = train_vectorized(configs, progress=progress, keep_models=keep_models)
    except Exception as exc:  # isolate the fault: each member on its own, so only the culprit fails
        why = f"the vectorized pass failed ({type(exc).__name__}: {exc}); each point ran separately"
        return {m.index: PointOutcome(m.index, "separate", why, _separate(m, progress, keep_models))
                for m in members}
    return {m.index: PointOutcome(m.index, "vectorized", reason, r) for m, r in zip(members, results)}


def _separate(member: Member, progress: ProgressFn | None, keep_models: bool = False) -> MemberResult:
    start = time.perf_counter()
    try:
        cfg = parse_config(member.config)
        epoch_progress = (lambda e, total, _metrics: progress(e, total)) if progress else None
        result = train(cfg, progress=epoch_progress)
    except ReglabError as exc:
        return MemberResult("failed", str(exc), [], _final([]), [], time.perf_counter() - start, "input")
    except Exception as exc:
        return MemberResult("failed", f"internal error {type(exc).__name__}: {exc}", [], _final([]), [],
                            time.perf_counter() - start, "internal")
    return MemberResult(result.status, result.reason, result.history, result.final, result.penalized,
                        time.perf_counter() - start, model=result.model if keep_models else None)


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
