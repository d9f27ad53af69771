"""A run's state tells the truth: locks, interrupted runs, exit codes, a store rebuilt from its folders.

Each test reproduces one failure reported in issue 9 first (the behaviour before the
fix is named in the docstring) and asserts the documented behaviour.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from reglab.cli import main
from reglab.config import parse_config
from reglab.errors import ExitCode, RunLockedError
from reglab.store import RunFolder, RunLock, RunStore
from reglab.train import train

REGLAB = [sys.executable, "-m", "reglab"]
TINY = {"data": {"n_train": 120}, "model": {"hidden": [8]}, "train": {"epochs": 4, "batch_size": 32},
        "regularizer": [{"kind": "l2", "alpha": 1e-3}]}


def cli(capsys, *args: str) -> tuple[int, str, str]:
    """Run ``reglab ARGS`` in process; return (exit code, stdout, stderr)."""
    with pytest.raises(SystemExit) as exit_info:
        main([str(a) for a in args])
    out, err = capsys.readouterr()
    return int(exit_info.value.code or 0), out, err


def write_config(folder: Path, text: str | None = None, name: str = "run.toml") -> Path:
    path = folder / name
    path.write_text(text if text is not None else
                    '[data]\nn_train = 120\n[model]\nhidden = [8]\n[train]\nepochs = 3\nbatch_size = 32\n'
                    '[[regularizer]]\nkind = "l2"\nalpha = 1e-3\n', encoding="utf-8")
    return path


def interrupted_run(out: Path) -> str:
    """A stored run stopped by Ctrl-C after its first epoch (status interrupted, checkpoint at epoch 1)."""
    def stop(epoch, total, metrics):
        if epoch == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(parse_config(TINY), out=out, progress=stop)
    (record,) = RunStore(out).list_runs()
    return record["id"]


def test_ctrl_c_records_interrupted_and_resume_finishes_with_the_same_numbers(tmp_path):
    run_id = interrupted_run(tmp_path / "b")
    record = RunStore(tmp_path / "b").get_run(run_id)
    assert record["status"] == "interrupted" and record["epochs_done"] == 1
    assert RunFolder(RunStore(tmp_path / "b").run_dir(run_id)).read_record()["status"] == "interrupted"
    resumed = train(parse_config(TINY), out=tmp_path / "b", resume=True)
    whole = train(parse_config(TINY), out=tmp_path / "a")
    assert resumed.run_id == run_id and resumed.status == "completed"
    assert resumed.final == whole.final


def test_resume_is_refused_while_the_owner_lives_and_names_its_pid(tmp_path):
    """Before: --resume took over a run another live process was training (both wrote one checkpoint)."""
    run_id = interrupted_run(tmp_path)
    owner = RunLock(RunStore(tmp_path).run_dir(run_id))
    assert owner.acquire()  # this test process plays the live owner
    try:
        with pytest.raises(RunLockedError, match=rf"PID {os.getpid()}"):
            train(parse_config(TINY), out=tmp_path, resume=True)
        assert RunStore(tmp_path).get_run(run_id)["status"] == "interrupted"  # untouched by the refused resume
    finally:
        owner.release()
    assert train(parse_config(TINY), out=tmp_path, resume=True).status == "completed"


def _wait_for_epochs(folder: Path, epochs: int, proc: subprocess.Popen, timeout: float = 120.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        runs = list((folder / "runs").glob("*/metrics.jsonl"))
        if runs and len(runs[0].read_text().splitlines()) >= epochs:
            return
        time.sleep(0.05)
    raise AssertionError("the training process did not reach the expected epoch")


def test_a_sigkilled_run_shows_interrupted_and_a_live_one_running(tmp_path, repo_root):
    """Before: a run killed with SIGKILL showed ``running`` forever, like a live one."""
    cfg = write_config(tmp_path, '[data]\nn_train = 400\n[model]\nhidden = [64, 64]\n[train]\nepochs = 400\n'
                                 'batch_size = 8\n')
    out = tmp_path / "out"
    proc = subprocess.Popen([*REGLAB, "train", str(cfg), "--out", str(out), "--quiet"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for_epochs(out, 1, proc)
        (live,) = RunStore(out).list_runs()
        assert live["status"] == "running"
        racer = subprocess.run([*REGLAB, "train", str(cfg), "--out", str(out), "--resume", "--json"],
                               capture_output=True, text=True, timeout=120)
        assert racer.returncode == ExitCode.BAD_INPUT
        assert f"PID {proc.pid}" in racer.stderr and "Traceback" not in racer.stderr
        assert json.loads(racer.stdout)["error"]["kind"] == "run_locked"
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    (dead,) = RunStore(out).list_runs()
    assert dead["status"] == "interrupted" and f"PID {proc.pid}" in dead["reason"]


def test_sigterm_stops_a_run_as_interrupted_with_exit_4(tmp_path):
    cfg = write_config(tmp_path, '[data]\nn_train = 400\n[model]\nhidden = [64]\n[train]\nepochs = 400\n'
                                 'batch_size = 8\n')
    out = tmp_path / "out"
    proc = subprocess.Popen([*REGLAB, "train", str(cfg), "--out", str(out), "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for_epochs(out, 1, proc)
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == ExitCode.INTERRUPTED, stderr
    assert json.loads(stdout)["error"]["kind"] == "interrupted"
    (record,) = RunStore(out).list_runs()
    assert record["status"] == "interrupted" and "Traceback" not in stderr


def test_divergence_exits_3_with_and_without_json(tmp_path, capsys):
    """Before: divergence exited 1 without --json and 0 with it."""
    cfg = write_config(tmp_path)
    for extra in ([], ["--json"]):
        code, out, err = cli(capsys, "train", cfg, "--set", "train.lr=1e6", "--out", tmp_path / "o", *extra)
        assert code == ExitCode.DIVERGED, err
        if extra:
            assert json.loads(out)["status"] == "diverged"
    assert {r["status"] for r in RunStore(tmp_path / "o").list_runs()} == {"diverged"}


@pytest.mark.parametrize("value", ["[/b]", "[red]x", "[[regularizer]]"])
def test_user_text_is_printed_literally_not_as_markup(tmp_path, capsys, value):
    """Before: ``--set 'train.optimizer=[/b]'`` crashed with a rich MarkupError traceback."""
    code, _, err = cli(capsys, "train", write_config(tmp_path), "--set", f"train.optimizer={value!r}")
    assert code == ExitCode.BAD_INPUT and value in err and "Traceback" not in err


def test_a_config_path_with_markup_is_shown_as_typed(tmp_path, capsys):
    missing = tmp_path / "[red]x.toml"
    code, _, err = cli(capsys, "train", missing)
    assert code == ExitCode.BAD_INPUT and "[red]x.toml" in err


def test_the_adamw_hint_keeps_its_brackets(tmp_path, capsys):
    code, _, err = cli(capsys, "train", write_config(tmp_path), "--set", "train.optimizer=adamw")
    assert code == ExitCode.BAD_INPUT and "[[regularizer]]" in err


def test_a_library_bug_exits_1_with_a_short_message_and_the_traceback_behind_debug(tmp_path, capsys, monkeypatch):
    from reglab.train import _trainer

    def broken(self):
        raise ZeroDivisionError("a bug inside the loop")

    monkeypatch.setattr(_trainer.Trainer, "run_epoch", broken)
    cfg = write_config(tmp_path)
    code, out, err = cli(capsys, "train", cfg, "--out", tmp_path / "o", "--json")
    assert code == ExitCode.INTERNAL
    assert "internal error" in err and "a bug inside the loop" in err and "Traceback" not in err
    assert json.loads(out)["error"]["kind"] == "internal"
    (record,) = RunStore(tmp_path / "o").list_runs()
    assert record["status"] == "failed" and "ZeroDivisionError" in record["reason"]
    code, _, err = cli(capsys, "--debug", "train", cfg, "--out", tmp_path / "o")
    assert code == ExitCode.INTERNAL and "Traceback" in err


def test_json_errors_are_one_document_on_stdout(tmp_path, capsys):
    code, out, _ = cli(capsys, "train", tmp_path / "missing.toml", "--json")
    assert code == ExitCode.BAD_INPUT
    doc = json.loads(out)
    assert set(doc["error"]) == {"kind", "message", "field"} and "missing.toml" in doc["error"]["message"]
    code, out, _ = cli(capsys, "runs", "list", "--limit", "0", "--json")
    assert code == ExitCode.BAD_INPUT and json.loads(out)["error"]["field"] == "--limit"


def test_out_that_is_a_file_or_cannot_be_created_is_a_clean_error(tmp_path, capsys):
    a_file = tmp_path / "results"
    a_file.write_text("not a folder")
    for out in (a_file, Path("/proc/reglab-cannot-be-here")):
        code, _, err = cli(capsys, "train", write_config(tmp_path), "--out", out)
        assert code == ExitCode.BAD_INPUT and str(out) in err and "Traceback" not in err


def test_deleting_runs_db_loses_nothing(tmp_path, capsys):
    """Before: after ``rm runs.db`` every earlier run was invisible to runs list/show/hessian."""
    ids = {train(parse_config(TINY), out=tmp_path).run_id for _ in range(2)}
    (tmp_path / "runs.db").unlink()
    code, out, _ = cli(capsys, "runs", "list", "--out", tmp_path, "--json")
    assert code == 0 and {r["id"] for r in json.loads(out)["runs"]} == ids
    some = sorted(ids)[0]
    code, out, _ = cli(capsys, "runs", "show", some, "--out", tmp_path, "--json")
    shown = json.loads(out)
    assert code == 0 and shown["status"] == "completed" and len(shown["history"]) == 4
    assert shown["final"]["test_error"] == pytest.approx(shown["history"][-1]["test_error"])


def test_a_damaged_runs_db_is_reported_never_overwritten_and_reindex_rebuilds_it(tmp_path, capsys):
    ids = {train(parse_config(TINY), out=tmp_path).run_id for _ in range(2)}
    db = tmp_path / "runs.db"
    for side in ("runs.db-wal", "runs.db-shm"):
        (tmp_path / side).unlink(missing_ok=True)
    db.write_bytes(b"this is not a database" * 100)
    before = db.read_bytes()
    for args in (("runs", "list"), ("runs", "show", sorted(ids)[0]), ("train", write_config(tmp_path))):
        code, _, err = cli(capsys, *args, "--out", tmp_path)
        assert code == ExitCode.BAD_INPUT and "reglab runs reindex" in err and "Traceback" not in err
    assert db.read_bytes() == before
    code, out, _ = cli(capsys, "runs", "reindex", "--out", tmp_path, "--json")
    done = json.loads(out)
    assert code == 0 and set(done["indexed"]) == ids and Path(done["moved_aside"]).read_bytes() == before
    code, out, _ = cli(capsys, "runs", "list", "--out", tmp_path, "--json")
    assert {r["id"] for r in json.loads(out)["runs"]} == ids


def test_a_corrupt_page_is_a_clean_error(tmp_path, capsys):
    ids = {train(parse_config({**TINY, "train": {**TINY["train"], "epochs": 30}}), out=tmp_path).run_id
           for _ in range(3)}
    db = tmp_path / "runs.db"
    size = db.stat().st_size  # the WAL was checkpointed when the last connection closed
    noise = random.Random(0)  # seeded: the same damage on every run
    with open(db, "r+b") as fh:  # damage the body of every page but the header page
        for page in range(4096, size, 4096):
            fh.seek(page + 8)
            fh.write(bytes(noise.randrange(256) for _ in range(600)))
    noticed = []
    for args in (("runs", "list"), ("runs", "show", "x"), ("train", write_config(tmp_path))):
        code, _, err = cli(capsys, *args, "--out", tmp_path)
        assert "Traceback" not in err and code in (0, ExitCode.BAD_INPUT)
        noticed.append(code == ExitCode.BAD_INPUT and "reglab runs reindex" in err)
    assert any(noticed)
    code, out, _ = cli(capsys, "runs", "reindex", "--out", tmp_path, "--json")
    assert code == 0 and ids <= set(json.loads(out)["indexed"])  # (a run the train above began is kept too)


def test_resume_without_its_checkpoint_is_an_error_not_a_restart(tmp_path, capsys):
    """Before: --resume with a deleted checkpoint silently restarted from epoch 0."""
    run_id = interrupted_run(tmp_path)
    folder = RunStore(tmp_path).run_dir(run_id)
    (folder / "checkpoint.pt").unlink()
    cfg = write_config(tmp_path, (folder / "config.toml").read_text())
    code, _, err = cli(capsys, "train", cfg, "--resume", "--out", tmp_path)
    assert code == ExitCode.BAD_INPUT and "checkpoint" in err and "missing" in err


def test_resume_from_a_truncated_checkpoint_is_an_error_and_the_run_is_not_left_running(tmp_path, capsys):
    run_id = interrupted_run(tmp_path)
    folder = RunStore(tmp_path).run_dir(run_id)
    ckpt = folder / "checkpoint.pt"
    ckpt.write_bytes(ckpt.read_bytes()[:200])
    cfg = write_config(tmp_path, (folder / "config.toml").read_text())
    code, _, err = cli(capsys, "train", cfg, "--resume", "--out", tmp_path)
    assert code == ExitCode.BAD_INPUT and "damaged" in err and "Traceback" not in err
    assert RunStore(tmp_path).get_run(run_id)["status"] == "interrupted"


def test_a_checkpoint_that_cannot_be_written_keeps_the_previous_one(tmp_path, monkeypatch):
    import errno

    import torch

    from reglab.errors import StoreError
    from reglab.train import _run

    real_save, calls = torch.save, []

    def disk_full_after_two(obj, fh, *args, **kwargs):
        calls.append(1)
        if len(calls) > 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(obj, fh, *args, **kwargs)

    monkeypatch.setattr(_run.torch, "save", disk_full_after_two)
    with pytest.raises(StoreError, match="No space left on device.*previous checkpoint is intact"):
        train(parse_config(TINY), out=tmp_path)
    monkeypatch.setattr(_run.torch, "save", real_save)
    (record,) = RunStore(tmp_path).list_runs()
    folder = RunStore(tmp_path).run_dir(record["id"])
    assert record["status"] == "interrupted"
    assert torch.load(folder / "checkpoint.pt", weights_only=False)["history"][-1]["epoch"] == 2
    assert not list(folder.glob("*.tmp"))
    assert train(parse_config(TINY), out=tmp_path, resume=True).final == train(parse_config(TINY)).final
