"""Closed forms of reglab.theory against scikit-learn, linear algebra and simulation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.linear_model import Lasso, Ridge

from reglab.theory import (
    alpha_for_radius,
    constraint_radius,
    early_stopping_alpha,
    early_stopping_factors,
    effective_parameters,
    newton_step_prediction,
    ridge_transform,
    shrink_factors,
    soft_threshold,
)


def _least_squares(n: int = 200, p: int = 5, seed: int = 0):
    """X, y, w* = argmin (1/2n)‖Xw − y‖², and H = XᵀX/n (the Hessian of that mean loss)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p)) * np.array([3.0, 1.5, 1.0, 0.5, 0.2])[:p]
    y = X @ rng.standard_normal(p) + 0.5 * rng.standard_normal(n)
    w_star = np.linalg.lstsq(X, y, rcond=None)[0]
    return X, y, w_star, X.T @ X / n


def _psd(p: int = 6, seed: int = 1):
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.standard_normal((p, p)))
    values = np.array([4.0, 2.0, 1.0, 0.5, 0.1, 0.02])[:p]
    return (Q * values) @ Q.T, values, Q, rng.standard_normal(p)


@pytest.mark.parametrize("alpha", [0.0, 0.01, 0.3, 5.0])
def test_ridge_transform_equals_sklearn_ridge(alpha):
    X, y, w_star, H = _least_squares()
    n = X.shape[0]
    # sklearn minimizes ‖y − Xw‖² + a‖w‖² = 2n·[(1/2n)‖Xw − y‖² + (α/2)‖w‖²] with a = n·α.
    expected = Ridge(alpha=n * alpha, fit_intercept=False, solver="cholesky").fit(X, y).coef_
    np.testing.assert_allclose(ridge_transform(H, w_star, alpha), expected, rtol=1e-9, atol=1e-12)


