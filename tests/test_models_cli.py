"""Acceptance (issue 11): `reglab train` with a CNN on the MNIST sample and with a python-factory model,
then `reglab hessian` on both runs, as a user runs them (real subprocesses, small sizes)."""

import json
import os
import subprocess
import sys
import textwrap

import pytest
import torch

from reglab.curvature import hessian
from reglab.train import load_run

REGLAB = [sys.executable, "-m", "reglab"]

USER_MODULE = """
from torch import nn

def small_net(n_in, n_out):
    return nn.Sequential(nn.Flatten(), nn.Linear(n_in, 6), nn.Sigmoid(), nn.Linear(6, n_out))
"""


def reglab(*args, pythonpath=None):
    env = {**os.environ, "COLUMNS": "200", "OMP_NUM_THREADS": "1"}
    if pythonpath:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(pythonpath), env.get("PYTHONPATH")]))
    proc = subprocess.run([*REGLAB, *args], capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, f"exit {proc.returncode}\nstdout:{proc.stdout}\nstderr:{proc.stderr}"
    return json.loads(proc.stdout)


def test_cnn_on_the_mnist_sample_trains_and_its_hessian_is_computed(tmp_path, repo_root):
    out = str(tmp_path / "runs")
    doc = reglab("train", f"{repo_root}/examples/mnist_cnn.toml", "--set", "train.epochs=1", "--set",
                 "data.n_train=200", "--set", "model.channels=[3]", "--set", "model.hidden=[8]", "--json",
                 "--out", out)
    assert doc["status"] == "completed"
    assert doc["penalized"] == ["1.weight", "5.weight", "7.weight"]  # conv, dense, output: no biases
    assert doc["final"]["test_error"] < 0.9
    summary = reglab("hessian", doc["run_id"], "--out", out, "--top", "2", "--json")
    assert summary["n_parameters"] == (3 * 25 + 3) + (3 * 144 * 8 + 8) + (8 * 10 + 10)
    assert summary["n_train"] == 200
    top = summary["top"]["eigenvalues"]
    assert len(top) == 2 and top[0] >= top[1] > 0


def test_python_factory_model_trains_and_its_hessian_matches_a_dense_one(tmp_path, repo_root):
    (tmp_path / "user_nets.py").write_text(textwrap.dedent(USER_MODULE))
    out = str(tmp_path / "runs")
    doc = reglab("train", f"{repo_root}/examples/digits_l2.toml", "--set", "model.kind='python'", "--set",
                 "model.factory='user_nets:small_net'", "--set", "train.epochs=1",
                 "--set", "data.n_train=100", "--set", "model.init='nielsen'", "--json", "--out", out,
                 pythonpath=tmp_path)
    assert doc["status"] == "completed"
    assert doc["penalized"] == ["1.weight", "3.weight"]
    summary = reglab("hessian", doc["run_id"], "--out", out, "--top", "2", "--params", "weights", "--json",
                     pythonpath=tmp_path)
    assert summary["n_parameters"] == 64 * 6 + 6 * 10
    sys.path.insert(0, str(tmp_path))
    try:
        model, splits, loss_fn = load_run(doc["run_id"], out)
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("user_nets", None)
    H = hessian(model, loss_fn, (splits.train.x, splits.train.y), params=["1.weight", "3.weight"],
                dtype=torch.float64)
    expected = torch.linalg.eigvalsh(H).flip(0)[:2]
    assert summary["top"]["eigenvalues"] == pytest.approx(expected.tolist(), rel=1e-6)


def test_a_factory_that_cannot_be_imported_exits_2_naming_the_field(tmp_path, repo_root):
    proc = subprocess.run([*REGLAB, "train", f"{repo_root}/examples/digits_l2.toml", "--set", "model.kind='python'",
                           "--set", "model.factory='no_such_package.nets:build'", "--json", "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 2
    error = json.loads(proc.stdout)["error"]
    assert error["field"] == "model.factory" and "cannot be imported" in error["message"]
    assert "Traceback" not in proc.stderr
