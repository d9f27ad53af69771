"""``reglab runs compare`` and the sweeps in ``reglab report``, against means and sds computed here by hand.

A tiny sweep (2 kinds × 3 strengths, α = 0 included, × 3 seeds) is trained once for the module;
the expected rows are recomputed from the store's own rows with NumPy (sample sd, ddof=1).
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from _cli_harness import assert_no_traceback, error_document, invoke, run_document
from reglab.results import compare_sweep, comparison_figure, known_sweeps
from reglab.store import RunStore
from reglab.sweep import parse_sweep, run_sweep

PNG = b"\x89PNG\r\n\x1a\n"
BASE = {"name": "tiny-sweep", "data": {"name": "digits", "n_train": 150}, "model": {"hidden": [8]},
        "train": {"epochs": 2, "batch_size": 32, "lr": 0.1, "device": "cpu"},
        "regularizer": [{"kind": "l2", "alpha": 0.0}]}
AXES = {"regularizer.0.kind": ["l2", "l1_prox"], "regularizer.0.alpha": [0.0, 1e-3, 1e-1], "train.seed": [0, 1, 2]}


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    out = tmp_path_factory.mktemp("sweep")
    sweep = parse_sweep({**BASE, "sweep": AXES})
    result = run_sweep(sweep, out=out, executor="vectorized")
    assert {p.status for p in result.points} == {"completed"}
    return out, sweep


def expected_rows(out, sweep_id, metric="test_error"):
    """(kind, alpha) → (values, statuses) read straight from the store's runs, one per point."""
    rows = {}
    for run in RunStore(out).list_runs():
        if run["tags"].get("sweep") != sweep_id:
            continue
        axes = run["tags"]["axes"]
        values, statuses = rows.setdefault((axes["regularizer.0.kind"], axes["regularizer.0.alpha"]), ([], {}))
        statuses[run["status"]] = statuses.get(run["status"], 0) + 1
        if run["status"] == "completed":
            values.append(run["final"][metric])
    return rows


def test_rows_are_the_mean_and_sample_sd_over_seeds_of_the_stored_finals(swept):
    out, sweep = swept
    c = compare_sweep(out, sweep.id)
    assert c.seed_axes == ["train.seed"] and c.strength_axis == "regularizer.0.alpha"
    assert c.line_axes == ["regularizer.0.kind"]
    expected = expected_rows(out, sweep.id)
    assert len(c.rows) == len(expected) == 6
    for row in c.rows:
        values, statuses = expected[(row.axes["regularizer.0.kind"], row.axes["regularizer.0.alpha"])]
        assert row.n == 3 and row.statuses == statuses == {"completed": 3}
        assert row.mean == pytest.approx(np.mean(values), rel=1e-12)
        assert row.sd == pytest.approx(np.std(values, ddof=1), rel=1e-12, abs=1e-15)
    means = {k: np.mean(v) for k, (v, _) in expected.items()}
    best = min(means, key=means.get)
    assert (c.rows[c.best].axes["regularizer.0.kind"], c.rows[c.best].axes["regularizer.0.alpha"]) == best


def test_another_metric_gives_its_own_rows(swept):
    out, sweep = swept
    c = compare_sweep(out, sweep.id, "train_loss")
    expected = expected_rows(out, sweep.id, "train_loss")
    for row in c.rows:
        values, _ = expected[(row.axes["regularizer.0.kind"], row.axes["regularizer.0.alpha"])]
        assert row.mean == pytest.approx(np.mean(values), rel=1e-12)


def test_the_figure_has_a_log_axis_with_zero_placed_a_decade_left_and_the_best_point_starred(swept):
    out, sweep = swept
    c = compare_sweep(out, sweep.id)
    ax = comparison_figure(c).axes[0]
    assert ax.get_xscale() == "log"
    ticks = dict(zip([t.get_text() for t in ax.get_xticklabels()], ax.get_xticks()))
    assert ticks["0"] == pytest.approx(1e-4)  # one decade below the smallest positive α, 1e-3
    bars = {container.get_label(): container for container in ax.containers}
    assert set(bars) == {"kind=l2", "kind=l1_prox"}  # one errorbar line (mean ± sd) per kind
    l2 = bars["kind=l2"].lines[0]
    assert list(l2.get_xdata()) == pytest.approx([1e-4, 1e-3, 1e-1])
    l2_rows = [r for r in c.rows if r.axes["regularizer.0.kind"] == "l2"]
    assert list(l2.get_ydata()) == pytest.approx([r.mean for r in l2_rows])
    segments = bars["kind=l2"].lines[2][0].get_segments()  # the vertical bars: mean − sd to mean + sd
    assert [y for seg in segments for y in (seg[0][1], seg[1][1])] == pytest.approx(
        [y for r in l2_rows for y in (r.mean - r.sd, r.mean + r.sd)])
    star = next(line for line in ax.get_lines() if line.get_label().startswith("best:"))
    best = c.rows[c.best]
    x_best = 1e-4 if best.axes["regularizer.0.alpha"] == 0 else best.axes["regularizer.0.alpha"]
    assert (star.get_xdata()[0], star.get_ydata()[0]) == pytest.approx((x_best, best.mean))


