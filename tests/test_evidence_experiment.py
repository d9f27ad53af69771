"""The evidence-vs-grid experiment's figures, tables and reading come from its summary alone."""

from __future__ import annotations

import reglab.experiments.evidence_vs_grid as experiment


def stat(mean: float, sd: float = 0.0) -> dict:
    return {"mean": mean, "sd": sd, "values": [mean]}


def summary(gap: float, compute: float) -> dict:
    per_lambda = {f"{lam:g}": {"lambda": lam, "test_error": stat(0.05 + (0.01 if lam == 1e-2 else 0.0), 0.001)}
                  for lam in experiment.LAMBDAS}
    mode = {"alpha": stat(2e-3, 1e-4), "test_error": stat(0.05 + gap, 0.002), "fresh_test_error": stat(0.05),
            "epoch_equivalents": stat(compute), "wall_ratio": stat(compute / 20), "gap_to_best": gap,
            "fresh_gap_to_best": 0.0, "within_tolerance": gap <= experiment.TOLERANCE,
            "within_two_trainings": compute <= 20}
    data = {"epochs": 10, "per_lambda": per_lambda, "best_lambda": "0.001",
            "grid_compute": {"per_training": 10, "total": 50, "seconds": stat(1.0)},
            "tuned": {**mode, "converged": [True], "loop_epoch_equivalents": stat(compute)}, "modes": {"held": mode, "predicted": mode}, "gap_to_best": gap,
            "within_tolerance": gap <= experiment.TOLERANCE, "within_two_trainings": compute <= 20}
    return {"datasets": {"digits": data, "mnist": data}, "quick": True, "seeds": 1, "alpha0": 1e-4,
            "tolerance": experiment.TOLERANCE, "lambda_convention": "alpha on the mean loss"}


def test_figures_tables_reading_from_the_summary():
    good, bad = summary(0.001, 15.0), summary(0.02, 400.0)
    figs = experiment.figures(good)
    assert list(figs) == ["evidence_vs_grid"] and len(figs["evidence_vs_grid"].axes) == 2
    rows = experiment.tables(good)[0].rows
    assert len(rows) == 7 and rows[-2][0].startswith("evidence (held)") and rows[-1][0].startswith("evidence (pred")
    assert "within 0.5" in experiment.reading(good) and "within two trainings" in experiment.reading(good)
    assert "outside 0.5" in experiment.reading(bad) and "more than two trainings" in experiment.reading(bad)
    assert "converged (α moved" in experiment.reading(good) and "in 1 of 1 seeds" in experiment.reading(good)
