"""Executors: where work units run. The driver (:func:`reglab.sweep.run_sweep`) alone writes the store.

An executor has a ``capacity`` (units in flight at once), ``submit(unit)``
returning a future-like object (``result()``; ``done()``), ``wait_first(futures)``
returning those that are done, and ``close(cancel)``. That is all the driver
uses, so a Dask executor (``distributed.Client.submit`` / ``distributed.wait``
with ``return_when="FIRST_COMPLETED"``) slots in with the same shape.

* :class:`InProcessExecutor` (``--executor vectorized``): runs each unit in the
  driver's process when it is submitted, reporting the current pass's epochs.
* :class:`ProcessExecutor` (``--executor process --workers N``): a local pool of
  ``spawn``-ed processes, each with ``max(1, cpus // N)`` torch threads; workers
  ignore SIGINT (the driver stops them), and a worker that dies fails only the
  units it and its pool held, which a rerun of the sweep trains again.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import os
import signal
from abc import ABC, abstractmethod
from typing import Any, Callable, Iterable

from reglab.sweep._plan import WorkUnit
from reglab.sweep._work import PointOutcome, run_unit

__all__ = ["Executor", "InProcessExecutor", "ProcessExecutor", "make_executor", "EXECUTORS", "WorkerLost"]

EXECUTORS = ("auto", "vectorized", "process")


class WorkerLost(RuntimeError):
    """The process that held a unit died before it returned (killed, or out of memory)."""


class Executor(ABC):
    """Runs work units; see the module docstring for the interface the driver relies on."""

    name = "executor"
    capacity = 1

    def start(self) -> None:
        """Acquire resources (processes, a cluster); called once before the first submit."""

    @abstractmethod
    def submit(self, unit: WorkUnit) -> Any:
        """Start ``unit``; return a future whose ``result()`` is ``list[PointOutcome]``."""

    def wait_first(self, futures: Iterable[Any]) -> set[Any]:
        done, _ = cf.wait(list(futures), return_when=cf.FIRST_COMPLETED)
        return set(done)

    def result(self, future: Any) -> list[PointOutcome]:
        """The unit's outcomes; :class:`WorkerLost` when its worker died."""
        return future.result()

    def close(self, cancel: bool = False) -> None:
        """Release resources; with ``cancel``, stop running work now."""

    def __enter__(self) -> "Executor":
        self.start()
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        self.close(cancel=exc_type is not None)


class InProcessExecutor(Executor):
    """Train each unit in this process, at submit time (the vectorized engine needs no more)."""

    name = "vectorized"

    def __init__(self, epoch_progress: Callable[[int, int], None] | None = None) -> None:
        self.epoch_progress = epoch_progress

    def submit(self, unit: WorkUnit) -> cf.Future:
        future: cf.Future = cf.Future()
        future.set_result(run_unit(unit, self.epoch_progress))
        return future


def _init_worker(threads: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole process group: the driver decides
    import torch

    torch.set_num_threads(threads)


class ProcessExecutor(Executor):
    """A local pool of ``workers`` processes; one unit per worker at a time."""

    name = "process"

    def __init__(self, workers: int = 2, threads: int | None = None) -> None:
        if workers < 1:
            raise ValueError("workers must be >= 1")
        self.capacity = workers
        self.threads = threads or max(1, (os.cpu_count() or 1) // workers)
        self._pool: cf.ProcessPoolExecutor | None = None
        self._generation = 0  # bumped when a broken pool is replaced
        self._born: dict[int, int] = {}  # id(future) -> generation of the pool it was submitted to

    def start(self) -> None:
        self._pool = cf.ProcessPoolExecutor(max_workers=self.capacity, mp_context=multiprocessing.get_context("spawn"),
                                            initializer=_init_worker, initargs=(self.threads,))

    def submit(self, unit: WorkUnit) -> cf.Future:
        if self._pool is None:
            self.start()
        assert self._pool is not None
        future = self._pool.submit(run_unit, unit)
        self._born[id(future)] = self._generation
        return future

    def result(self, future: cf.Future) -> list[PointOutcome]:
        born = self._born.pop(id(future), self._generation)
        try:
            return future.result()
        except cf.process.BrokenProcessPool as exc:
            if born == self._generation:  # the other units of that pool fail too, without a second restart
                self._restart()
            raise WorkerLost(f"the worker process died before it returned ({exc})") from None

    def _restart(self) -> None:
        self.close(cancel=True)
        self._generation += 1
        self.start()

    def close(self, cancel: bool = False) -> None:
        pool, self._pool = self._pool, None
        if pool is None:
            return
        if cancel:
            processes = list(getattr(pool, "_processes", {}).values())  # no public way to stop running tasks
            pool.shutdown(wait=False, cancel_futures=True)
            for proc in processes:
                if proc.is_alive():
                    proc.terminate()
            for proc in processes:
                proc.join(timeout=5)
        else:
            pool.shutdown(wait=True)


def make_executor(name: str, workers: int = 1, *, n_units: int = 1,
                  epoch_progress: Callable[[int, int], None] | None = None) -> Executor:
    """``auto``: a process pool when ``workers > 1`` and there is more than one unit, else in process."""
    if name not in EXECUTORS:
        from reglab.errors import ConfigError

        raise ConfigError(f"--executor must be one of {', '.join(EXECUTORS)}; got {name!r}", field="--executor")
    if name == "auto":
        name = "process" if workers > 1 and n_units > 1 else "vectorized"
    if name == "process":
        return ProcessExecutor(workers)
    return InProcessExecutor(epoch_progress)