def test_higher_is_better_stars_the_highest_mean(swept):
    """Sparsity (the fraction of exact zeros): prox-L1 at the largest α has the most; --higher-is-better picks it."""
    out, sweep = swept
    expected = expected_rows(out, sweep.id, "sparsity")
    means = {k: np.mean(v) for k, (v, _) in expected.items()}
    done = invoke(["runs", "compare", sweep.id, "--metric", "sparsity", "--higher-is-better", "--out", out, "--json"])
    assert done.code == 0, done
    doc = run_document(done)
    assert doc["higher_is_better"] is True
    assert (doc["best"]["axes"]["regularizer.0.kind"], doc["best"]["axes"]["regularizer.0.alpha"]) == max(
        means, key=means.get)
    lowest = compare_sweep(out, sweep.id, "sparsity")
    assert lowest.rows[lowest.best].mean == pytest.approx(min(means.values()), rel=1e-12)


def test_the_command_prints_the_table_writes_a_png_and_a_summary(swept):
    out, sweep = swept
    done = invoke(["runs", "compare", sweep.id[:12], "--out", out, "--json"])
    assert done.code == 0, done
    doc = run_document(done)
    assert doc["sweep_id"] == sweep.id and doc["metric"] == "test_error" and len(doc["rows"]) == 6
    expected = expected_rows(out, sweep.id)
    means = {k: np.mean(v) for k, (v, _) in expected.items()}
    best = min(means, key=means.get)
    assert (doc["best"]["axes"]["regularizer.0.kind"], doc["best"]["axes"]["regularizer.0.alpha"]) == best
    assert doc["best"]["mean"] == pytest.approx(means[best], rel=1e-12)
    figure = out / "sweeps" / sweep.id / "test_error.png"
    assert doc["figure"] == str(figure) and figure.read_bytes()[:8] == PNG and figure.stat().st_size > 5000
    summary = json.loads((out / "sweeps" / sweep.id / "summary.json").read_text())
    assert summary["table"]["rows"][0][:2] == ["l2", "0"] and summary["figures"] == ["test_error.png",
                                                                                  "test_error.svg"]
    text = invoke(["runs", "compare", sweep.id, "--out", out])
    assert text.code == 0, text
    row = next(r for r in c_rows(text.stdout) if r[:2] == ["l1_prox", "0.001"])
    values, _ = expected[("l1_prox", 1e-3)]
    assert row[2] == f"{np.mean(values):.4g} ± {np.std(values, ddof=1):.2g}" and row[3] == "3"


def c_rows(table: str) -> list[list[str]]:
    """The body rows of a rich table as lists of cell texts."""
    return [[cell.strip() for cell in line.strip("│").split("│")] for line in table.splitlines()
            if line.startswith("│")]


def test_a_failed_point_is_counted_left_out_of_the_mean_and_superseded_when_rerun(tmp_path):
    sweep = parse_sweep({**BASE, "sweep": {"regularizer.0.alpha": [0.0, 1e-2], "train.seed": [0, 1]}})
    run_sweep(sweep, out=tmp_path, executor="vectorized")
    store = RunStore(tmp_path)
    victim = next(r for r in store.list_runs() if r["tags"]["axes"] == {"regularizer.0.alpha": 0.01, "train.seed": 1})
    store.finish(victim["id"], "failed", "made to fail by the test", None, 0.0)
    c = compare_sweep(tmp_path, sweep.id)
    row = next(r for r in c.rows if r.axes == {"regularizer.0.alpha": 0.01})
    kept = next(r for r in store.list_runs() if r["tags"]["axes"] == {"regularizer.0.alpha": 0.01, "train.seed": 0})
    assert row.statuses == {"completed": 1, "failed": 1} and row.values == [kept["final"]["test_error"]]
    assert (row.mean, row.sd) == (kept["final"]["test_error"], 0.0)
    assert c.strength_axis == "regularizer.0.alpha" and c.line_axes == []
    run_sweep(sweep, out=tmp_path, executor="vectorized")  # retrains the failed point only
    again = compare_sweep(tmp_path, sweep.id)
    assert again.superseded == 1
    assert next(r for r in again.rows if r.axes == {"regularizer.0.alpha": 0.01}).statuses == {"completed": 2}
    for run in store.list_runs():
        store.finish(run["id"], "failed", "made to fail by the test", None, 0.0)
    nothing = invoke(["runs", "compare", sweep.id, "--out", tmp_path, "--json"])
    assert nothing.code == 0, nothing
    doc = run_document(nothing)
    assert doc["best"] is None and {r["n"] for r in doc["rows"]} == {0}
    assert [r["status"] for r in doc["rows"]] == [{"failed": 2}, {"failed": 2}]
    assert (tmp_path / "sweeps" / sweep.id / "test_error.png").read_bytes()[:8] == PNG


