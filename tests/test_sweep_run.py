"""Running sweeps: the store, resuming, fault isolation, interruption, executors, the command."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from reglab.store import RunLock, RunStore
from reglab.sweep import parse_sweep, run_sweep
from reglab.train import train

DIGITS = {"data": {"name": "digits", "n_train": 120}, "model": {"hidden": [8]},
          "train": {"epochs": 2, "batch_size": 32, "device": "cpu", "dtype": "float64"},
          "regularizer": [{"kind": "l2", "alpha": 1e-3}]}
REGRESSION = {"data": {"name": "linear", "dim": 5, "n": 100, "n_test": 50}, "model": {"kind": "linear"},
              "train": {"epochs": 4, "batch_size": 10, "device": "cpu", "dtype": "float64", "lr": 0.05},
              "regularizer": [{"kind": "l2", "alpha": 1e-2}]}


def sweep(axes, base=DIGITS):
    return parse_sweep({**base, "sweep": axes})


def test_results_are_stored_by_the_driver_and_a_rerun_adds_nothing(tmp_path):
    s = sweep({"regularizer.0.alpha": [0.0, 1e-2], "regularizer.0.kind": ["l2", "l1_prox"]})
    result = run_sweep(s, out=tmp_path, executor="vectorized")
    assert [p.status for p in result.points] == ["completed"] * 4
    assert {p.engine for p in result.points} == {"vectorized"}
    assert (result.new_runs, result.skipped) == (4, 0)
    store = RunStore(tmp_path)
    runs = {r["id"]: r for r in store.list_runs()}
    for point in result.points:
        run = runs[point.run_id]
        assert run["config_hash"] == point.id and run["status"] == "completed"
        assert run["tags"]["sweep"] == s.id and run["tags"]["axes"] == point.config
        assert run["final"] == point.final
        ref = train(s.points[point.index].config)  # the stored history is the separate run's, to 1e-6
        stored = store.metrics(point.run_id)
        assert [m["test_loss"] for m in stored] == pytest.approx([h["test_loss"] for h in ref.history], rel=1e-6)
        lock = RunLock(store.run_dir(point.run_id))  # the trainer let go of its run folder
        assert lock.acquire()
        lock.release()
    again = run_sweep(s, out=tmp_path, executor="vectorized")
    assert (again.new_runs, again.skipped) == (0, 4)
    assert [p.final for p in again.points] == [p.final for p in result.points]
    assert len(RunStore(tmp_path).list_runs()) == 4


def test_a_point_that_diverges_and_points_that_raise_do_not_stop_the_others(tmp_path):
    s = sweep({"regularizer.0.mask": ["weights", ["no_such_parameter"]], "train.lr": [0.05, 1e5],
               "train.seed": [0, 1]}, base=REGRESSION)
    result = run_sweep(s, out=tmp_path, executor="vectorized")
    by = {(p.config["regularizer.0.mask"] == "weights", p.config["train.lr"]): [] for p in result.points}
    for p in result.points:
        by[(p.config["regularizer.0.mask"] == "weights", p.config["train.lr"])].append(p)
    assert [p.status for p in by[(True, 0.05)]] == ["completed"] * 2
    assert [p.status for p in by[(True, 1e5)]] == ["diverged"] * 2
    assert all("non-finite training loss" in p.reason for p in by[(True, 1e5)])
    failed = by[(False, 0.05)] + by[(False, 1e5)]
    assert [p.status for p in failed] == ["failed"] * 4
    assert all("no_such_parameter" in p.reason and "matches no parameter" in p.reason for p in failed)
    assert all("the vectorized pass failed" in p.engine_reason for p in failed)  # retried one by one
    stored = {r["id"]: r for r in RunStore(tmp_path).list_runs()}
    assert [stored[p.run_id]["status"] for p in result.points] == [p.status for p in result.points]
    assert all(stored[p.run_id]["reason"] == p.reason for p in result.points)
    rerun = run_sweep(s, out=tmp_path, executor="vectorized")  # done = completed or diverged; failed retried
    assert rerun.skipped == 4 and rerun.new_runs == 4


def test_an_interrupted_sweep_keeps_what_finished_and_its_rerun_matches_an_uninterrupted_one(tmp_path):
    s = sweep({"model.hidden": [[8], [6]], "train.seed": [0, 1]})

    def stop_in_second_pass(done, total, text):
        if text.startswith("pass 2/2"):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_sweep(s, out=tmp_path / "a", executor="vectorized", progress=stop_in_second_pass)
    runs = RunStore(tmp_path / "a").list_runs()
    assert sorted(r["status"] for r in runs) == ["completed", "completed", "interrupted", "interrupted"]
    resumed = run_sweep(s, out=tmp_path / "a", executor="vectorized")
    assert (resumed.skipped, resumed.new_runs, resumed.resumed) == (2, 0, 2)  # continued from their checkpoints
    assert all(p.resumed_from > 0 for p in resumed.points if not p.skipped)
    whole = run_sweep(s, out=tmp_path / "b", executor="vectorized")
    assert [p.final for p in resumed.points] == [p.final for p in whole.points]


@pytest.mark.slow
def test_the_process_pool_gives_the_numbers_of_the_in_process_run(tmp_path):
    s = sweep({"model.hidden": [[8], [6]], "regularizer.0.alpha": [0.0, 1e-2], "train.seed": [0, 1]})
    here = run_sweep(s, out=tmp_path / "here", executor="vectorized")
    pool = run_sweep(s, out=tmp_path / "pool", executor="process", workers=2)
    assert pool.executor == "process"
    assert [p.status for p in pool.points] == ["completed"] * 8
    assert [p.final for p in pool.points] == [p.final for p in here.points]
    assert [p.engine for p in pool.points] == [p.engine for p in here.points]


def _reglab(*args):
    return subprocess.run([sys.executable, "-m", "reglab", "--threads", "1", *args], capture_output=True, text=True,
                          timeout=600, env={**os.environ, "COLUMNS": "200"})


@pytest.mark.slow
def test_the_command_on_the_example(tmp_path, repo_root):
    example = f"{repo_root}/examples/sweep_digits.toml"
    plan = _reglab("sweep", example, "--dry-run", "--json", "--out", str(tmp_path))
    assert plan.returncode == 0, plan.stderr
    doc = json.loads(plan.stdout)
    assert len(doc["points"]) == 20 and {p["status"] for p in doc["points"]} == {"planned"}
    args = ("sweep", example, "--set", "train.epochs=1", "--set", "data.n_train=200", "--json", "--out",
            str(tmp_path))
    first = _reglab(*args)
    assert first.returncode == 0, first.stderr
    doc = json.loads(first.stdout)
    assert set(doc) >= {"sweep_id", "points", "new_runs", "skipped", "seconds"}
    assert (doc["new_runs"], doc["resumed"], doc["skipped"]) == (20, 0, 0)
    point = doc["points"][0]
    assert set(point) >= {"id", "config", "status", "reason", "engine", "final"}
    assert point["config"] == {"regularizer.0.alpha": 1e-5, "regularizer.0.kind": "l2", "train.seed": 0}
    assert {p["status"] for p in doc["points"]} == {"completed"} and {p["engine"] for p in doc["points"]} == \
        {"vectorized"}
    assert "grid" in first.stderr  # the progress bar
    bad = _reglab("sweep", example, "--set", "train.lr=-1", "--json", "--out", str(tmp_path))
    assert bad.returncode == 2
    error = json.loads(bad.stdout)["error"]
    assert error["kind"] == "config" and "sweep point 1" in error["message"] and "train.lr" in error["message"]


KILL_SCRIPT = """
import os, signal, sys
from reglab.sweep import parse_sweep, run_sweep
base = {base!r}
sweep = parse_sweep({{**base, "sweep": {axes!r}}})

