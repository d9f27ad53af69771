"""The ``reglab`` command run as a user runs it: a real subprocess."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

REGLAB = [sys.executable, "-m", "reglab"]


def run(*args, cwd=None, check=True):
    proc = subprocess.run([*REGLAB, *args], capture_output=True, text=True, cwd=cwd, timeout=600,
                          env={**os.environ, "COLUMNS": "200"})
    if check and proc.returncode != 0:
        raise AssertionError(f"exit {proc.returncode}\nstdout:{proc.stdout}\nstderr:{proc.stderr}")
    return proc


def test_train_json_is_one_document_and_deterministic(tmp_path, repo_root):
    args = ("train", f"{repo_root}/examples/digits_l2.toml", "--set", "train.epochs=3", "--json",
            "--out", str(tmp_path))
    first, second = json.loads(run(*args).stdout), json.loads(run(*args).stdout)
    assert first["status"] == "completed" and second["status"] == "completed"
    assert first["final"] == second["final"]
    assert first["run_id"] != second["run_id"]
    assert set(first["final"]) >= {"train_loss", "test_loss", "train_error", "test_error", "weight_norm", "sparsity"}
    assert len(first["history"]) == 3
    assert first["penalized"] == ["1.weight", "3.weight"]


def test_mnist_example_trains_on_the_bundled_sample(tmp_path, repo_root):
    out = run("train", f"{repo_root}/examples/mnist_l2.toml", "--set", "train.epochs=1", "--json",
              "--out", str(tmp_path))
    doc = json.loads(out.stdout)
    assert doc["status"] == "completed"
    assert "5000 examples" in out.stderr
    assert doc["final"]["test_error"] < 0.5


@pytest.mark.parametrize(
    "args, needle",
    [
        (("--set", "train.epochz=3"), "train.epochz"),
        (("--set", "regularizer.0.alpha=-0.5"), "regularizer[0].alpha"),
        (("--set", "data.name=imagenet"), "data.name"),
    ],
)
def test_bad_input_exits_2_with_the_key_and_no_traceback(tmp_path, repo_root, args, needle):
    proc = run("train", f"{repo_root}/examples/digits_l2.toml", *args, "--out", str(tmp_path), check=False)
    assert proc.returncode == 2
    assert needle in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout


def test_missing_config_file(tmp_path):
    proc = run("train", str(tmp_path / "missing.toml"), check=False)
    assert proc.returncode == 2 and "not found" in proc.stderr and "Traceback" not in proc.stderr


def test_datasets_lists_sizes():
    doc = json.loads(run("datasets", "--json").stdout)
    by_name = {d["name"]: d for d in doc["datasets"]}
    assert by_name["mnist"]["sizes"] == {"train": 5000, "val": 1000, "test": 1000}
    assert by_name["digits"]["sizes"]["train"] + by_name["digits"]["sizes"]["test"] > 1000
    assert {"circle", "xor", "gauss", "spiral", "polynomial", "linear", "mnist-full"} <= set(by_name)


def test_runs_list_show_export(tmp_path, repo_root):
    doc = json.loads(run("train", f"{repo_root}/examples/digits_l2.toml", "--set", "train.epochs=2", "--json",
                         "--out", str(tmp_path)).stdout)
    rid = doc["run_id"]
    listed = json.loads(run("runs", "list", "--out", str(tmp_path), "--json").stdout)
    assert [r["id"] for r in listed["runs"]] == [rid]
    shown = json.loads(run("runs", "show", rid[:8], "--out", str(tmp_path), "--json").stdout)
    assert shown["status"] == "completed" and shown["torch_version"] and shown["reglab_version"]
    assert shown["config"]["regularizer"][0]["alpha"] == 1e-3
    assert shown["penalized"] == ["1.weight", "3.weight"]
    csv_text = run("runs", "export", rid, "--csv", "--out", str(tmp_path)).stdout
    lines = csv_text.strip().splitlines()
    header = lines[0].split(",")
    assert header[0] == "epoch" and "test_error" in header and len(lines) == 3
    col = header.index("train_loss")
    assert float(lines[2].split(",")[col]) == pytest.approx(doc["history"][1]["train_loss"])
    assert (tmp_path / "runs" / rid / "config.toml").exists()
    missing = run("runs", "show", "nope", "--out", str(tmp_path), check=False)
    assert missing.returncode == 2 and "Traceback" not in missing.stderr


def _epochs_done(db):
    try:
        con = sqlite3.connect(db, timeout=1)
        row = con.execute("SELECT epochs_done FROM runs").fetchone()
        con.close()
        return row[0] if row else 0
    except sqlite3.Error:
        return 0


def test_killed_run_resumes_to_the_uninterrupted_numbers(tmp_path, repo_root):
    cfg = f"{repo_root}/examples/digits_l2.toml"
    sets = ["--set", "train.epochs=12", "--set", "model.hidden=[128, 128]", "--set", "train.batch_size=16"]
    full = json.loads(run("train", cfg, *sets, "--json", "--out", str(tmp_path / "a")).stdout)
    killed_dir = tmp_path / "b"
    proc = subprocess.Popen([*REGLAB, "train", cfg, *sets, "--json", "--out", str(killed_dir)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while _epochs_done(killed_dir / "runs.db") < 2 and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done = _epochs_done(killed_dir / "runs.db")
    assert 2 <= done < 12, f"the run should be killed mid-way, it had done {done} epochs"
    resumed = json.loads(run("train", cfg, *sets, "--json", "--resume", "--out", str(killed_dir)).stdout)
    assert resumed["status"] == "completed"
    assert resumed["final"] == full["final"]
    assert [h["train_loss"] for h in resumed["history"]] == [h["train_loss"] for h in full["history"]]
    nothing = run("train", cfg, *sets, "--resume", "--out", str(killed_dir), check=False)
    assert nothing.returncode == 2 and "nothing to resume" in nothing.stderr


def test_mnist_full_from_a_data_dir(tmp_path, repo_root):
    import numpy as np

    from reglab.data import write_idx

    rng = np.random.default_rng(0)
    write_idx(tmp_path / "train-images-idx3-ubyte", rng.integers(0, 256, (120, 28, 28)))
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.arange(120) % 10)
    write_idx(tmp_path / "t10k-images-idx3-ubyte", rng.integers(0, 256, (30, 28, 28)))
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.arange(30) % 10)
    base = ("train", f"{repo_root}/examples/mnist_l2.toml", "--set", "data.name='mnist-full'", "--set",
            "train.epochs=1", "--set", "model.hidden=[8]", "--out", str(tmp_path / "runs"), "--json")
    doc = json.loads(run(*base, "--data-dir", str(tmp_path), "--set", "data.verify_checksums=false").stdout)
    assert doc["status"] == "completed"
    bad = run(*base, "--data-dir", str(tmp_path), check=False)  # made-up files fail the checksum
    assert bad.returncode == 2 and "MD5" in bad.stderr and "Traceback" not in bad.stderr
    missing = run(*base, "--data-dir", str(tmp_path / "nowhere"), check=False)
    assert missing.returncode == 2 and "not found" in missing.stderr
