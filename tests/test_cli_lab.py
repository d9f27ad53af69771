"""``reglab lambda``, ``backprop-check``, ``verify`` and ``hessian`` as a user runs them."""

import json
import os
import subprocess
import sys

import pytest
import torch
from torch.func import functional_call

REGLAB = [sys.executable, "-m", "reglab"]


def run(*args, check=True):
    proc = subprocess.run([*REGLAB, *args], capture_output=True, text=True, timeout=900,
                          env={**os.environ, "COLUMNS": "200"})
    if check and proc.returncode != 0:
        raise AssertionError(f"exit {proc.returncode}\nstdout:{proc.stdout}\nstderr:{proc.stderr}")
    return proc


def test_lambda_convert_nielsen_to_torch():
    doc = json.loads(run("lambda", "convert", "--from", "nielsen", "--to", "torch", "--value", "5", "--n", "50000",
                         "--json").stdout)
    assert doc["value"] == pytest.approx(5 / 50000)


def test_lambda_convert_errors_name_the_problem():
    proc = run("lambda", "convert", "--from", "nielsen", "--to", "torch", "--value", "5", check=False)
    assert proc.returncode == 2 and "n" in proc.stderr and "Traceback" not in proc.stderr
    proc = run("lambda", "convert", "--from", "keras", "--value", "5", check=False)
    assert proc.returncode == 2 and "nielsen" in proc.stderr


def test_backprop_check_json():
    doc = json.loads(run("backprop-check", "--json").stdout)
    assert doc["max_rel_diff"] <= 1e-10
    assert doc["epoch_max_abs_diff"] <= 1e-10
    assert doc["passed"] is True and len(doc["cases"]) >= 4


def test_verify_linreg_example(repo_root):
    doc = json.loads(run("verify", f"{repo_root}/examples/verify_linreg.toml", "--alpha", "0.01", "0.1", "1", "10",
                         "--json").stdout)
    assert [c["alpha"] for c in doc["cases"]] == [0.01, 0.1, 1.0, 10.0]
    for case in doc["cases"]:
        assert case["rel_err"] <= 1e-8
        assert case["effective_parameters"] == pytest.approx(case["effective_parameters_trace"], rel=1e-9)


def test_verify_lasso_example(repo_root):
    doc = json.loads(run("verify", f"{repo_root}/examples/verify_lasso_whitened.toml", "--json").stdout)
    assert doc["penalty"] == "l1"
    assert all(c["rel_err"] <= 1e-6 and c["zero_pattern_match"] for c in doc["cases"])
    assert doc["cases"][-1]["zeros_trained"] > 0


def test_hessian_of_a_stored_run_matches_a_dense_float64_hessian(tmp_path, repo_root):
    out = json.loads(run("train", f"{repo_root}/examples/digits_l2.toml", "--set", "train.epochs=2",
                         "--set", "model.hidden=[4]", "--set", "data.n_train=100", "--json", "--quiet",
                         "--out", str(tmp_path)).stdout)
    doc = json.loads(run("hessian", out["run_id"], "--out", str(tmp_path), "--top", "3", "--bottom", "2",
                         "--trace", "--density", "--json").stdout)
    flat, output, y = dense_reference(out["run_id"], tmp_path)

    def loss(w):
        return torch.nn.functional.cross_entropy(output(w), y)

    dense = torch.func.jacrev(torch.func.jacrev(loss))(flat)
    values = torch.linalg.eigvalsh((dense + dense.T) / 2)
    assert doc["n_parameters"] == flat.numel()
    torch.testing.assert_close(torch.tensor(doc["top"]["eigenvalues"], dtype=torch.float64),
                               values.flip(0)[:3], rtol=1e-6, atol=1e-8)
    torch.testing.assert_close(torch.tensor(doc["bottom"]["eigenvalues"], dtype=torch.float64),
                               values[:2], rtol=1e-6, atol=1e-8)
    assert doc["trace"]["estimate"] == pytest.approx(float(values.sum()), rel=1e-6, abs=1e-8)
    assert len(doc["density"]["grid"]) == len(doc["density"]["density"])


def run_here(capsys, *args):
    """``reglab ARGS`` in this process (no interpreter start-up): (exit code, stdout, stderr)."""
    from reglab.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(list(args))
    captured = capsys.readouterr()
    return exit_.value.code, captured.out, captured.err


def test_hessian_chunked_float32_and_ggn_match_dense_float64_references(tmp_path, repo_root, capsys):
    out = json.loads(run("train", f"{repo_root}/examples/digits_l2.toml", "--set", "train.epochs=2",
                         "--set", "model.hidden=[4]", "--set", "data.n_train=100", "--json", "--quiet",
                         "--out", str(tmp_path)).stdout)
    base = ("hessian", out["run_id"], "--out", str(tmp_path), "--top", "3", "--batch-size", "37", "--device", "auto",
            "--json")
    code, text, _ = run_here(capsys, *base, "--dtype", "float32", "--method", "lanczos")
    assert code == 0
    low = json.loads(text)
    code, text, _ = run_here(capsys, *base, "--ggn", "--method", "block-lanczos")
    assert code == 0
    ggn = json.loads(text)
    flat, output, y = dense_reference(out["run_id"], tmp_path)

    H = torch.func.jacrev(torch.func.jacrev(lambda w: torch.nn.functional.cross_entropy(output(w), y)))(flat)
    J = torch.func.jacrev(output)(flat).reshape(-1, flat.numel())
    p = torch.softmax(output(flat), dim=1)
    H_L = torch.block_diag(*[(torch.diag(q) - torch.outer(q, q)) / len(y) for q in p])
    hessian_values = torch.linalg.eigvalsh((H + H.T) / 2).flip(0)[:3]
    ggn_values = torch.linalg.eigvalsh(J.T @ H_L @ J).flip(0)[:3]
    assert low["dtype"] == "float32" and low["batch_size"] == 37 and low["residuals_dtype"] == "float64"
    torch.testing.assert_close(torch.tensor(low["top"]["eigenvalues"], dtype=torch.float64), hessian_values,
                               rtol=1e-4, atol=1e-6)
    assert ggn["curvature"] == "ggn" and ggn["top"]["method"] == "block-lanczos"
    torch.testing.assert_close(torch.tensor(ggn["top"]["eigenvalues"], dtype=torch.float64), ggn_values,
                               rtol=1e-6, atol=1e-8)
    assert max(ggn["top"]["relative_residuals"]) <= 1e-5
    code, _, err = run_here(capsys, *base, "--dtype", "float16")
    assert code == 2 and "--dtype" in err and "float32" in err


def dense_reference(run_id, out):
    """The stored run's network as a function of one flat float64 vector, written out by hand (no reglab.curvature):
    (the flat weights, outputs(w) on the training inputs, the training labels)."""
    from reglab.train import load_run

    model, splits, _ = load_run(run_id, out)
    model = model.double()
    x, y = splits.train.x.double(), splits.train.y
    names = [n for n, _ in model.named_parameters()]
    shapes = [p.shape for p in model.parameters()]
    flat = torch.cat([p.detach().reshape(-1) for p in model.parameters()])

    def output(w):
        params, i = {}, 0
        for n, shape in zip(names, shapes):
            params[n] = w[i : i + shape.numel()].view(shape)
            i += shape.numel()
        return functional_call(model, params, (x,))

    return flat, output, y
