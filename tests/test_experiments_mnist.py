"""``reglab experiment mnist-weight-decay --quick`` end to end, and the experiment CLI."""

import json
import os
import subprocess
import sys

import numpy as np
from matplotlib.image import imread


def _run(*args):
    proc = subprocess.run([sys.executable, "-m", "reglab", *args], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "COLUMNS": "200"})
    assert proc.returncode == 0, proc.stderr
    return proc


def test_mnist_weight_decay_quick_via_the_cli(tmp_path):
    proc = _run("experiment", "mnist-weight-decay", "--quick", "--json", "--out", str(tmp_path))
    doc = json.loads(proc.stdout)  # stdout is exactly one JSON document; progress went to stderr
    assert "runs 0/5 done; pass 1/1 (vectorized, 5 runs) starts" in proc.stderr  # the five λ in one pass
    assert "pass 1/1 (5 runs): epoch 8/8" in proc.stderr and "runs 5/5 done" in proc.stderr
    assert doc["engine"] == "vectorized"
    folder = tmp_path / "experiments" / "mnist-weight-decay"
    assert json.loads((folder / "summary.json").read_text())["name"] == "mnist-weight-decay"
    pngs = [f for f in doc["figures"] if f.endswith(".png")]
    assert pngs and all((folder / f.replace(".png", ".svg")).exists() for f in pngs)
    for name in pngs:
        pixels = imread(folder / name)
        assert pixels.size > 0 and np.ptp(pixels) > 0
    per = doc["summary"]["per_lambda"]
    assert set(per) == {"0.01", "0.001", "0.0001", "1e-05", "0"}
    assert len(doc["run_ids"]) == 5
    # the table's numbers are the stored runs' final numbers (read back from the run store)
    listed = json.loads(_run("runs", "list", "--out", str(tmp_path), "--json").stdout)["runs"]
    finals = sorted(r["final"]["test_error"] for r in listed)
    assert finals == sorted(v["final_test_error"]["mean"] for v in per.values())
    assert "λ" in doc["reading"]


def test_experiment_list_and_unknown_name(tmp_path):
    doc = json.loads(_run("experiment", "--list", "--json").stdout)
    assert "mnist-weight-decay" in {e["name"] for e in doc["experiments"]}
    proc = subprocess.run([sys.executable, "-m", "reglab", "experiment", "nope", "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "mnist-weight-decay" in proc.stderr and "Traceback" not in proc.stderr