def progress(done, total, text):
    if text.startswith("pass 2/2: epoch 1"):
        os.kill(os.getpid(), signal.SIGKILL)  # no cleanup at all: the store must cope

run_sweep(sweep, out=sys.argv[1], executor="vectorized", progress=progress)
"""


@pytest.mark.slow
def test_a_sweep_killed_with_sigkill_and_rerun_gives_the_numbers_of_an_uninterrupted_one(tmp_path):
    axes = {"model.hidden": [[8], [6]], "train.seed": [0, 1]}
    script = KILL_SCRIPT.format(base=DIGITS, axes=axes)
    proc = subprocess.run([sys.executable, "-c", script, str(tmp_path / "a")], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == -9, proc.stderr
    runs = RunStore(tmp_path / "a").list_runs()  # the killed pass's runs have no live owner: interrupted
    assert sorted(r["status"] for r in runs) == ["completed", "completed", "interrupted", "interrupted"]
    s = sweep(axes)
    rerun = run_sweep(s, out=tmp_path / "a", executor="vectorized")
    assert (rerun.skipped, rerun.new_runs + rerun.resumed) == (2, 2)
    assert rerun.resumed == sum(1 for p in rerun.points if p.resumed_from > 0)
    whole = run_sweep(s, out=tmp_path / "b", executor="vectorized")
    assert [p.final for p in rerun.points] == [p.final for p in whole.points]
    assert [p.status for p in rerun.points] == ["completed"] * 4


@pytest.mark.slow
def test_dask_on_a_local_cluster_gives_the_same_numbers_and_leaves_no_process(tmp_path):
    pytest.importorskip("distributed")
    psutil = pytest.importorskip("psutil")
    s = sweep({"model.hidden": [[8], [6]], "train.seed": [0, 1]})
    here = run_sweep(s, out=tmp_path / "here", executor="vectorized")
    on_dask = run_sweep(s, out=tmp_path / "dask", executor="dask", workers=2)
    assert on_dask.executor == "dask"
    assert [p.final for p in on_dask.points] == [p.final for p in here.points]
    left = [" ".join(p.cmdline()) for p in psutil.Process().children(recursive=True)
            if "multiprocessing.resource_tracker" not in " ".join(p.cmdline())]  # the stdlib's, one per parent
    assert left == [], left


def test_the_engine_choice_changes_where_points_train_not_their_numbers(tmp_path):
    s = sweep({"train.seed": [0, 1], "regularizer.0.alpha": [0.0, 1e-2]})
    results = {engine: run_sweep(s, out=tmp_path / engine, executor="vectorized", engine=engine)
               for engine in ("vectorized", "separate", "auto")}
    assert {p.engine for p in results["vectorized"].points} == {"vectorized"}
    assert {p.engine for p in results["separate"].points} == {"separate"}
    auto = results["auto"].points
    assert len({p.engine for p in auto}) == 1 and all("chose vectorized" in p.engine_reason for p in auto)
    for engine in ("separate", "auto"):
        for got, want in zip(results[engine].points, results["vectorized"].points):
            assert got.final == pytest.approx(want.final, rel=1e-6)
