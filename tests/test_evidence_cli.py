"""``reglab tune-alpha`` as a user runs it (a subprocess), checked against scikit-learn's BayesianRidge."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys

import pytest
from sklearn.linear_model import BayesianRidge

from reglab.config import parse_config
from reglab.data import load_dataset
from reglab.regularize.conventions import convert

LINEAR = """
name = "linear-evidence"
[data]
name = "linear"
dim = 6
n = 80
noise_std = 0.4
seed = 3
[model]
kind = "linear"
bias = false
[train]
epochs = 5
batch_size = 16
lr = 0.05
[[regularizer]]
kind = "l2"
alpha = 0.5
mask = "weights"
"""


def run(*args):
    return subprocess.run([sys.executable, "-m", "reglab", *args], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "COLUMNS": "200", "OMP_NUM_THREADS": "1"})


def test_tune_alpha_json_matches_bayesian_ridge_and_stores_runs(tmp_path):
    config = tmp_path / "linear.toml"
    config.write_text(LINEAR)
    proc = run("tune-alpha", str(config), "--json", "--out", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    splits = load_dataset(parse_config({"data": {"name": "linear", "dim": 6, "n": 80, "noise_std": 0.4,
                                                  "seed": 3}}).data)
    X, y = splits.train.x.double().numpy(), splits.train.y.double().numpy().ravel()
    br = BayesianRidge(fit_intercept=False, alpha_1=0, alpha_2=0, lambda_1=0, lambda_2=0, tol=1e-13,
                       max_iter=3000).fit(X, y)
    n = len(y)
    # lambda_ is the prior precision on ½‖y − Xw‖² (summed), alpha_ the noise precision: α = lambda_/(alpha_·n)
    expected = convert(br.lambda_ / br.alpha_, "sklearn-ridge", "reglab", n=n)
    assert doc["alpha"] == pytest.approx(expected, rel=1e-6)
    assert doc["beta"] == pytest.approx(br.alpha_, rel=1e-6)
    assert doc["weight_decay"] == doc["alpha"]
    assert doc["nielsen_lambda"] == pytest.approx(doc["alpha"] * n)
    assert doc["converged"] and doc["trainings"] == 2 and len(doc["history"]) == 2
    assert doc["history"][0]["alpha_trained"] == 0.5
    assert doc["history"][0]["spectrum"]["method"] == "dense"
    assert doc["compute"]["training_grad_evals"] == 10.0  # 2 trainings × 5 epochs
    assert set(doc["final_model"]["final"]) >= {"val_error", "test_error", "test_loss"}
    assert os.path.getsize(doc["figure"]) > 10_000
    with sqlite3.connect(tmp_path / "out" / "runs.db") as db:
        ids = {row[0] for row in db.execute("select id from runs")}
    assert {r["run_id"] for r in doc["runs"]} == ids and doc["final_model"]["run_id"] in ids
    assert "round 1" in proc.stderr and "round 2" in proc.stderr


def test_tune_alpha_refuses_other_regularizers(tmp_path):
    config = tmp_path / "bad.toml"
    config.write_text(LINEAR + '\n[[regularizer]]\nkind = "dropout"\np = 0.2\n')
    proc = run("tune-alpha", str(config), "--json")
    assert proc.returncode == 2
    error = json.loads(proc.stdout)["error"]
    assert error["field"] == "regularizer" and "dropout" in error["message"]


@pytest.mark.parametrize("flag,value,field", [("--mode", "fixed", "mode"),
                                              ("--curvature-dtype", "float16", "curvature_dtype")])
def test_tune_alpha_bad_option_is_exit_2_naming_it(tmp_path, flag, value, field):
    config = tmp_path / "linear.toml"
    config.write_text(LINEAR)
    proc = run("tune-alpha", str(config), "--json", flag, value)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    error = json.loads(proc.stdout)["error"]
    assert error["field"] == field and value in error["message"]


def test_tune_alpha_held_mode_fine_tuning_json(tmp_path):
    config = tmp_path / "linear.toml"
    config.write_text(LINEAR)
    proc = run("tune-alpha", str(config), "--json", "--mode", "held", "--finetune-epochs", "2",
               "--max-trainings", "2", "--out", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert [r["epochs"] for r in doc["runs"]][:2] == [5, 2][:len(doc["runs"])]
    assert all(h["mode"] == "held" for h in doc["history"])
    if len(doc["runs"]) == 2:
        assert doc["runs"][1]["fine_tuned_from"] == doc["runs"][0]["run_id"]
        assert doc["compute"]["training_epochs"] == 7
    compute, first = doc["compute"], doc["runs"][0]
    # everything is counted: the whole wall time covers the trainings and the curvature, in the first training's unit
    assert compute["seconds"] >= sum(r["seconds"] for r in doc["runs"]) + compute["curvature_seconds"]
    assert compute["epoch_equivalents"] == pytest.approx(compute["seconds"] / (first["seconds"] / first["epochs"]))
