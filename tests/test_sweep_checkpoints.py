"""Checkpoints inside a vectorized pass: the separate run's format, per-epoch metrics, resuming after a kill."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from reglab.config import parse_config
from reglab.store import RunStore
from reglab.store._folder import RunFolder
from reglab.sweep import VectorizedTrainer, parse_sweep, run_sweep
from reglab.train import Trainer, train

DIGITS = {"data": {"name": "digits", "n_train": 120}, "model": {"hidden": [8]},
          "train": {"epochs": 4, "batch_size": 32, "device": "cpu", "dtype": "float64", "lr": 0.05},
          "regularizer": [{"kind": "l2", "alpha": 1e-3}]}


def cfg(seed, optimizer="sgd", momentum=0.0, every=1, kind="l2"):
    reg = {"kind": kind, "wd": 1e-2} if kind == "weight_decay" else {"kind": kind, "alpha": 1e-3}
    return parse_config({**DIGITS, "train": {**DIGITS["train"], "seed": seed, "optimizer": optimizer,
                                             "momentum": momentum, "checkpoint_every": every},
                         "regularizer": [reg]})


def _same_structure(a, b, path="state"):
    """Same keys, the same types and tensor shapes/dtypes, all the way down (values may differ)."""
    assert type(a) is type(b), path
    if isinstance(a, dict):
        assert set(a) == set(b), (path, set(a) ^ set(b))
        for k in a:
            _same_structure(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, (list, tuple)) and path.endswith("history") is False:
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            _same_structure(x, y, f"{path}[{i}]")
    elif isinstance(a, torch.Tensor):
        assert (a.shape, a.dtype) == (b.shape, b.dtype), path


@pytest.mark.parametrize("optimizer, momentum, kind", [("sgd", 0.0, "l2"), ("sgd", 0.9, "l2"),
                                                       ("adamw", 0.0, "weight_decay")])
def test_members_write_the_separate_runs_checkpoint_and_resume_from_it(tmp_path, optimizer, momentum, kind):
    lr = 1e-2 if optimizer == "adamw" else 0.05
    configs = [parse_config({**cfg(s, optimizer, momentum, every=2, kind=kind).model_dump(),
                             "train": {**cfg(s, optimizer, momentum, every=2, kind=kind).train.model_dump(), "lr": lr}})
               for s in (0, 1)]
    dirs = [tmp_path / f"m{s}" for s in (0, 1)]
    for d in dirs:
        d.mkdir()
    interrupted = VectorizedTrainer(configs, run_dirs=[str(d) for d in dirs])
    for _ in range(3):  # checkpoints at epoch 2; epoch 3's metrics are written, its checkpoint is not due
        interrupted.run_epoch()
    assert [len(RunFolder(d).read_metrics()) for d in dirs] == [3, 3]

    for c, d in zip(configs, dirs):
        # the separate run's own checkpoint after 2 epochs: same structure, same numbers
        ref = train(parse_config({**c.model_dump(), "train": {**c.train.model_dump(), "epochs": 2}}),
                    out=tmp_path / "ref")
        want = torch.load(f"{ref.run_dir}/checkpoint.pt", weights_only=False)
        got = torch.load(d / "checkpoint.pt", weights_only=False)
        _same_structure(want, got)
        for name, t in want["model"].items():
            assert torch.allclose(got["model"][name], t, rtol=1e-9, atol=1e-12), name
        assert [h["test_loss"] for h in got["history"]] == pytest.approx([h["test_loss"] for h in want["history"]],
                                                                          rel=1e-9)
        # a Trainer continues from the member's checkpoint to the separate run's end
        trainer = Trainer(c)
        trainer.load_state_dict(got)
        whole = train(c)
        while trainer.epoch < c.train.epochs:
            trainer.run_epoch()
        assert trainer.history[-1]["test_loss"] == pytest.approx(whole.history[-1]["test_loss"], rel=1e-9)

    resumed = VectorizedTrainer(configs, run_dirs=[str(d) for d in dirs])
    assert resumed.resumed_from == 2 and resumed.epoch == 2
    results = resumed.run()
    for c, d, r in zip(configs, dirs, results):
        whole = train(c)
        assert r.resumed_from == 2 and len(r.history) == 4
        assert [h["test_loss"] for h in r.history] == pytest.approx([h["test_loss"] for h in whole.history], rel=1e-9)
        assert [m["epoch"] for m in RunFolder(d).read_metrics()] == [1, 2, 3, 4]
        lines = (d / "metrics.jsonl").read_text().splitlines()
        assert [json.loads(line)["epoch"] for line in lines] == [1, 2, 3, 4]  # epoch 3 of the killed pass dropped


KILL_SCRIPT = """
import os, signal, sys
from reglab.sweep import parse_sweep, run_sweep
sweep = parse_sweep({{**{base!r}, "sweep": {axes!r}}})