def test_report_shows_each_sweep_with_its_rows_and_figure(swept, tmp_path):
    out, sweep = swept
    done = invoke(["report", out, "--json", "-o", tmp_path / "r.html"])
    assert done.code == 0, done
    assert run_document(done)["sweeps"] == [sweep.id]
    html = (tmp_path / "r.html").read_text()
    section = html[html.index(f'id="{sweep.id}"'):]
    expected = expected_rows(out, sweep.id)
    for (kind, alpha), (values, _) in expected.items():
        cells = f"<td>{kind}</td><td>{alpha:g}</td><td>{np.mean(values):.4g} ± {np.std(values, ddof=1):.2g}</td>"
        assert cells in section, cells
    assert re.search(r'<img alt="[^"]*test_error.png" src="data:image/png;base64,', section)
    assert "1 sweep" in html


def test_unknown_sweep_metric_and_store_are_errors_that_list_the_allowed(swept, tmp_path):
    out, sweep = swept
    bad = invoke(["runs", "compare", "sweep-nothere", "--out", out, "--json"])
    assert bad.code == 2 and sweep.id in error_document(bad)["message"], bad
    assert error_document(bad)["field"] == "SWEEP_ID"
    assert_no_traceback(bad)
    bad = invoke(["runs", "compare", sweep.id, "--metric", "accuracy", "--out", out])
    assert bad.code == 2 and "--metric must be one of" in bad.stderr and "test_error" in bad.stderr, bad
    assert_no_traceback(bad)
    empty = invoke(["runs", "compare", "sweep-x", "--out", tmp_path / "none", "--json"])
    assert empty.code == 2 and error_document(empty)["field"] == "--out", empty
    assert known_sweeps(RunStore(out)) == {sweep.id: 18}


def test_a_damaged_sweep_summary_is_skipped_with_a_warning(tmp_path):
    folder = tmp_path / "sweeps" / "sweep-damaged"
    folder.mkdir(parents=True)
    (folder / "summary.json").write_text("{not json", encoding="utf-8")
    done = invoke(["report", tmp_path, "--json"])
    assert done.code == 0, done
    doc = run_document(done)
    assert doc["sweeps"] == [] and [s["path"] for s in doc["skipped"]] == [str(folder / "summary.json")]
    assert "sweep-damaged" not in (tmp_path / "report.html").read_text()


def test_a_damaged_store_leaves_the_written_sweeps_in_the_report(swept, tmp_path):
    import shutil

    out, sweep = swept
    assert invoke(["runs", "compare", sweep.id, "--out", out]).code == 0
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    for side in copy.glob("runs.db*"):
        side.unlink()
    (copy / "runs.db").write_bytes(b"this is not a database" * 100)
    done = invoke(["report", copy, "--json"])
    assert done.code == 0 and "were not compared again" in done.stderr and "reindex" in done.stderr, done
    assert run_document(done)["sweeps"] == [sweep.id]
    assert f'id="{sweep.id}"' in (copy / "report.html").read_text()


def test_an_experiments_own_grid_is_its_section_not_a_sweep_of_the_report(tmp_path):
    """The grids the built-in experiments train through the engine (argv ``experiment NAME``) are compared on
    request but not listed as sweeps by ``reglab report``: the experiment's section already shows them."""
    mine = parse_sweep({**BASE, "sweep": {"regularizer.0.alpha": [0.0, 1e-2]}})
    theirs = parse_sweep({**BASE, "name": "an experiment's grid", "sweep": {"regularizer.0.alpha": [1e-3, 1e-1]}})
    run_sweep(mine, out=tmp_path, executor="vectorized", argv=["sweep", "grid.toml"])
    run_sweep(theirs, out=tmp_path, executor="vectorized", argv=["experiment", "mnist-weight-decay"])
    store = RunStore(tmp_path)
    assert set(known_sweeps(store)) == {mine.id, theirs.id}
    assert list(known_sweeps(store, experiments=False)) == [mine.id]
    done = invoke(["report", tmp_path, "--json", "-o", tmp_path / "r.html"])
    assert done.code == 0, done
    assert run_document(done)["sweeps"] == [mine.id]
    assert compare_sweep(tmp_path, theirs.id, "test_error").sweep_id == theirs.id
