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
* :class:`DaskExecutor` (``--executor dask``): a ``dask.distributed.LocalCluster``
  of ``--workers`` processes bound to 127.0.0.1, or the scheduler at
  ``--scheduler tcp://HOST:PORT``, so a sweep moves to a cluster without changing
  its config. Dask reschedules the unit of a worker that dies on another worker,
  so only that unit is trained again. Needs the optional extra ``reglab[dask]``.
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

__all__ = ["Executor", "InProcessExecutor", "ProcessExecutor", "DaskExecutor", "make_executor", "EXECUTORS",
           "WorkerLost"]

EXECUTORS = ("auto", "vectorized", "process", "dask")


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
    """Train each unit in this process, at submit time (the vectorized engine needs no more).

    With ``keep_models``, every outcome is also kept in :attr:`outcomes` (point index →
    :class:`PointOutcome`) with the trained network in ``result.model``, for a caller in this
    process that goes on working with the models (an experiment, through
    :meth:`reglab.experiments.ExperimentContext.train_many`). ``on_submit(unit)`` is called
    before each unit trains (a progress display counts the passes with it).
    """

    name = "vectorized"

    def __init__(self, epoch_progress: Callable[[int, int], None] | None = None, *, keep_models: bool = False,
                 on_submit: Callable[[WorkUnit], None] | None = None) -> None:
        self.epoch_progress = epoch_progress
        self.keep_models = keep_models
        self.on_submit = on_submit
        self.outcomes: dict[int, PointOutcome] = {}

    def submit(self, unit: WorkUnit) -> cf.Future:
        if self.on_submit is not None:
            self.on_submit(unit)
        future: cf.Future = cf.Future()
        outcomes = run_unit(unit, self.epoch_progress, keep_models=self.keep_models)
        if self.keep_models:
            self.outcomes.update((o.index, o) for o in outcomes)
        future.set_result(outcomes)
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


def run_unit_with_threads(unit: WorkUnit, threads: int) -> list[PointOutcome]:
    """:func:`run_unit` with torch limited to ``threads`` threads (a Dask worker has no initializer)."""
    import torch

    from reglab.sweep._parallel import THREAD_COUNT_LOCK

    with THREAD_COUNT_LOCK:  # not while another task's pass holds its members at one thread each
        torch.set_num_threads(threads)
    return run_unit(unit)


class DaskExecutor(Executor):
    """Units as Dask tasks: on a local cluster on 127.0.0.1 of ``workers`` processes, or on ``scheduler``."""

    name = "dask"

    def __init__(self, workers: int = 2, scheduler: str | None = None, threads: int | None = None) -> None:
        if workers < 1:
            raise ValueError("workers must be >= 1")
        self.workers, self.scheduler = workers, scheduler
        self.capacity = workers
        self.threads = threads or max(1, (os.cpu_count() or 1) // workers)
        self._client: Any = None
        self._cluster: Any = None

    def start(self) -> None:
        from reglab.errors import ConfigError, RunError

        try:
            import logging

            from distributed import Client, LocalCluster
        except ImportError:
            raise ConfigError("--executor dask needs dask.distributed, an optional extra: "
                              "pip install 'reglab[dask]'", field="--executor") from None
        try:
            if self.scheduler:
                self._client = Client(self.scheduler, timeout="30s")
                self.capacity = max(1, sum(w.get("nthreads", 1) for w in
                                           self._client.scheduler_info()["workers"].values()))
            else:
                self._cluster = LocalCluster(n_workers=self.workers, threads_per_worker=1, processes=True,
                                             host="127.0.0.1", dashboard_address=None,
                                             silence_logs=logging.ERROR)
                self._client = Client(self._cluster)
        except OSError as exc:
            self.close()
            raise RunError(f"cannot reach the Dask scheduler {self.scheduler or '(local cluster)'}: {exc}",
                           field="--scheduler") from None

    def submit(self, unit: WorkUnit) -> Any:
        if self._client is None:
            self.start()
        return self._client.submit(run_unit_with_threads, unit, self.threads, pure=False)

    def wait_first(self, futures: Iterable[Any]) -> set[Any]:
        from distributed import wait

        done, _ = wait(list(futures), return_when="FIRST_COMPLETED")
        return set(done)

    def result(self, future: Any) -> list[PointOutcome]:
        from distributed import KilledWorker

        try:
            return future.result()
        except KilledWorker as exc:
            raise WorkerLost(f"Dask gave up on the unit after its workers died ({exc})") from None

    def close(self, cancel: bool = False) -> None:
        client, cluster, self._client, self._cluster = self._client, self._cluster, None, None
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()


def make_executor(name: str, workers: int = 1, *, n_units: int = 1, scheduler: str | None = None,
                  epoch_progress: Callable[[int, int], None] | None = None) -> Executor:
    """``auto``: a process pool when ``workers > 1`` and there is more than one unit, else in process.

    With a ``scheduler`` address, ``auto`` means Dask.
    """
    if name not in EXECUTORS:
        from reglab.errors import ConfigError

        raise ConfigError(f"--executor must be one of {', '.join(EXECUTORS)}; got {name!r}", field="--executor")
    if scheduler and name not in ("auto", "dask"):
        from reglab.errors import ConfigError

        raise ConfigError(f"--scheduler is for --executor dask, not {name!r}", field="--scheduler")
    if name == "auto":
        name = "dask" if scheduler else "process" if workers > 1 and n_units > 1 else "vectorized"
    if name == "dask":
        return DaskExecutor(workers, scheduler)
    if name == "process":
        return ProcessExecutor(workers)
    return InProcessExecutor(epoch_progress)