def progress(done, total, text):
    if text.endswith("epoch 3/4"):
        os.kill(os.getpid(), signal.SIGKILL)  # after epoch 3: checkpoints at 3 (every 1) and 2 (every 2)

run_sweep(sweep, out=sys.argv[1], executor="vectorized", progress=progress)
"""


@pytest.mark.slow
def test_a_sweep_killed_mid_pass_resumes_from_its_checkpoints(tmp_path):
    axes = {"train.seed": [0, 1, 2], "train.checkpoint_every": [1, 2]}
    proc = subprocess.run([sys.executable, "-c", KILL_SCRIPT.format(base=DIGITS, axes=axes), str(tmp_path / "a")],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == -9, proc.stderr
    killed = {r["id"]: r for r in RunStore(tmp_path / "a").list_runs()}
    assert {r["status"] for r in killed.values()} == {"interrupted"}

    s = parse_sweep({**DIGITS, "sweep": axes})
    rerun = run_sweep(s, out=tmp_path / "a", executor="vectorized")
    assert [p.status for p in rerun.points] == ["completed"] * 6
    assert {p.run_id for p in rerun.points} == set(killed)  # the interrupted runs were continued, not replaced
    every = {p.index: p.config["train.checkpoint_every"] for p in rerun.points}
    assert {p.index: p.resumed_from for p in rerun.points} == {i: 3 if e == 1 else 2 for i, e in every.items()}
    assert {p.index: p.epochs_trained for p in rerun.points} == {i: 1 if e == 1 else 2 for i, e in every.items()}
    assert all("resumed from the checkpoint of epoch" in p.engine_reason and "2 other point(s)" in p.engine_reason
               for p in rerun.points)
    assert len(RunStore(tmp_path / "a").list_runs()) == 6

    whole = run_sweep(s, out=tmp_path / "b", executor="vectorized")
    for got, want in zip(rerun.points, whole.points):
        assert got.final == pytest.approx(want.final, rel=1e-9)
    store = RunStore(tmp_path / "a")
    for p in rerun.points:
        assert [m["epoch"] for m in store.metrics(p.run_id)] == [1, 2, 3, 4]
        assert [m["epoch"] for m in store.folder(p.run_id).read_metrics()] == [1, 2, 3, 4]
        assert store.get_run(p.run_id)["epochs_done"] == 4


@pytest.mark.parametrize("separate_ms, engine", [(1e9, "vectorized"), (0.0, "separate")])
def test_auto_times_the_pass_own_first_steps_and_keeps_the_faster(tmp_path, monkeypatch, separate_ms, engine):
    """auto: a separate step is timed, then the pass's steps 2–4; it goes on or stops (storing nothing)."""
    import reglab.sweep._timing as timing

    measured = []
    real = timing.separate_step_seconds

    def fake(configs, splits=None, **kw):
        measured.append(real(configs, splits, **kw))  # the real measurement runs; the choice is forced
        return separate_ms / 1e3

    monkeypatch.setattr(timing, "separate_step_seconds", fake)
    base = {**DIGITS, "data": {"name": "digits", "n_train": 200}, "train": {**DIGITS["train"], "batch_size": 20,
                                                                            "epochs": 2}}
    s = parse_sweep({**base, "sweep": {"train.seed": [0, 1], "regularizer.0.alpha": [0.0, 1e-2]}})
    auto = run_sweep(s, out=tmp_path / "auto", executor="vectorized", engine="auto")
    assert measured and measured[0] > 0
    assert {p.engine for p in auto.points} == {engine}
    assert all("timed 5 steps" in p.engine_reason and f"chose {engine}" in p.engine_reason for p in auto.points)
    for p in auto.points:
        ref = train(s.points[p.index].config)
        assert p.final == pytest.approx(ref.final, rel=1e-6, nan_ok=True)
        rows = RunStore(tmp_path / "auto").metrics(p.run_id)
        assert [r["epoch"] for r in rows] == [1, 2]  # nothing left over from a stopped pass