def test_ridge_transform_equals_solve_for_every_input_form_and_alpha_vector():
    H, values, Q, w_star = _psd()
    alphas = np.array([0.0, 0.05, 1.0, 20.0])
    expected = np.stack([np.linalg.solve(H + a * np.eye(6), H @ w_star) for a in alphas])
    np.testing.assert_allclose(ridge_transform(H, w_star, alphas), expected, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(ridge_transform((values, Q), w_star, alphas), expected, rtol=1e-10, atol=1e-13)
    out = ridge_transform(torch.from_numpy(H), torch.from_numpy(w_star), 1.0)
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float64
    np.testing.assert_allclose(out.numpy(), expected[2], rtol=1e-10)


def test_ridge_transform_accepts_an_eigen_result_with_a_partial_basis():
    from reglab.curvature import eigen

    H, _, _, w_star = _psd()
    top = eigen(torch.from_numpy(H), 3)
    # Missing eigenvalues are zero: the same as the transform with H_r = Q_r Λ_r Q_rᵀ.
    Q_r, lam_r = top.eigenvectors.numpy(), top.eigenvalues.numpy()
    H_r = (Q_r * lam_r) @ Q_r.T
    expected = np.linalg.solve(H_r + 0.3 * np.eye(6), H_r @ w_star)
    np.testing.assert_allclose(ridge_transform(top, w_star, 0.3), expected, rtol=1e-9, atol=1e-12)


def test_shrink_factors_and_effective_parameters_by_hand():
    np.testing.assert_allclose(shrink_factors(np.array([3.0, 1.0, 0.0]), 1.0), [0.75, 0.5, 0.0])
    np.testing.assert_allclose(shrink_factors(np.array([3.0, 1.0]), [0.0, 3.0]), [[1.0, 1.0], [0.5, 0.25]])
    assert effective_parameters([3.0, 1.0, 0.0], 1.0) == pytest.approx(1.25, abs=1e-15)
    assert effective_parameters([3.0, 1.0, 0.0], 0.0) == 2.0  # the rank
    np.testing.assert_allclose(effective_parameters(np.array([3.0, 1.0]), [1.0, 3.0]), [1.25, 0.75])
    gamma = effective_parameters(torch.tensor([2.0, 2.0]), torch.tensor([2.0, 6.0]))
    assert isinstance(gamma, torch.Tensor)
    torch.testing.assert_close(gamma, torch.tensor([1.0, 0.5], dtype=torch.float64))


def test_soft_threshold_equals_sklearn_lasso_on_orthogonal_design():
    X, y, _, _ = _least_squares(n=300, p=5, seed=3)
    # Rotate onto the principal axes: XᵀX/n becomes diagonal (an orthogonal design).
    _, _, Vt = np.linalg.svd(X, full_matrices=False)
    Z = X @ Vt.T
    n = Z.shape[0]
    h = np.einsum("ij,ij->j", Z, Z) / n
    assert np.allclose(Z.T @ Z / n, np.diag(h), atol=1e-10)
    w_star = np.linalg.lstsq(Z, y, rcond=None)[0]
    for alpha in (0.0, 0.05, 0.3, 2.0):
        # sklearn's Lasso minimizes (1/2n)‖y − Zw‖² + a‖w‖₁: a = α.
        lasso = Lasso(alpha=alpha, fit_intercept=False, tol=1e-14, max_iter=10_000) if alpha > 0 else None
        expected = lasso.fit(Z, y).coef_ if lasso else w_star
        np.testing.assert_allclose(soft_threshold(w_star, h, alpha), expected, rtol=1e-8, atol=1e-10)
    assert np.count_nonzero(soft_threshold(w_star, h, 0.3)) < 5  # sparsity actually happens


def test_soft_threshold_by_hand_and_vector_alpha():
    out = soft_threshold(torch.tensor([2.0, -0.5, -3.0]), torch.tensor([1.0, 1.0, 2.0]), [0.0, 1.0])
    torch.testing.assert_close(out, torch.tensor([[2.0, -0.5, -3.0], [1.0, 0.0, -2.5]], dtype=torch.float64))


def _project_gradient_descent(H, w_star, radius, steps=5000):
    """Minimize ½(w − w*)ᵀH(w − w*) over ‖w‖ ≤ radius by projected gradient descent."""
    w = np.zeros_like(w_star)
    lr = 1.0 / np.linalg.eigvalsh(H).max()
    for _ in range(steps):
        w = w - lr * H @ (w - w_star)
        norm = np.linalg.norm(w)
        if norm > radius:
            w *= radius / norm
    return w


@pytest.mark.parametrize("alpha", [0.05, 0.5, 3.0])
def test_constraint_radius_ball_has_the_penalized_minimizer(alpha):
    H, _, _, w_star = _psd()
    H = H + 0.2 * np.eye(6)  # well conditioned, so projected GD converges in few steps
    radius = constraint_radius(H, w_star, alpha)
    assert isinstance(radius, float) and radius < np.linalg.norm(w_star)
    projected = _project_gradient_descent(H, w_star, radius)
    np.testing.assert_allclose(projected, ridge_transform(H, w_star, alpha), atol=1e-8)
    assert alpha_for_radius(H, w_star, radius) == pytest.approx(alpha, rel=1e-10)


def test_alpha_for_radius_is_monotone_and_zero_when_inactive():
    H, _, _, w_star = _psd()
    radii = constraint_radius(H, w_star, [0.0, 0.1, 1.0, 10.0])
    assert np.all(np.diff(radii) < 0)
    assert alpha_for_radius(H, w_star, 1.01 * radii[0]) == 0.0
    found = [alpha_for_radius(H, w_star, r) for r in radii[1:]]
    np.testing.assert_allclose(found, [0.1, 1.0, 10.0], rtol=1e-9)


def test_early_stopping_factors_equal_simulated_gradient_descent():
    H, values, Q, w_star = _psd()
    lr, taus = 0.2, [1, 7, 50]
    w, simulated = np.zeros(6), []
    for step in range(1, 51):
        w = w - lr * H @ (w - w_star)
        if step in taus:
            simulated.append((Q.T @ w) / (Q.T @ w_star))
    np.testing.assert_allclose(early_stopping_factors(values, lr, taus), np.array(simulated), rtol=1e-10)
    np.testing.assert_allclose(early_stopping_factors(values, lr, 7), simulated[1], rtol=1e-10)


def test_early_stopping_alpha_matches_shrinkage_for_small_curvature():
    assert early_stopping_alpha(0.01, 1000) == pytest.approx(0.1)
    small = np.array([1e-4, 1e-3, 3e-3])  # ηλ ≪ 1 and λ ≪ α
    es = early_stopping_factors(small, 0.01, 1000)
    l2 = shrink_factors(small, early_stopping_alpha(0.01, 1000))
    np.testing.assert_allclose(es, l2, rtol=0.05)


def test_newton_step_prediction_solves_the_regularized_quadratic_model():
    H, values, Q, w0 = _psd()
    g0 = np.random.default_rng(9).standard_normal(6)
    for alpha in (0.0, 0.1, 2.0):
        w = newton_step_prediction(H, g0, w0, alpha)
        # Stationarity of C₀(w₀) + g₀ᵀ(w − w₀) + ½(w − w₀)ᵀH(w − w₀) + (α/2)‖w‖².
        np.testing.assert_allclose(g0 + H @ (w - w0) + alpha * w, 0.0, atol=1e-10)
    Q_r, lam_r = Q[:, :2], values[:2]
    H_r = (Q_r * lam_r) @ Q_r.T
    expected = w0 - np.linalg.solve(H_r + 0.5 * np.eye(6), g0 + 0.5 * w0)
    np.testing.assert_allclose(newton_step_prediction((lam_r, Q_r), g0, w0, 0.5), expected, rtol=1e-10)
    stacked = newton_step_prediction(H, g0, w0, [0.1, 2.0])
    np.testing.assert_allclose(stacked[1], newton_step_prediction(H, g0, w0, 2.0), rtol=1e-12)


def test_invalid_inputs_name_the_argument():
    H, values, _, w_star = _psd()
    with pytest.raises(ValueError, match="alpha"):
        ridge_transform(H, w_star, -0.1)
    with pytest.raises(ValueError, match="alpha"):
        shrink_factors(values, [0.1, -1.0])
    with pytest.raises(ValueError, match="alpha"):
        soft_threshold(w_star, np.ones(6), -1.0)
    with pytest.raises(ValueError, match="h_diag"):
        soft_threshold(w_star, np.zeros(6), 1.0)
    with pytest.raises(ValueError, match="symmetric"):
        ridge_transform(np.triu(H), w_star, 1.0)
    with pytest.raises(ValueError, match="H must have shape"):
        ridge_transform(H[:5, :5], w_star, 1.0)
    with pytest.raises(ValueError, match="k"):
        alpha_for_radius(H, w_star, 0.0)
    with pytest.raises(ValueError, match="lr"):
        early_stopping_alpha(0.0, 10)
    with pytest.raises(ValueError, match="steps"):
        early_stopping_factors(values, 0.1, 2.5)
    with pytest.raises(ValueError, match="alpha"):
        newton_step_prediction((values[:2], np.eye(6)[:, :2]), w_star, w_star, 0.0)
    with pytest.raises(ValueError, match="w_star"):
        ridge_transform(H, np.array([1.0, np.nan, 0, 0, 0, 0]), 1.0)
