"""reglab.reference: BP1-BP4 against autograd and finite differences; the L2/L1 update rules by hand."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from reglab.reference import Network, backprop_check, reference_epoch_vs_torch

CONFIGS = [
    ("sigmoid", None, "quadratic"),
    ("tanh", None, "quadratic"),
    ("relu", "linear", "quadratic"),
    ("linear", None, "quadratic"),
    ("sigmoid", None, "cross_entropy"),
    ("tanh", "sigmoid", "cross_entropy"),
]
TORCH_FN = {"sigmoid": torch.sigmoid, "tanh": torch.tanh, "relu": torch.relu, "linear": lambda z: z}


def _data(net: Network, m: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((m, net.sizes[0]))
    shape = (m, net.sizes[-1])
    y = rng.uniform(size=shape) if net.cost_name == "cross_entropy" else rng.standard_normal(shape)
    return x, y


def _params(net: Network) -> list[np.ndarray]:
    return [p for pair in zip(net.weights, net.biases) for p in pair]


def _grads(grads) -> list[np.ndarray]:
    return [g for pair in zip(grads.weights, grads.biases) for g in pair]


@pytest.mark.parametrize(("hidden", "output", "cost"), CONFIGS)
def test_backprop_matches_torch_autograd(hidden, output, cost):
    net = Network([3, 5, 4, 2], activation=hidden, cost=cost, seed=1, output_activation=output)
    x, y = _data(net, 6, seed=2)
    params = [torch.tensor(p, requires_grad=True) for p in _params(net)]
    a = torch.tensor(x)
    for l in range(3):
        z = a @ params[2 * l].T + params[2 * l + 1]
        a = TORCH_FN[(output or hidden) if l == 2 else hidden](z)
    yt = torch.tensor(y)
    if cost == "quadratic":
        loss = 0.5 * ((a - yt) ** 2).sum(1).mean()
    else:
        loss = -(yt * torch.log(a) + (1 - yt) * torch.log(1 - a)).sum(1).mean()
    loss.backward()
    for mine, theirs in zip(_grads(net.backprop(x, y)), params):
        np.testing.assert_allclose(mine, theirs.grad.numpy(), rtol=1e-11, atol=1e-13)


@pytest.mark.parametrize(("hidden", "output", "cost"), CONFIGS)
def test_backprop_matches_central_differences(hidden, output, cost):
    net = Network([2, 3, 2], activation=hidden, cost=cost, seed=3, output_activation=output)
    x, y = _data(net, 5, seed=4)
    analytic = _grads(net.backprop(x, y))
    h = 1e-6
    for param, grad in zip(_params(net), analytic):
        numeric = np.zeros_like(param)
        for idx in np.ndindex(param.shape):
            saved = param[idx]
            param[idx] = saved + h
            up = net.cost(x, y)
            param[idx] = saved - h
            down = net.cost(x, y)
            param[idx] = saved
            numeric[idx] = (up - down) / (2 * h)
        np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-8)


def test_bp1_cross_entropy_sigmoid_output_error_is_a_minus_y():
    # one layer: ∂C/∂b = mean(a − y) and ∂C/∂W = mean((a − y) xᵀ) (Nielsen ch. 3)
    net = Network([4, 3], activation="sigmoid", cost="cross_entropy", seed=5)
    x, y = _data(net, 8, seed=6)
    residual = net.feedforward(x) - y
    grads = net.backprop(x, y)
    np.testing.assert_allclose(grads.biases[0], residual.mean(0), rtol=1e-13)
    np.testing.assert_allclose(grads.weights[0], residual.T @ x / len(x), rtol=1e-13)


def _tiny() -> Network:
    # a = w·x + b, C = ½(a − y)²; with x = 2, y = 1: a = 1.1, ∂C/∂w = 0.2, ∂C/∂b = 0.1
    return Network.from_parameters([np.array([[0.5]])], [np.array([0.1])], activation="linear", cost="quadratic")


X1, Y1 = np.array([[2.0]]), np.array([[1.0]])


def test_l2_update_by_hand():
    net = _tiny()
    net.sgd_epoch(X1, Y1, lr=0.1, batch_size=1, rng_or_seed=0, l2=0.5)
    # w ← (1 − ηα)w − η∂C₀/∂w = 0.95·0.5 − 0.1·0.2;  b ← 0.1 − 0.1·0.1 (no decay)
    np.testing.assert_allclose(net.weights[0], [[0.455]], rtol=1e-15)
    np.testing.assert_allclose(net.biases[0], [0.09], rtol=1e-15)


def test_l1_update_by_hand():
    net = _tiny()
    net.sgd_epoch(X1, Y1, lr=0.1, batch_size=1, rng_or_seed=0, l1=0.5)
    # w ← w − ηα·sgn(w) − η∂C₀/∂w = 0.5 − 0.05 − 0.02
    np.testing.assert_allclose(net.weights[0], [[0.43]], rtol=1e-15)
    np.testing.assert_allclose(net.biases[0], [0.09], rtol=1e-15)
    neg = Network.from_parameters([np.array([[-0.5]])], [np.array([0.1])], activation="linear")
    neg.sgd_epoch(X1, Y1, lr=0.1, batch_size=1, rng_or_seed=0, l1=0.5)
    # a = −0.9, ∂C₀/∂w = (a − y)x = −3.8: w = −0.5 + 0.05 + 0.38
    np.testing.assert_allclose(neg.weights[0], [[-0.07]], rtol=1e-13)


def test_nielsen_lambda_is_alpha_times_n():
    x, y = _data(Network([3, 4, 2], seed=0), 12, seed=7)
    lam = 0.6
    reference = Network([3, 4, 2], seed=0)
    reference.sgd_epoch(x, y, 0.5, 5, 8, l2=lam / 12, l1=lam / 12)
    nielsen = Network([3, 4, 2], seed=0)
    nielsen.sgd_epoch(x, y, 0.5, 5, 8, l2=lam, l1=lam, convention="nielsen")
    explicit = Network([3, 4, 2], seed=0)
    explicit.sgd_epoch(x, y, 0.5, 5, 8, l2=lam * 100 / 12, l1=lam * 100 / 12, n=100, convention="nielsen")
    for a, b, c in zip(_params(reference), _params(nielsen), _params(explicit)):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_allclose(a, c, rtol=1e-14)


def test_sgd_epoch_uses_every_example_once_and_is_seeded():
    x, y = _data(Network([2, 1], seed=0), 7, seed=9)
    nets = [Network([2, 3, 1], seed=0) for _ in range(3)]
    orders = [net.sgd_epoch(x, y, 0.1, 3, seed) for net, seed in zip(nets, [11, 11, 12])]
    assert sorted(orders[0].tolist()) == list(range(7))
    np.testing.assert_array_equal(orders[0], orders[1])
    np.testing.assert_array_equal(nets[0].weights[0], nets[1].weights[0])
    assert not np.array_equal(orders[0], orders[2])


def test_epoch_matches_torch_sgd_with_weight_decay():
    assert reference_epoch_vs_torch(0) < 1e-12
    assert reference_epoch_vs_torch(1, sizes=(3, 5, 4, 2), batch_size=4) < 1e-12


def test_backprop_check_report():
    report = backprop_check(seed=0)
    assert report["max_rel_diff"] <= 1e-10
    assert {c["cost"] for c in report["cases"]} == {"quadratic", "cross_entropy"}
    assert {c["activation"] for c in report["cases"]} == {"sigmoid", "tanh", "relu", "linear"}


def test_custom_activation_pair_matches_named():
    named = Network([2, 3, 1], activation="tanh", seed=0)
    custom = Network([2, 3, 1], activation=(np.tanh, lambda z: 1 - np.tanh(z) ** 2), seed=0)
    x, y = _data(named, 4, seed=1)
    for a, b in zip(_grads(named.backprop(x, y)), _grads(custom.backprop(x, y))):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"sizes": [3]}, "at least two layers"),
        ({"sizes": [2, 1], "cost": "hinge"}, "unknown cost"),
        ({"sizes": [2, 1], "activation": "gelu"}, "unknown activation"),
        ({"sizes": [2, 1], "activation": "tanh", "cost": "cross_entropy"}, "outputs in"),
    ],
)
def test_bad_network_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Network(seed=0, **kwargs)


def test_bad_shapes_and_convention():
    net = Network([2, 1], seed=0)
    with pytest.raises(ValueError, match=r"shape \(batch, 2\)"):
        net.backprop(np.ones((3, 3)), np.ones((3, 1)))
    with pytest.raises(ValueError, match="unknown convention"):
        net.sgd_epoch(np.ones((3, 2)), np.ones((3, 1)), 0.1, 2, 0, convention="torch")