def test_a_damaged_checkpoint_trains_the_member_from_the_start_in_its_folder(tmp_path):
    c = cfg(0)
    d = tmp_path / "m0"
    d.mkdir()
    (d / "checkpoint.pt").write_bytes(b"not a checkpoint")
    (d / "metrics.jsonl").write_text('{"epoch": 1, "test_loss": 123.0}\n{"epoch": 2, "test_lo')  # a killed pass's lines
    [result] = VectorizedTrainer([c], run_dirs=[str(d)]).run()
    whole = train(c)
    assert result.resumed_from == 0
    assert [h["test_loss"] for h in result.history] == pytest.approx([h["test_loss"] for h in whole.history], rel=1e-9)
    assert [m["test_loss"] for m in RunFolder(d).read_metrics()] == pytest.approx(
        [h["test_loss"] for h in whole.history], rel=1e-9)
    assert len(torch.load(d / "checkpoint.pt", weights_only=False)["history"]) == 4  # rewritten at each epoch


SEPARATE_KILL_SCRIPT = """
import os, signal, sys
from reglab.sweep import parse_sweep, run_sweep
sweep = parse_sweep({{**{base!r}, "sweep": {axes!r}}})
seen = []

def progress(done, total, text):
    seen.append(text)
    if text.endswith("epoch 3/4") and done == 1:
        os.kill(os.getpid(), signal.SIGKILL)  # the second point, after its epoch 3

run_sweep(sweep, out=sys.argv[1], executor="vectorized", engine="separate", progress=progress)
"""


@pytest.mark.slow
def test_a_separate_point_killed_mid_run_resumes_from_its_checkpoint(tmp_path):
    """Points that train one by one checkpoint in their run folders too; a rerun continues the killed one."""
    axes = {"train.seed": [0, 1, 2]}
    proc = subprocess.run([sys.executable, "-c", SEPARATE_KILL_SCRIPT.format(base=DIGITS, axes=axes),
                           str(tmp_path / "a")], capture_output=True, text=True, timeout=300)
    assert proc.returncode == -9, proc.stderr
    before = {r["id"]: r["status"] for r in RunStore(tmp_path / "a").list_runs()}
    assert sorted(before.values()) == ["completed", "interrupted"]  # the third point was never opened

    s = parse_sweep({**DIGITS, "sweep": axes})
    rerun = run_sweep(s, out=tmp_path / "a", executor="vectorized", engine="separate")
    assert [p.status for p in rerun.points] == ["completed"] * 3
    assert [p.skipped for p in rerun.points] == [True, False, False]
    assert rerun.points[1].run_id in before and before[rerun.points[1].run_id] == "interrupted"
    assert [(p.resumed_from, p.epochs_trained) for p in rerun.points[1:]] == [(3, 1), (0, 4)]
    assert {p.engine for p in rerun.points[1:]} == {"separate"}
    store = RunStore(tmp_path / "a")
    for p in rerun.points:
        ref = train(s.points[p.index].config)
        assert p.final == pytest.approx(ref.final, rel=1e-9, nan_ok=True)
        assert [m["epoch"] for m in store.folder(p.run_id).read_metrics()] == [1, 2, 3, 4]
        assert [m["epoch"] for m in store.metrics(p.run_id)] == [1, 2, 3, 4]


def test_train_into_a_folder_continues_from_its_checkpoint_or_starts_over(tmp_path):
    """``train(folder=...)``, what a sweep's worker calls for a point that trains on its own."""
    c = cfg(0)
    short = parse_config({**c.model_dump(), "train": {**c.train.model_dump(), "epochs": 2}})
    d = tmp_path / "run"
    d.mkdir()
    train(short, folder=d)
    assert [m["epoch"] for m in RunFolder(d).read_metrics()] == [1, 2]
    with open(d / "metrics.jsonl", "a") as fh:
        fh.write('{"epoch": 3, "test_loss": 9.0}\n')  # a killed run's epoch past its checkpoint
    whole = train(c)
    continued = train(c, folder=d)
    assert len(continued.history) == 4
    assert [h["test_loss"] for h in continued.history] == pytest.approx([h["test_loss"] for h in whole.history],
                                                                         rel=1e-9)
    assert [m["epoch"] for m in RunFolder(d).read_metrics()] == [1, 2, 3, 4]
    assert RunFolder(d).read_metrics()[2]["test_loss"] == pytest.approx(whole.history[2]["test_loss"], rel=1e-9)
    (d / "checkpoint.pt").write_bytes(b"damaged")
    again = train(c, folder=d)
    assert [h["test_loss"] for h in again.history] == pytest.approx([h["test_loss"] for h in whole.history], rel=1e-9)
