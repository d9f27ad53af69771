"""``ExperimentContext.train_many``: a list of runs through the sweep engine equals ``ctx.train`` run by run.

The reference is each config trained on its own by ``ctx.train`` (a separate
``reglab.train.train`` run, stored in another results folder); float64 holds the
vectorized pass to 1e-6 relative of it.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from reglab.errors import ConfigError
from reglab.experiments import run_experiment
from reglab.experiments._base import ExperimentContext
from reglab.store import RunStore

KEYS = ("train_loss", "test_loss", "val_loss", "objective", "penalty", "weight_norm", "train_error", "test_error")


def _config(seed: int, alpha: float, *, kind: str = "l2", lr: float = 0.1) -> dict:
    return {"name": f"tiny {kind} α={alpha:g} seed={seed} lr={lr:g}",
            "data": {"name": "digits", "n_train": 120},
            "model": {"kind": "mlp", "hidden": [6], "activation": "tanh"},
            "train": {"epochs": 3, "seed": seed, "batch_size": 16, "lr": lr, "momentum": 0.9, "dtype": "float64"},
            "regularizer": [{"kind": kind, "alpha": alpha}]}


GRID = [_config(seed, alpha) for seed in (0, 1) for alpha in (0.0, 1e-3, 3e-2)] + [
    _config(0, 1e-3, kind="l1_prox"), _config(1, 0.0, lr=0.05)]


def _ctx(tmp_path, name: str, engine: str = "vectorized", log: list | None = None) -> ExperimentContext:
    root = tmp_path / name
    return ExperimentContext(name="tiny", out=root / "experiments" / "tiny", store_root=root, engine=engine,
                             log=(log.append if log is not None else (lambda m: None)))


def _close(a: float, b: float, rtol: float = 1e-6) -> bool:
    return abs(a - b) <= rtol * max(abs(a), abs(b), 1e-12)


def _assert_same_run(got, ref) -> None:
    assert got.status == ref.status and len(got.history) == len(ref.history)
    for row, row_ref in zip(got.history, ref.history):
        for key in KEYS:
            assert _close(row[key], row_ref[key]), (got.config.name, row["epoch"], key, row[key], row_ref[key])
    for (name, p), (name_ref, p_ref) in zip(got.model.named_parameters(), ref.model.named_parameters()):
        assert name == name_ref
        torch.testing.assert_close(p.detach().cpu(), p_ref.detach().cpu(), rtol=1e-6, atol=1e-9)
    assert got.penalized == ref.penalized and got.config == ref.config
    assert len(got.splits.train) == len(ref.splits.train)
    assert torch.equal(got.splits.test.x, ref.splits.test.x)
    x, y = ref.splits.test.x.double(), ref.splits.test.y
    with torch.no_grad():
        assert _close(float(got.loss_fn(ref.model(x), y)), float(ref.loss_fn(ref.model(x), y)), 1e-12)


@pytest.fixture(scope="module")
def separate(tmp_path_factory):
    ctx = _ctx(tmp_path_factory.mktemp("ref"), "separate")
    return [ctx.train(cfg) for cfg in GRID]


def test_train_many_equals_ctx_train_run_by_run_in_one_vectorized_pass(tmp_path, separate):
    log: list[str] = []
    ctx = _ctx(tmp_path, "many", log=log)
    runs = ctx.train_many(GRID)
    assert len(runs) == len(GRID)
    for got, ref in zip(runs, separate):
        _assert_same_run(got, ref)
    # the 7 configs with lr 0.1 share one pass; the one with another lr joins it (lr is per member)
    assert any(f"pass 1/1 (vectorized, {len(GRID)} runs)" in m for m in log), log
    assert any("epoch 3/3" in m for m in log) and log[-1] == f"runs {len(GRID)}/{len(GRID)} done"
    # every run is in the experiment's store, with the numbers returned
    store = RunStore(ctx.store_root)
    assert ctx.run_ids == [r.run_id for r in runs] and len(set(ctx.run_ids)) == len(GRID)
    for run in runs:
        record = store.get_run(run.run_id)
        assert record["status"] == "completed" and record["final"] == run.final
        assert store.metrics(run.run_id) == run.history
        # tagged as a sweep whose axes are the keys in which the configs differ (what `runs compare` groups by)
        axes = record["tags"]["axes"]
        assert set(axes) == {"regularizer.0.alpha", "regularizer.0.kind", "train.lr", "train.seed"}
        assert (axes["regularizer.0.alpha"], axes["train.seed"]) == (run.config.regularizer[0].alpha,
                                                                      run.config.train.seed)


def test_separate_engine_trains_each_run_alone_with_the_same_numbers(tmp_path, separate):
    log: list[str] = []
    runs = _ctx(tmp_path, "sep", engine="separate", log=log).train_many(GRID[:3])
    for got, ref in zip(runs, separate[:3]):
        _assert_same_run(got, ref)
    assert any("pass 3/3 (separate, 1 run)" in m for m in log), log


def test_a_second_call_reads_the_stored_runs_back_and_duplicates_share_a_run(tmp_path, separate):
    ctx = _ctx(tmp_path, "again")
    first = ctx.train_many(GRID[:2])
    ctx.train_many([GRID[1], GRID[0], GRID[1]])  # nothing new to train
    again = ctx.train_many([GRID[1], GRID[0], GRID[1]])
    assert len(RunStore(ctx.store_root).list_runs()) == 2
    assert [r.run_id for r in again] == [first[1].run_id, first[0].run_id, first[1].run_id]
    for got, ref in zip(again, [separate[1], separate[0], separate[1]]):
        _assert_same_run(got, ref)  # the model read back from the run's checkpoint


def test_a_member_that_diverges_is_reported_as_ctx_train_reports_it(tmp_path):
    grid = [_config(0, 1e-3), _config(0, 1e-3, lr=1e100)]
    ref = [_ctx(tmp_path, "ref").train(cfg) for cfg in grid]
    got = _ctx(tmp_path, "many").train_many(grid)
    assert [r.status for r in got] == [r.status for r in ref] == ["completed", "diverged"]
    _assert_same_run(got[0], ref[0])
    assert got[1].model is None and got[1].reason == ref[1].reason and "non-finite" in got[1].reason


def test_an_unknown_engine_is_a_config_error_naming_the_choices(tmp_path, monkeypatch):
    with pytest.raises(ConfigError, match="--engine must be one of vectorized, auto, separate"):
        run_experiment("mnist-weight-decay", tmp_path, quick=True, engine="fast")
    monkeypatch.setenv("REGLAB_EXPERIMENT_ENGINE", "fast")
    with pytest.raises(ConfigError, match="got 'fast'"):
        run_experiment("mnist-weight-decay", tmp_path, quick=True)
    proc = subprocess.run([sys.executable, "-m", "reglab", "experiment", "mnist-weight-decay", "--quick", "--engine",
                           "nope", "--json", "--out", str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "--engine" in proc.stderr and "Traceback" not in proc.stderr
    assert json.loads(proc.stdout)["error"]


def test_the_notes_weight_decay_grid_with_three_seeds_is_one_vectorized_pass_of_fifteen():
    from reglab.config import parse_config
    from reglab.experiments import mnist_weight_decay
    from reglab.sweep import plan_sweep, sweep_of

    configs = [parse_config(mnist_weight_decay._config(lam, seed, False)) for seed in range(3)
               for lam in mnist_weight_decay.LAMBDAS]
    units, _ = plan_sweep(sweep_of(configs), out=None)
    assert [(u.engine, len(u.members)) for u in units] == [("vectorized", 15)]
    assert configs[4].regularizer[0].alpha == 0.0 and configs[0].model.hidden == [512, 512]
