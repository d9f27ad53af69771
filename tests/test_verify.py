"""``reglab verify`` against closed forms and scikit-learn."""

import numpy as np
import pytest
from sklearn.linear_model import Lasso

from reglab.config import parse_config
from reglab.data import load_dataset
from reglab.verify import verify


def _linear_cfg(**data):
    base = {"name": "linear", "dim": 6, "n": 60, "spectrum": [5.0, 2.0, 1.0, 0.3, 0.1, 0.02], "seed": 0}
    base.update(data)
    return parse_config({"data": base, "model": {"kind": "linear", "bias": False},
                         "train": {"loss": "half_mse", "dtype": "float64"}})


def test_l2_prediction_is_exact_on_least_squares_and_matches_the_normal_equations():
    cfg = _linear_cfg()
    alphas = [0.01, 0.1, 1.0, 10.0]
    report = verify(cfg, alphas, tol=1e-11)
    assert report.minimizer == "finite"
    splits = load_dataset(cfg.data)
    x, y = splits.train.x.double().numpy(), splits.train.y.double().numpy()[:, 0]
    h = x.T @ x / len(x)
    lam = np.linalg.eigvalsh(h)
    for case in report.cases:
        assert case.rel_err <= 1e-8
        # the trained minimizer agrees with the ridge normal equations (H + αI) w = Xᵀy/n
        w_ridge = np.linalg.solve(h + case.alpha * np.eye(6), x.T @ y / len(x))
        assert case.norm_trained == pytest.approx(np.linalg.norm(w_ridge), rel=1e-8)
        assert case.effective_parameters == pytest.approx(np.sum(lam / (lam + case.alpha)), rel=1e-8)
        assert case.effective_parameters == pytest.approx(case.effective_parameters_trace, rel=1e-10)
        assert case.shrink_max_abs_diff < 1e-6
    assert "holds" in report.verdict


def test_l1_soft_threshold_matches_sklearn_lasso_on_whitened_features():
    cfg = _linear_cfg(whiten=True, seed=3)
    alphas = [0.003, 0.03, 0.1, 0.5]
    report = verify(cfg, alphas, penalty="l1", tol=1e-11)
    splits = load_dataset(cfg.data)
    x, y = splits.train.x.double().numpy(), splits.train.y.double().numpy()[:, 0]
    assert report.hessian_offdiag_ratio < 1e-6
    for case in report.cases:
        assert case.rel_err <= 1e-6
        assert case.zero_pattern_match
        # scikit-learn's Lasso minimizes (1/2n)‖y − Xw‖² + a‖w‖₁: a = α in reglab's convention
        lasso = Lasso(alpha=case.alpha, fit_intercept=False, tol=1e-14, max_iter=100_000).fit(x, y)
        assert case.zeros_trained == int(np.sum(lasso.coef_ == 0))
        assert case.norm_trained == pytest.approx(np.linalg.norm(lasso.coef_), rel=1e-6)
    assert report.cases[-1].zeros_trained > report.cases[0].zeros_trained


def test_logistic_regression_with_a_finite_minimizer_and_unpenalized_bias():
    cfg = parse_config({"data": {"name": "gauss", "noise": 50, "n_points": 400, "seed": 1},
                        "model": {"kind": "logistic"}, "train": {"dtype": "float64"}})
    report = verify(cfg, [1e-4, 1e-3, 1.0], tol=1e-10)
    assert report.minimizer == "finite"
    assert report.n_parameters == 6 and report.n_penalized == 4
    small, _, large = report.cases
    assert small.rel_err < 1e-3  # the quadratic model is accurate near w*
    assert large.rel_err > small.rel_err  # and degrades as α moves w̃ far from w*


def test_separable_data_is_reported_and_a_reference_point_is_used():
    cfg = parse_config({"data": {"name": "digits", "n_train": 150}, "model": {"kind": "logistic"},
                        "train": {"dtype": "float64"}})
    report = verify(cfg, [0.0105, 0.2], reference_alpha=0.01, max_iter=800)
    assert report.minimizer.startswith("none")
    assert report.reference_alpha == 0.01
    assert any("no finite" in note for note in report.notes)
    near, far = report.cases
    assert near.rel_err < 0.01 < far.rel_err


def test_bad_arguments():
    cfg = _linear_cfg()
    with pytest.raises(ValueError, match="penalty"):
        verify(cfg, [0.1], penalty="l3")
    with pytest.raises(ValueError, match="alpha"):
        verify(cfg, [0.0])


def test_small_mlp_runs_and_the_prediction_is_accurate_next_to_the_reference_point():
    cfg = parse_config({"data": {"name": "digits", "n_train": 60}, "model": {"hidden": [3], "activation": "tanh"},
                        "train": {"dtype": "float64"}})
    report = verify(cfg, [0.00102, 0.1], reference_alpha=0.001, max_iter=1000)
    assert report.n_parameters == 64 * 3 + 3 + 3 * 10 + 10
    assert report.n_penalized == 64 * 3 + 3 * 10
    near, far = report.cases
    assert near.converged and near.rel_err < 0.02  # a Newton step of Δα = 2e-5 from w̃(α₀) is nearly exact
    assert far.rel_err > near.rel_err
    assert len(report.eigenvalues) == report.n_penalized
