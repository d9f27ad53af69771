"""The geometry experiments in quick mode: playground-l2, ridge-geometry, lasso-geometry, penalty-vs-constraint.

Each is run once (module-scoped fixture) and checked for its files, its plotted numbers
and claims against independent references: the Playground features and cross-entropy
recomputed by hand from the stored weights, the ridge solution by a dense solve, the
L1 minimizer by brute force and scikit-learn's Lasso, the penalized solution by
scikit-learn's Ridge, and the properties the notes predict (L2 shrinks the weights,
shrink factors λ/(λ+α), exact zeros where |w*ᵢ|Hᵢᵢ ≤ α, penalty = constraint).
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from reglab.config import parse_config
from reglab.data import load_dataset
from experiment_checks import check_figures, run_quick
from reglab.regularize.conventions import convert


def _run(tmp_path_factory, name: str) -> tuple[dict, object]:
    return run_quick(tmp_path_factory, name)


@pytest.fixture(scope="module")
def playground(tmp_path_factory):
    return _run(tmp_path_factory, "playground-l2")


@pytest.fixture(scope="module")
def ridge(tmp_path_factory):
    return _run(tmp_path_factory, "ridge-geometry")


@pytest.fixture(scope="module")
def lasso(tmp_path_factory):
    return _run(tmp_path_factory, "lasso-geometry")


@pytest.fixture(scope="module")
def constraint(tmp_path_factory):
    return _run(tmp_path_factory, "penalty-vs-constraint")


def _check_files(document: dict, folder, expected: set[str]) -> None:
    assert json.loads((folder / "summary.json").read_text(encoding="utf-8"))["quick"] is True
    check_figures(document, folder, {name[:-4] for name in expected})
    assert document["reading"] and "α" in document["summary"]["convention"]
    assert "MEAN" in document["summary"]["convention"]


# --- playground-l2 ------------------------------------------------------------------------------------------------

def _playground_features(x: np.ndarray) -> np.ndarray:
    x1, x2 = x[:, 0], x[:, 1]
    return np.stack([x1, x2, x1**2, x2**2, x1 * x2, np.sin(x1), np.sin(x2)], axis=1)


def test_playground_files_and_plotted_numbers(playground):
    document, folder = playground
    _check_files(document, folder, {"feature_weights.png", "decision_boundaries.png", "losses.png"})
    summary = document["summary"]
    epochs = summary["epochs"]
    assert set(summary["per_rate"]) == {"0", "0.3"}
    for row in summary["per_rate"].values():
        assert len(row["curve_train_loss"]) == len(row["curve_test_loss"]) == epochs
        assert len(row["feature_weights"]["mean"]) == 7
        assert np.array(row["boundary_seed0"]).shape == (summary["boundary_grid"],) * 2
    assert summary["features"] == ["x1", "x2", "x1^2", "x2^2", "x1*x2", "sin(x1)", "sin(x2)"]
    # Playground's regularization rate is reglab's α (conventions table)
    assert summary["per_rate"]["0.3"]["alpha"] == convert(0.3, "playground", "reglab") == 0.3
    assert document["configs"]["rate 0.3"]["regularizer"] == [{"kind": "l2", "alpha": 0.3}]
    assert document["configs"]["rate 0"]["regularizer"] == [{"kind": "l2", "alpha": 0.0}]  # inactive: one pass


def test_playground_losses_and_boundary_recomputed_by_hand_from_the_weights(playground):
    document, _ = playground
    summary = document["summary"]
    cfg = parse_config(document["configs"]["rate 0"])
    splits = load_dataset(cfg.data)
    for key, row in summary["per_rate"].items():
        seed0 = row["per_seed"][0]
        W, b = np.array(seed0["weight_matrix"]), np.array(seed0["bias"])
        for split, stored in (("test", seed0["test_loss"]), ("train", seed0["train_loss"])):
            x = getattr(splits, split).x.double().numpy()
            y = getattr(splits, split).y.numpy()
            logits = _playground_features(x) @ W.T + b
            log_softmax = logits - np.logaddexp(logits[:, 0], logits[:, 1])[:, None]
            assert -log_softmax[np.arange(len(y)), y].mean() == pytest.approx(stored, rel=1e-5), (key, split)
        # the feature weight is the difference of the two logits' weights
        assert np.allclose(seed0["feature_weights"], W[1] - W[0])
        # the drawn boundary is P(class 1) of that model on the grid
        lo, hi = summary["boundary_extent"]
        axis = np.linspace(lo, hi, summary["boundary_grid"])
        prob = np.array(row["boundary_seed0"])
        for i, j in ((0, 0), (7, 31), (25, 25), (50, 3)):
            v = _playground_features(np.array([[axis[j], axis[i]]])) @ (W[1] - W[0]) + (b[1] - b[0])
            assert prob[i, j] == pytest.approx(1.0 / (1.0 + math.exp(-v[0])), abs=2e-5)


def test_playground_l2_shrinks_the_weights_and_costs_training_loss(playground):
    per_rate = playground[0]["summary"]["per_rate"]
    none, l2 = per_rate["0"], per_rate["0.3"]
    assert l2["weight_norm"]["mean"] < 0.8 * none["weight_norm"]["mean"]
    assert np.abs(l2["feature_weights"]["mean"]).sum() < np.abs(none["feature_weights"]["mean"]).sum()
    # the penalty costs training loss (the notes' definition of a regularizer)
    assert l2["train_loss"]["mean"] > none["train_loss"]["mean"]
    assert l2["gap"]["mean"] == pytest.approx(l2["test_loss"]["mean"] - l2["train_loss"]["mean"])


# --- ridge-geometry -----------------------------------------------------------------------------------------------

def test_ridge_files_and_plotted_numbers(ridge):
    document, folder = ridge
    _check_files(document, folder, {"quadratic_geometry.png", "network_plane.png"})
    quad = document["summary"]["quadratic"]
    assert len(quad["path"]) == len(quad["path_alphas"])
    net = document["summary"]["network"][0]
    assert len(net["path_projection"]) == len(net["path_alphas"])
    k = len(net["alphas"])
    for key in ("projection_trained", "projection_predicted", "factors_observed", "factors_predicted"):
        assert np.array(net[key]).shape == (k, 2)
    assert np.array(net["plane"]["loss"]).shape == (len(net["plane"]["c2"]), len(net["plane"]["c1"]))


def test_ridge_quadratic_matches_a_dense_solve_and_hand_shrink_factors(ridge):
    quad = ridge[0]["summary"]["quadratic"]
    theta = math.radians(quad["angle_deg"])
    q1, q2 = np.array([math.cos(theta), math.sin(theta)]), np.array([-math.sin(theta), math.cos(theta)])
    lam = np.array(quad["eigenvalues"])
    H = lam[0] * np.outer(q1, q1) + lam[1] * np.outer(q2, q2)
    w_star = np.array(quad["w_star"])
    for alpha, w_tilde, factors, observed in zip(quad["marked_alphas"], quad["marked_w_tilde"],
                                                 quad["marked_factors_predicted"], quad["marked_factors_observed"]):
        expected = np.linalg.solve(H + alpha * np.eye(2), H @ w_star)
        assert np.allclose(w_tilde, expected, atol=1e-12)
        assert np.allclose(factors, lam / (lam + alpha), atol=1e-14)
        # the component along each eigenvector shrinks by exactly that factor
        assert np.allclose(observed, [(q1 @ expected) / (q1 @ w_star), (q2 @ expected) / (q2 @ w_star)], atol=1e-12)
    # the low-curvature direction is shrunk more (the notes' point)
    assert all(f[0] < f[1] for f in quad["marked_factors_predicted"])
    assert quad["tangency_residual"] < 1e-12


def test_ridge_network_prediction_holds_near_the_reference_and_factors_are_by_hand(ridge):
    net = ridge[0]["summary"]["network"][0]
    lam = np.array(net["eigenvalues_top2"])
    a0 = net["reference_alpha"]
    assert net["reference_converged"] and net["reference_grad_norm"] < 1e-8
    assert lam[0] >= lam[1] > 0
    assert max(net["eigen_residuals"]) < 1e-6 * lam[0]
    for alpha, factors in zip(net["alphas"], net["factors_predicted"]):
        assert np.allclose(factors, (lam + a0) / (lam + alpha), rtol=1e-12)
    # the reference sits at the path's start, and the path heads to the origin
    path = np.array(net["path_projection"])
    assert np.allclose(path[0], net["c_reference"], atol=1e-8)
    assert np.linalg.norm(path[-1]) < np.linalg.norm(path[0])
    # close to α₀ the quadratic model is accurate for the trained network
    assert net["alphas"][0] <= 1.5 * a0
    assert net["rel_err_full"][0] < 0.05 and net["rel_err_plane"][0] < 0.01
    assert np.allclose(net["factors_observed"][0], net["factors_predicted"][0], atol=0.01)
    assert all(net["trained_converged"])


# --- lasso-geometry -----------------------------------------------------------------------------------------------

def test_lasso_files_and_plotted_numbers(lasso):
    document, folder = lasso
    _check_files(document, folder, {"lasso_quadratic.png", "lasso_path.png"})
    case = document["summary"]["whitened"][0]
    k = len(case["alphas"])
    for key in ("predicted", "fista", "sklearn"):
        assert np.array(case[key]).shape == (k, 10)
    assert len(case["zeros_predicted"]) == len(case["zeros_fista"]) == k


def test_lasso_two_d_matches_brute_force_and_first_zero(lasso):
    two = lasso[0]["summary"]["two_d"]
    h, w_star = np.array(two["h_diag"]), np.array(two["w_star"])
    grid = np.linspace(-0.5, 1.5, 2001)
    W1, W2 = np.meshgrid(grid, grid, indexing="ij")
    for alpha, w_tilde in zip(two["marked_alphas"], two["marked_w_tilde"]):
        objective = (0.5 * h[0] * (W1 - w_star[0]) ** 2 + 0.5 * h[1] * (W2 - w_star[1]) ** 2
                     + alpha * (np.abs(W1) + np.abs(W2)))
        i, j = np.unravel_index(np.argmin(objective), objective.shape)
        assert np.allclose(w_tilde, [grid[i], grid[j]], atol=1.5e-3), alpha
    assert np.allclose(two["zero_alpha"], np.abs(w_star) * h)
    # w₁ has the larger |w*| but the smaller curvature, and vanishes first
    assert two["first_zero"] == 0 and abs(w_star[0]) > abs(w_star[1])


def test_lasso_whitened_matches_sklearn_and_the_soft_threshold_by_hand(lasso):
    from sklearn.linear_model import Lasso

    document = lasso[0]
    case = document["summary"]["whitened"][0]
    splits = load_dataset(parse_config({"data": document["configs"]["data"]}).data)
    X, y = splits.train.x.double().numpy(), splits.train.y.double().numpy()[:, 0]
    h = np.diag(X.T @ X / len(X))
    w_star = np.linalg.lstsq(X, y, rcond=None)[0]
    assert np.allclose(case["w_star"], w_star, atol=1e-10)
    assert np.allclose(case["h_diag"], h, rtol=1e-12)
    alphas = np.array(case["alphas"])
    by_hand = np.sign(w_star) * np.maximum(np.abs(w_star) - alphas[:, None] / h, 0.0)
    assert np.allclose(case["predicted"], by_hand, atol=1e-14)
    fista = np.array(case["fista"])
    assert np.array_equal(fista == 0, by_hand == 0)
    assert np.abs(fista - by_hand).max() < 1e-6
    middle = len(alphas) // 2
    coef = Lasso(alpha=alphas[middle], fit_intercept=False, tol=1e-12, max_iter=100_000).fit(X, y).coef_
    assert np.allclose(fista[middle], coef, atol=1e-7)
    # each coordinate is non-zero just below |w*ᵢ|Hᵢᵢ and exactly zero just above
    assert case["brackets_hold"]
    assert case["zero_pattern_match_fista"] == case["zero_pattern_match_sklearn"] == len(alphas)
    prox = case["prox_run"]
    assert prox["zero_pattern_match"] and prox["zeros"] > 0
    assert prox["max_abs_vs_predicted"] < 0.05


# --- penalty-vs-constraint ----------------------------------------------------------------------------------------

def test_constraint_files_and_plotted_numbers(constraint):
    document, folder = constraint
    _check_files(document, folder, {"penalty_vs_constraint.png"})
    case = document["summary"]["cases"][0]
    k = len(case["lambdas"])
    for key in ("radius", "radius_theory", "distance_projected", "multiplier_projected", "lambda_for_radius"):
        assert len(case[key]) == k
    assert len(case["curve_radius"]) == len(case["curve_lambda"])
    assert len(case["curve_lambda_of_k"]) == len(case["curve_k"])
    assert len(case["trained"]) >= 2


def test_penalty_and_constraint_solutions_coincide(constraint):
    from sklearn.linear_model import Ridge

    document = constraint[0]
    case = document["summary"]["cases"][0]
    splits = load_dataset(parse_config({"data": document["configs"]["ball run"]["data"]}).data)
    X, y = splits.train.x.double().numpy(), splits.train.y.double().numpy()[:, 0]
    n = len(X)
    for lam, w_pen, radius in zip(case["lambdas"], case["w_penalized"], case["radius"]):
        ridge = Ridge(alpha=n * lam, fit_intercept=False, solver="cholesky").fit(X, y).coef_  # sklearn a = n·α
        assert np.allclose(w_pen, ridge, atol=1e-10)
        assert radius == pytest.approx(np.linalg.norm(ridge), rel=1e-10)
    assert np.all(np.diff(case["radius"]) < 0) and case["radius"][0] < case["w_star_norm"]
    assert np.allclose(case["radius_theory"], case["radius"], rtol=1e-10)
    assert max(case["distance_projected"]) < 1e-9
    for t in case["trained"]:
        assert t["norm"] <= t["radius"] * (1 + 1e-12)
        assert t["distance"] < 1e-6
        assert t["multiplier"] == pytest.approx(t["lambda"], rel=1e-4)
    # the reverse map and the KKT multiplier both give back λ
    assert np.allclose(case["lambda_for_radius"], case["lambdas"], rtol=1e-8)
    assert np.allclose(case["multiplier_projected"], case["lambdas"], rtol=1e-8)
