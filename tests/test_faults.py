"""Faults with real processes (issue 9): kill -9 in a checkpoint write, racing ``--resume``,
``--resume`` against a live run, a full disk. Nothing is lost and every state is told truly.

Processes run ``tests/_fault_runner.py``, which is ``python -m reglab`` with one fault injected
(a SIGKILL half-way through the N-th checkpoint write, or slow epochs so processes overlap).
"""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from _cli_harness import (
    ENV,
    Outcome,
    TINY_CONFIG,
    assert_no_traceback,
    error_document,
    invoke,
    run_document,
    run_process,
)

RUNNER = Path(__file__).with_name("_fault_runner.py")


def _config(tmp: Path, epochs: int) -> Path:
    path = tmp / "run.toml"
    path.write_text(TINY_CONFIG.replace("epochs = 1", f"epochs = {epochs}").replace("hidden = [8]", "hidden = [16]")
                    .replace("batch_size = 64", "batch_size = 32"), encoding="utf-8")
    return path


def _fault_process(args: list, **faults: str) -> subprocess.Popen:
    env = {**os.environ, **{k: v for k, v in ENV.items() if v is not None}, "OMP_NUM_THREADS": "1",
           **{f"REGLAB_FAULT_{k.upper()}": v for k, v in faults.items()}}
    env.pop("REGLAB_DATA", None)
    return subprocess.Popen([sys.executable, str(RUNNER), *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


def _reference(cfg: Path, tmp: Path) -> dict:
    """The uninterrupted run, in process (same code, one thread: the same numbers as a process)."""
    out = invoke(["train", cfg, "--out", tmp / "reference", "--json", "--quiet"])
    assert out.code == 0, repr(out)
    return run_document(out)


def _only_run_dir(out: Path) -> Path:
    dirs = [p for p in (out / "runs").iterdir() if p.is_dir()]
    assert len(dirs) == 1, dirs
    return dirs[0]


def _checkpoint_epochs(path: Path) -> int:
    return len(torch.load(path, map_location="cpu", weights_only=False)["history"])


def _status(out: Path, run_id: str) -> str:
    shown = invoke(["runs", "show", run_id, "--out", out, "--json"])
    assert shown.code == 0, repr(shown)
    return run_document(shown)["status"]


def _same_numbers(resumed: dict, full: dict) -> None:
    assert resumed["status"] == "completed", resumed
    assert resumed["final"] == full["final"]
    assert [h["train_loss"] for h in resumed["history"]] == [h["train_loss"] for h in full["history"]]


def _stop(procs: list[subprocess.Popen]) -> None:
    """Kill (by PID) the fault processes this test started that are still running."""
    for p in procs:
        if p.poll() is None:
            p.kill()
        p.communicate()


def _wait_for(predicate, proc: subprocess.Popen, what: str, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while not predicate():
        if proc.poll() is not None:
            raise AssertionError(f"the process ended (exit {proc.returncode}) before {what}:\n{proc.stderr.read()}")
        if time.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def test_sigkill_during_a_checkpoint_write_keeps_the_previous_one_and_resumes_to_the_same_numbers(tmp_path):
    cfg = _config(tmp_path, epochs=5)
    full = _reference(cfg, tmp_path)
    out = tmp_path / "killed"
    proc = _fault_process(["train", cfg, "--out", out, "--json", "--quiet"], kill_at_save="3")
    proc.communicate(timeout=300)
    assert proc.returncode == -signal.SIGKILL, "the runner should have killed itself in the third checkpoint write"
    run_dir = _only_run_dir(out)
    # the half-written file never replaced the checkpoint of epoch 2
    assert _checkpoint_epochs(run_dir / "checkpoint.pt") == 2
    problems = []
    status = _status(out, run_dir.name)
    if status != "interrupted":
        problems.append(f"a run killed by SIGKILL should show 'interrupted', shows {status!r}")
    resumed = run_process(["train", cfg, "--out", out, "--json", "--quiet", "--resume"])
    assert_no_traceback(resumed)
    assert resumed.code == 0, repr(resumed)
    _same_numbers(run_document(resumed), full)
    assert _status(out, run_dir.name) == "completed"
    assert not problems, problems


def test_two_resumes_racing_on_one_run_exactly_one_proceeds(tmp_path):
    cfg = _config(tmp_path, epochs=12)
    full = _reference(cfg, tmp_path)
    out = tmp_path / "race"
    killed = _fault_process(["train", cfg, "--out", out, "--quiet"], kill_at_save="2")
    killed.communicate(timeout=300)
    assert killed.returncode == -signal.SIGKILL
    args = ["train", cfg, "--out", out, "--json", "--quiet", "--resume"]
    release = tmp_path / "release"
    racers = [_fault_process(args, hold_until=str(release)) for _ in range(2)]
    try:
        # whoever owns the run holds before its next epoch; the other should give up meanwhile
        deadline = time.time() + 45
        while all(p.poll() is None for p in racers) and time.time() < deadline:
            time.sleep(0.05)
        release.touch()
        results = [(p, *p.communicate(timeout=300)) for p in racers]
    finally:
        _stop(racers)
    codes = sorted(p.returncode for p, _, _ in results)
    assert codes == [0, 2], [(p.returncode, err[-500:]) for p, _, err in results]
    (winner, won, _), = [r for r in results if r[0].returncode == 0]
    (loser, lost_out, lost_err), = [r for r in results if r[0].returncode == 2]
    assert "Traceback" not in lost_err + lost_out
    lost = Outcome(loser.returncode, lost_out, lost_err, None)
    assert str(winner.pid) in error_document(lost)["message"], f"the message should name the owner's PID\n{lost!r}"
    _same_numbers(json.loads(won), full)


def test_resume_refuses_a_run_that_a_live_process_is_training(tmp_path):
    """Issue 9 item 1: the original run must go on untouched; the intruder is told who owns it."""
    cfg = _config(tmp_path, epochs=10)
    full = _reference(cfg, tmp_path)
    out = tmp_path / "live"
    release = tmp_path / "release"
    owner = _fault_process(["train", cfg, "--out", out, "--json", "--quiet"], hold_until=str(release))
    try:
        _wait_for(lambda: any((out / "runs").glob("*/checkpoint.pt")), owner, "the first checkpoint")
        intruder = run_process(["train", cfg, "--out", out, "--quiet", "--resume"])
        release.touch()  # the owner, alive all along, may go on
        owner_out, owner_err = owner.communicate(timeout=300)
    finally:
        _stop([owner])
    assert_no_traceback(intruder)
    assert intruder.code == 2, repr(intruder)
    assert str(owner.pid) in intruder.stderr, f"the message should name the owner's PID {owner.pid}\n{intruder!r}"
    assert owner.returncode == 0, owner_err[-2000:]
    _same_numbers(json.loads(owner_out), full)


def test_disk_full_while_checkpointing_is_a_clean_error_and_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    """ENOSPC half-way through the third checkpoint write (in process: torch.save raises as a full disk does)."""
    cfg = _config(tmp_path, epochs=5)
    full = _reference(cfg, tmp_path)
    out = tmp_path / "full"
    original = torch.save
    seen = {"saves": 0, "previous": None}

    def save_until_the_disk_fills(obj, f, *args, **kwargs):
        name = str(getattr(f, "name", f))
        if "checkpoint" not in name:
            return original(obj, f, *args, **kwargs)
        seen["saves"] += 1
        if seen["saves"] < 3:
            return original(obj, f, *args, **kwargs)
        previous = next((out / "runs").glob("*/checkpoint.pt"))
        seen["previous"] = previous.read_bytes()
        if hasattr(f, "write"):
            f.write(b"\0" * 1000)  # what fitted before the disk filled
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), name)

    monkeypatch.setattr(torch, "save", save_until_the_disk_fills)
    failed = invoke(["train", cfg, "--out", out, "--json", "--quiet"])
    monkeypatch.setattr(torch, "save", original)
    assert_no_traceback(failed)
    assert failed.code == 2, repr(failed)
    err = error_document(failed)
    assert "No space left on device" in err["message"], err
    run_dir = _only_run_dir(out)
    assert seen["previous"] is not None
    assert (run_dir / "checkpoint.pt").read_bytes() == seen["previous"], "the previous checkpoint must stay intact"
    assert _checkpoint_epochs(run_dir / "checkpoint.pt") == 2
    assert _status(out, run_dir.name) != "running"
    # with space again, nothing is lost: the run resumes from epoch 2 to the uninterrupted numbers
    resumed = invoke(["train", cfg, "--out", out, "--json", "--quiet", "--resume"])
    assert resumed.code == 0, repr(resumed)
    _same_numbers(run_document(resumed), full)


@pytest.mark.parametrize("where", ["store", "run folder"])
def test_disk_full_when_a_run_starts_is_a_clean_error(tmp_path, monkeypatch, where):
    """ENOSPC before the first epoch: creating runs.db, or writing any file of the run folder."""
    import builtins
    import io
    import sqlite3

    cfg = _config(tmp_path, epochs=1)
    out = tmp_path / "results"
    if where == "store":
        def no_space(*args, **kwargs):
            raise sqlite3.OperationalError("database or disk is full")

        monkeypatch.setattr(sqlite3, "connect", no_space)
    else:
        original = io.open

        def open_on_a_full_disk(file, mode="r", *args, **kwargs):
            target = Path(os.fsdecode(file)) if isinstance(file, (str, bytes, os.PathLike)) else None
            if target is not None and out in target.absolute().parents and set(mode) & set("wax+"):
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(target))
            return original(file, mode, *args, **kwargs)

        monkeypatch.setattr(io, "open", open_on_a_full_disk)
        monkeypatch.setattr(builtins, "open", open_on_a_full_disk)
    failed = invoke(["train", cfg, "--out", out, "--quiet"])
    monkeypatch.undo()
    assert_no_traceback(failed)
    assert failed.code == 2, repr(failed)
    assert "full" in failed.stderr or "No space left on device" in failed.stderr, repr(failed)
