"""Experiments as compute + figures: redraw from summary.json, run_demo, no global backend, helpers.

The redraw test stores a real experiment, keeps only its summary.json, forbids training
and data loading, and redraws: the PNGs must be pixel-for-pixel the ones the run wrote.
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys

import numpy as np
import pytest
import torch
from matplotlib.image import imread

import reglab.data
import reglab.experiments._base as base
import reglab.train
from reglab.config import parse_config
from reglab.data import load_dataset
from reglab.errors import ConfigError, RunError
from reglab.experiments import EXPERIMENTS, ExperimentContext, redraw, run_demo, run_experiment
from reglab.experiments._common import fmt_pm, fmt_stat, mean_sd_lists, stat, summarize_histories
from reglab.report import collect_experiments


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    """penalty-vs-constraint (quick), run through the demo entry point into a fresh folder."""
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("demo")
    calls = []
    demo = run_demo(out, names=("penalty-vs-constraint",),
                    on_start=lambda i, n, name: calls.append(("start", i, n, name)),
                    log=lambda name, message: calls.append(("log", name)),
                    on_done=lambda doc: calls.append(("done", doc["name"])))
    return out, demo, calls


def test_run_demo_runs_the_named_experiments_and_writes_the_report(stored):
    out, demo, calls = stored
    assert calls[0] == ("start", 1, 1, "penalty-vs-constraint") and calls[-1] == ("done", "penalty-vs-constraint")
    assert ("log", "penalty-vs-constraint") in calls
    assert [d["name"] for d in demo.documents] == ["penalty-vs-constraint"]
    on_disk = json.loads((out / "experiments" / "penalty-vs-constraint" / "summary.json").read_text("utf-8"))
    assert on_disk == demo.documents[0]
    assert demo.report == out / "report.html" and demo.report.exists()
    assert demo.documents[0]["title"] in demo.report.read_text("utf-8")


def test_redraw_from_summary_json_alone_gives_the_same_pixels(stored, tmp_path, monkeypatch):
    out, demo, _ = stored
    source = out / "experiments" / "penalty-vs-constraint"
    lonely = tmp_path / "experiments" / "penalty-vs-constraint"
    lonely.mkdir(parents=True)
    shutil.copy(source / "summary.json", lonely / "summary.json")

    def forbidden(*args, **kwargs):
        raise AssertionError("figures must not train or load data")

    for module, name in ((reglab.train, "train"), (reglab.train, "Trainer"), (base, "train"), (base, "Trainer"),
                         (reglab.data, "load_dataset")):
        monkeypatch.setattr(module, name, forbidden)
    names = redraw(lonely / "summary.json")
    assert names == demo.documents[0]["figures"]
    for name in names:
        assert (lonely / name).stat().st_size > 0
        if name.endswith(".png"):
            np.testing.assert_array_equal(imread(lonely / name), imread(source / name))


def test_redraw_into_another_folder_and_bad_input(stored, tmp_path):
    out, _, _ = stored
    names = redraw(out / "experiments" / "penalty-vs-constraint" / "summary.json", tmp_path / "elsewhere")
    assert sorted(p.name for p in (tmp_path / "elsewhere").iterdir()) == sorted(names)
    with pytest.raises(RunError, match="no such summary"):
        redraw(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text('{"name": "nope", "summary": {}}', encoding="utf-8")
    with pytest.raises(ConfigError, match="unknown experiment 'nope'"):
        redraw(tmp_path / "bad.json")


def test_a_toy_experiment_registered_as_compute_and_figures(tmp_path, monkeypatch):
    """The registry calls compute, then figures/tables/reading with the strict-JSON summary only."""
    from reglab.experiments._plot import new_figure

    seen = {}

    def compute(ctx):
        ctx.configs["toy"] = {"n": 3}
        return {"values": torch.tensor([1.0, 2.0, 4.0]), "nan": float("nan"), "pair": (1, 2)}

    def figures(summary):
        seen["figures"] = summary
        fig, axes = new_figure()
        axes[0, 0].plot(summary["values"])
        return {"toy_plot": fig}

    monkeypatch.setitem(EXPERIMENTS, "toy", None)
    base.register("toy", "Toy", "tests", "a toy", compute=compute, figures=figures,
                  tables=lambda s: [base.Table("t", ["sum"], [[sum(s["values"])]])],
                  reading=lambda s: f"max {max(s['values']):g}")
    doc = run_experiment("toy", tmp_path)
    assert seen["figures"] == {"values": [1.0, 2.0, 4.0], "nan": None, "pair": [1, 2]}
    assert doc["summary"] == seen["figures"] and doc["reading"] == "max 4"
    assert doc["tables"] == [{"title": "t", "columns": ["sum"], "rows": [[7.0]]}]
    assert doc["figures"] == ["toy_plot.png", "toy_plot.svg"] and doc["configs"] == {"toy": {"n": 3}}
    assert doc["order"] == list(EXPERIMENTS).index("toy")
    assert redraw(tmp_path / "experiments" / "toy" / "summary.json") == doc["figures"]


def test_ctx_train_returns_the_trainers_splits_and_loss(tmp_path):
    raw = {"data": {"name": "polynomial", "n": 12, "degree": 2, "seed": 3},
           "model": {"kind": "linear", "features": "poly", "poly_degree": 2},
           "train": {"epochs": 2, "batch_size": 4, "lr": 0.1, "dtype": "float64"}}
    ctx = ExperimentContext(name="t", out=tmp_path / "x", store_root=tmp_path)
    result = ctx.train(raw)
    assert ctx.run_ids == [result.run_id] and result.status == "completed"
    reference = load_dataset(parse_config(raw).data)
    for split in ("train", "val", "test"):
        assert torch.equal(getattr(result.splits, split).x, getattr(reference, split).x)
        assert torch.equal(getattr(result.splits, split).y, getattr(reference, split).y)
    x, y = reference.train.x.double(), reference.train.y.double()
    with torch.no_grad():
        out = result.model(x)
    assert float(result.loss_fn(out, y)) == pytest.approx(float(0.5 * ((out - y) ** 2).sum(-1).mean()), rel=1e-12)


def test_run_experiment_rejects_bad_input_as_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="mnist-weight-decay"):
        run_experiment("nope", tmp_path)
    with pytest.raises(ConfigError, match="--seeds"):
        run_experiment("mnist-weight-decay", tmp_path, seeds=0)


def test_importing_the_experiments_selects_no_backend_and_the_report_needs_no_registry(tmp_path):
    for name, order in (("b-second", 1), ("a-first", 0), ("c-unordered", None)):
        folder = tmp_path / "experiments" / name
        folder.mkdir(parents=True)
        doc = {"name": name, "title": name, "figures": [], "tables": [], "reading": "", "summary": {}}
        if order is not None:
            doc["order"] = order
        (folder / "summary.json").write_text(json.dumps(doc), encoding="utf-8")
    code = (
        "import sys, matplotlib\n"
        "matplotlib.use('svg')\n"
        "from reglab.report import collect_experiments\n"
        f"names = [d['name'] for d in collect_experiments({str(tmp_path)!r})]\n"
        "assert names == ['a-first', 'b-second', 'c-unordered'], names\n"
        "assert 'reglab.experiments' not in sys.modules\n"
        "import reglab.experiments\n"
        "assert matplotlib.get_backend() == 'svg', matplotlib.get_backend()\n"
        "assert 'matplotlib.pyplot' not in sys.modules\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert [d["name"] for d in collect_experiments(tmp_path)] == ["a-first", "b-second", "c-unordered"]


def test_mean_sd_helpers_match_statistics_and_numpy():
    values = [0.25, 0.5, 2.0, 3.5]
    s = stat(values, keep=True)
    assert s["mean"] == pytest.approx(np.mean(values), rel=1e-15)
    assert s["sd"] == pytest.approx(np.std(values, ddof=1), rel=1e-14) and s["values"] == values
    assert stat([7.0]) == {"mean": 7.0, "sd": 0.0}
    means, sds = mean_sd_lists([[1.0, 3.0], [2.0, 2.0, 5.0]])
    assert means == [2.0, 3.0] and sds == pytest.approx([2**0.5, 3**0.5], rel=1e-15)
    assert fmt_pm(values, 2) == fmt_stat(s, 2) == f"{np.mean(values):.2f} ± {np.std(values, ddof=1):.2f}"
    histories = [[{"train_error": 0.5, "test_error": 0.6}, {"train_error": 0.2, "test_error": 0.4}],
                 [{"train_error": 0.4, "test_error": 0.3}, {"train_error": 0.1, "test_error": 0.5}]]
    out = summarize_histories(histories)
    assert out["final_train_error"] == {"mean": pytest.approx(0.15), "sd": pytest.approx(statistics.stdev([0.2, 0.1]))}
    assert out["curve_test_error"] == pytest.approx([0.45, 0.45])
    assert out["best_test_error"]["mean"] == pytest.approx((0.4 + 0.3) / 2)
    assert out["final_gap"]["mean"] == pytest.approx(((0.4 - 0.2) + (0.5 - 0.1)) / 2)


def test_projected_gradient_lands_on_the_ball_solution_of_a_small_problem():
    """The experiment's projected gradient (through ops.project_l2_ball) against a closed form on the sphere."""
    from reglab.experiments.penalty_vs_constraint import _projected_gradient

    H = torch.diag(torch.tensor([0.5, 2.0], dtype=torch.float64))
    b = torch.tensor([1.0, 1.0], dtype=torch.float64)

    class Quadratic:  # C₀(w) = ½wᵀHw − bᵀw, minimum w* = H⁻¹b = (2, 0.5), ‖w*‖ ≈ 2.06
        size = 2  # the length of w (Objective.size)

        def grad(self, w):
            return H @ w - b

    radius = 1.0
    w, steps = _projected_gradient(Quadratic(), radius)
    # on the sphere: (H + μI)w = b with ‖w‖ = radius; solve for μ by bisection, independently
    lo, hi = 0.0, 10.0
    for _ in range(200):
        mu = (lo + hi) / 2
        norm = float(torch.linalg.solve(H + mu * torch.eye(2, dtype=torch.float64), b).norm())
        lo, hi = (mu, hi) if norm > radius else (lo, mu)
    expected = torch.linalg.solve(H + mu * torch.eye(2, dtype=torch.float64), b)
    assert steps < 20_000 and float(w.norm()) == pytest.approx(radius, rel=1e-12)
    torch.testing.assert_close(w, expected, rtol=0, atol=1e-10)


def test_cli_report_redraw_rewrites_the_figures_from_the_summaries(stored, tmp_path):
    out, demo, _ = stored
    copy = tmp_path / "copy"
    shutil.copytree(out / "experiments", copy / "experiments")
    for name in demo.documents[0]["figures"]:
        (copy / "experiments" / "penalty-vs-constraint" / name).unlink()
    proc = subprocess.run([sys.executable, "-m", "reglab", "report", str(copy), "--redraw", "--json"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["experiments"] == ["penalty-vs-constraint"]
    folder = copy / "experiments" / "penalty-vs-constraint"
    for name in demo.documents[0]["figures"]:
        assert (folder / name).stat().st_size > 0
    assert "data:image/png;base64," in (copy / "report.html").read_text("utf-8")
