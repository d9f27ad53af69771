"""reglab.regularize.conventions: hand values, round trips, errors, and sklearn/torch as references."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from sklearn.linear_model import Ridge
from sklearn.neural_network import MLPRegressor

from reglab.errors import ConfigError
from reglab.regularize.conventions import CONVENTIONS, convert

NAMES = sorted(CONVENTIONS)
KW = {"n": 1234, "lr": 0.05}


def test_nielsen_hand_value():
    assert convert(5.0, "nielsen", "reglab", n=50_000) == pytest.approx(1e-4, rel=1e-15)
    assert convert(1e-4, "reglab", "nielsen", n=50_000) == pytest.approx(5.0, rel=1e-15)


@pytest.mark.parametrize(
    ("value", "from_", "to", "kwargs", "expected"),
    [
        (0.01, "reglab", "torch", {}, 0.01),
        (0.01, "goodfellow", "reglab", {}, 0.01),
        (0.01, "reglab", "sklearn-ridge", {"n": 200}, 2.0),
        (1e-4, "sklearn-mlp", "reglab", {"n": 200}, 5e-7),
        (0.003, "playground", "torch", {}, 0.003),
        (0.01, "adamw", "reglab", {}, 0.01),
        (1e-3, "loshchilov-hutter", "reglab", {"lr": 0.1}, 1e-2),
        (5.0, "nielsen", "sklearn-ridge", {"n": 50_000}, 5.0),  # both are α·n
        (2.0, "loshchilov-hutter", "nielsen", {"n": 10, "lr": 0.5}, 40.0),
    ],
)
def test_hand_values(value, from_, to, kwargs, expected):
    assert convert(value, from_, to, **kwargs) == pytest.approx(expected, rel=1e-14)


@pytest.mark.parametrize(("a", "b"), list(itertools.product(NAMES, NAMES)))
def test_round_trip(a, b):
    value = 0.37
    assert convert(convert(value, a, b, **KW), b, a, **KW) == pytest.approx(value, rel=1e-14)


def test_zero_maps_to_zero_everywhere():
    assert all(convert(0.0, "reglab", name, **KW) == 0.0 for name in NAMES)


def test_every_convention_is_described():
    required = {"reglab", "torch", "goodfellow", "nielsen", "sklearn-ridge", "sklearn-mlp", "playground", "adamw"}
    assert set(NAMES) >= required
    assert all(isinstance(text, str) and len(text) > 20 for text in CONVENTIONS.values())
    with pytest.raises(TypeError):
        CONVENTIONS["new"] = "x"  # type: ignore[index]


@pytest.mark.parametrize(
    ("name", "missing"), [("nielsen", "n"), ("sklearn-ridge", "n"), ("sklearn-mlp", "n"), ("loshchilov-hutter", "lr")]
)
def test_missing_argument_is_named(name, missing):
    with pytest.raises(ConfigError, match=rf"{name}.*needs {missing}"):
        convert(1.0, name, "reglab")
    with pytest.raises(ValueError, match=rf"needs {missing}"):
        convert(1.0, "reglab", name)


def test_unknown_convention_lists_the_allowed_names():
    with pytest.raises(ValueError, match="unknown convention 'keras'") as info:
        convert(1.0, "keras", "reglab")
    assert all(name in str(info.value) for name in NAMES)


@pytest.mark.parametrize("bad", [-1.0, float("nan"), float("inf")])
def test_bad_values(bad):
    with pytest.raises(ConfigError):
        convert(bad, "reglab", "torch")
    with pytest.raises(ConfigError, match="n must be a positive"):
        convert(1.0, "nielsen", "reglab", n=bad)


def _ridge_data(n=60, d=4, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d))
    y = x @ rng.standard_normal(d) + 0.5 + 0.1 * rng.standard_normal(n)
    return x, y


def _penalized_half_mse_minimizer(x, y, alpha):
    """argmin (1/2n)Σ(y − b − xᵀw)² + (α/2)‖w‖², intercept b unpenalized (closed form)."""
    n = len(x)
    xc, yc = x - x.mean(0), y - y.mean()
    return np.linalg.solve(xc.T @ xc / n + alpha * np.eye(x.shape[1]), xc.T @ yc / n)


def test_sklearn_ridge_against_closed_form():
    x, y = _ridge_data()
    alpha = 0.3
    model = Ridge(alpha=convert(alpha, "reglab", "sklearn-ridge", n=len(x))).fit(x, y)
    np.testing.assert_allclose(model.coef_, _penalized_half_mse_minimizer(x, y, alpha), rtol=1e-10)


def test_sklearn_mlp_lbfgs_against_closed_form():
    # no hidden layer + identity output: MLPRegressor is ridge on ½·MSE, penalty alpha/(2n)
    x, y = _ridge_data()
    alpha = 0.3
    model = MLPRegressor(
        hidden_layer_sizes=(),
        activation="identity",
        solver="lbfgs",
        alpha=convert(alpha, "reglab", "sklearn-mlp", n=len(x)),
        max_iter=5000,
        tol=1e-12,
    ).fit(x, y)
    coef = model.coefs_[0].ravel()
    # lbfgs stops at scipy's relative-reduction tolerance, so only ~1e-5 agreement ...
    np.testing.assert_allclose(coef, _penalized_half_mse_minimizer(x, y, alpha), rtol=1e-4)
    # ... which still tells the right convention from a factor of 2 (penalty without the ½)
    assert np.max(np.abs(coef - _penalized_half_mse_minimizer(x, y, alpha / 2))) > 1e-2


def test_torch_sgd_weight_decay_is_alpha():
    torch.manual_seed(0)
    x, y = torch.randn(16, 3, dtype=torch.float64), torch.randn(16, dtype=torch.float64)
    w0 = torch.randn(3, dtype=torch.float64)
    alpha, lr = 0.2, 0.1

    def loss(w):
        return 0.5 * ((x @ w - y) ** 2).mean()

    w = w0.clone().requires_grad_()
    opt = torch.optim.SGD([w], lr=lr, weight_decay=convert(alpha, "reglab", "torch"))
    loss(w).backward()
    opt.step()
    v = w0.clone().requires_grad_()
    (loss(v) + 0.5 * alpha * (v**2).sum()).backward()
    torch.testing.assert_close(w.detach(), w0 - lr * v.grad, rtol=1e-14, atol=1e-14)


def test_decoupled_decay_equals_l2_for_plain_sgd():
    # torch-style decoupled step (decay scaled by lr) vs the paper's λ (not scaled by lr)
    rng = np.random.default_rng(1)
    w, g = rng.standard_normal(5), rng.standard_normal(5)
    lr, alpha = 0.05, 0.02
    coupled = w - lr * (g + alpha * w)
    wd = convert(alpha, "reglab", "adamw")
    lam = convert(alpha, "reglab", "loshchilov-hutter", lr=lr)
    np.testing.assert_allclose(w * (1 - lr * wd) - lr * g, coupled, rtol=1e-14)
    np.testing.assert_allclose(w - lam * w - lr * g, coupled, rtol=1e-14)


def test_playground_update_is_coupled_l2():
    # updateWeights in tensorflow/playground src/nn.ts, written out for one mini-batch
    rng = np.random.default_rng(2)
    w, per_example_grads = rng.standard_normal(4), rng.standard_normal((10, 4))
    lr, rate = 0.03, 0.1
    w_old = w.copy()
    w = w - (lr / len(per_example_grads)) * per_example_grads.sum(0)
    w = w - lr * rate * w_old
    alpha = convert(rate, "playground", "reglab")
    np.testing.assert_allclose(w, w_old - lr * (per_example_grads.mean(0) + alpha * w_old), rtol=1e-14)
