"""A Dask worker killed (SIGKILL) while it trains a unit: only that unit is trained again, elsewhere.

The test starts its own ``LocalCluster`` on 127.0.0.1, hands its address to the sweep
(``scheduler=``), watches the run folders' locks to find the worker process that holds
a unit, kills it, and checks that the sweep still completes every point with the finals
of an uninterrupted in-process sweep, each point in one run, and no process left behind.
"""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from reglab.store import RunStore, owner_alive, owner_pid
from reglab.sweep import parse_sweep, run_sweep

BASE = {"data": {"name": "digits", "n_train": 200}, "model": {"hidden": [16]},
        "train": {"epochs": 3, "batch_size": 10, "device": "cpu", "dtype": "float64"},
        "regularizer": [{"kind": "l2", "alpha": 1e-3}]}
AXES = {"model.hidden": [[16], [12]], "train.seed": [0, 1]}  # two units of two members


def _held_by(out, pids: set[int]) -> dict[str, int]:
    """Run folder → PID, for the folders a process in ``pids`` holds the lock of right now."""
    held = {}
    for run_dir in (out / "runs").glob("*"):
        pid = owner_pid(run_dir)
        if pid in pids and owner_alive(run_dir):
            held[str(run_dir)] = pid
    return held


@pytest.mark.slow
def test_a_killed_dask_worker_loses_only_its_unit_which_reruns_on_another(tmp_path):
    pytest.importorskip("distributed")
    psutil = pytest.importorskip("psutil")
    import logging

    from distributed import Client, LocalCluster

    sweep = parse_sweep({**BASE, "sweep": AXES})
    out = tmp_path / "dask"
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                           dashboard_address=None, silence_logs=logging.ERROR)
    try:
        with Client(cluster) as client:
            workers = set(client.run(os.getpid).values())
            result: dict = {}
            thread = threading.Thread(target=lambda: result.update(
                sweep=run_sweep(sweep, out=out, executor="dask", scheduler=cluster.scheduler_address)))
            thread.start()
            deadline, held = time.monotonic() + 60, {}
            while not held and thread.is_alive() and time.monotonic() < deadline:
                held = _held_by(out, workers) if (out / "runs").exists() else {}
                time.sleep(0.02)
            assert held, "no worker was seen holding a unit"
            victim = next(iter(held.values()))
            os.kill(victim, signal.SIGKILL)
            thread.join(timeout=120)
            assert not thread.is_alive()
    finally:
        cluster.close()
    done = result["sweep"]
    assert [p.status for p in done.points] == ["completed"] * len(sweep)
    # one run per point: the lost unit was trained again in the run folders the driver gave it
    runs = RunStore(out).list_runs()
    assert len(runs) == len(sweep) and {r["status"] for r in runs} == {"completed"}
    victim_dirs = [d for d, pid in held.items() if pid == victim]
    assert victim_dirs and all(owner_pid(d) not in (None, victim) for d in victim_dirs)  # trained elsewhere
    whole = run_sweep(sweep, out=tmp_path / "here", executor="vectorized")
    assert [p.final for p in done.points] == [p.final for p in whole.points]
    left = [" ".join(p.cmdline()) for p in psutil.Process().children(recursive=True)
            if "multiprocessing.resource_tracker" not in " ".join(p.cmdline())]
    assert left == [], left
