"""The regularizers of the lecture notes against hand computations and closed forms.

Every expected value here is computed independently of the code under test: with
NumPy (soft-threshold, projections, the ridge and lasso closed forms) or by hand.
"""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
import torch
from torch import nn

from reglab.config import parse_config
from reglab.data import make_linear
from reglab.models import mlp
from reglab.regularize import (
    L1,
    L2,
    BindContext,
    Dropout,
    DropoutLayer,
    EarlyStopping,
    L1Prox,
    L2Ball,
    MaxNorm,
    WeightDecay,
    from_config,
)
from reglab.train import Trainer


def _linear(weight, bias=None) -> nn.Linear:
    weight = torch.as_tensor(weight, dtype=torch.float64)
    layer = nn.Linear(weight.shape[1], weight.shape[0], bias=bias is not None).double()
    with torch.no_grad():
        layer.weight.copy_(weight)
        if bias is not None:
            layer.bias.copy_(torch.as_tensor(bias, dtype=torch.float64))
    return layer


def _soft_threshold(w: np.ndarray, t: float) -> np.ndarray:
    return np.sign(w) * np.maximum(np.abs(w) - t, 0.0)


# ----------------------------------------------------------------------------- L1 (subgradient)

def test_l1_penalty_is_alpha_times_the_sum_of_absolute_weights():
    net = nn.Sequential(_linear([[0.5, -1.5], [0.0, 2.0]], [3.0, -3.0]), nn.ReLU(), _linear([[-0.25, 1.0]], [7.0]))
    penalty = L1(alpha=0.1).bind(net).penalty()
    assert penalty.item() == pytest.approx(0.1 * (0.5 + 1.5 + 0.0 + 2.0 + 0.25 + 1.0))  # biases not penalized


def test_l1_nielsen_convention_is_lambda_over_n():
    net = _linear([[1.0, -2.0]])
    nielsen = L1(alpha=5.0, convention="nielsen").bind(net, BindContext(n_train=50)).penalty()
    assert nielsen.item() == pytest.approx(5.0 / 50 * 3.0)


def test_l1_sgd_step_is_the_notes_update_with_sign_of_zero_equal_zero():
    # C₀ = ½‖Wx + b − t‖² for one example; ∇_W C₀ = (Wx + b − t)xᵀ, ∇_b C₀ = Wx + b − t
    w0, b0 = np.array([[0.5, -1.0, 0.0], [2.0, 0.0, -0.3]]), np.array([0.1, -0.2])
    x, t = np.array([1.0, 2.0, -1.0]), np.array([0.5, 1.0])
    eta, alpha = 0.1, 0.3
    layer = _linear(w0, b0)
    bound = L1(alpha=alpha).bind(layer)
    opt = torch.optim.SGD(layer.parameters(), lr=eta)
    out = layer(torch.tensor(x))
    loss = 0.5 * (out - torch.tensor(t)).pow(2).sum() + bound.penalty()
    loss.backward()
    opt.step()
    r = w0 @ x + b0 - t
    expected_w = w0 - eta * alpha * np.sign(w0) - eta * np.outer(r, x)  # np.sign(0) = 0 as well
    np.testing.assert_allclose(layer.weight.detach().numpy(), expected_w, rtol=0, atol=1e-15)
    np.testing.assert_allclose(layer.bias.detach().numpy(), b0 - eta * r, rtol=0, atol=1e-15)
    # the zero entry moved by the data gradient only: no penalty push at w = 0
    assert layer.weight[0, 2].item() == pytest.approx(-eta * r[0] * x[2])


# ----------------------------------------------------------------------------- L1 proximal

def test_l1_prox_is_the_soft_threshold():
    rng = np.random.default_rng(0)
    w0 = rng.normal(size=(4, 5))
    w0[0, 0], w0[1, 1], w0[2, 2] = 0.0, 0.03, -0.05  # inside the threshold 0.05 or on it
    layer = _linear(w0, rng.normal(size=4))
    b0 = layer.bias.detach().clone()
    L1Prox(alpha=0.5).bind(layer).post_step(lr=0.1)
    got = layer.weight.detach().numpy()
    np.testing.assert_allclose(got, _soft_threshold(w0, 0.05), rtol=0, atol=1e-15)
    assert got[0, 0] == 0.0 and got[1, 1] == 0.0 and got[2, 2] == 0.0  # exact zeros
    assert torch.equal(layer.bias, b0)


def test_l1_prox_is_not_in_the_loss_but_reports_its_value():
    layer = _linear([[1.0, -2.0, 0.5]])
    bound = L1Prox(alpha=0.2).bind(layer)
    assert bound.penalty() is None
    assert bound.penalty_value().item() == pytest.approx(0.2 * 3.5)
    assert not bound.penalty_value().requires_grad


def test_l1_prox_zeros_can_become_nonzero_again():
    layer = _linear([[0.04, 1.0]])
    bound = L1Prox(alpha=0.5).bind(layer)
    opt = torch.optim.SGD(layer.parameters(), lr=0.1)
    bound.post_step(0.1)  # threshold 0.05
    assert layer.weight[0, 0].item() == 0.0
    # C₀ = −w₁ (gradient −1): a step moves w₁ to 0.1, the prox brings it to 0.05
    opt.zero_grad()
    (-layer.weight[0, 0]).backward()
    opt.step()
    bound.post_step(0.1)
    assert layer.weight[0, 0].item() == pytest.approx(0.05)


def _lasso_problem():
    """Least squares with H = XᵀX/n = diag(s) exactly, so the lasso minimizer is a soft threshold."""
    rng = np.random.default_rng(1)
    n, s = 100, np.array([4.0, 2.0, 1.0, 0.5, 0.25, 0.125])
    u, _ = np.linalg.qr(rng.normal(size=(n, len(s))))
    x = np.sqrt(n) * u * np.sqrt(s)
    y = x @ np.array([1.0, -0.5, 0.02, 0.8, -0.01, 0.3]) + 0.01 * rng.normal(size=n)
    w_star = np.linalg.solve(x.T @ x, x.T @ y)
    return x, y, s, w_star


def _full_batch_gd(reg, x: np.ndarray, y: np.ndarray, lr: float, steps: int) -> np.ndarray:
    xt, yt = torch.tensor(x), torch.tensor(y)
    layer = nn.Linear(x.shape[1], 1, bias=False).double()
    with torch.no_grad():
        layer.weight.fill_(0.7)
    bound = reg.bind(layer)
    opt = torch.optim.SGD(layer.parameters(), lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        loss = 0.5 * (layer(xt).squeeze(1) - yt).pow(2).mean()
        penalty = bound.penalty()
        (loss if penalty is None else loss + penalty).backward()
        bound.pre_step(lr)
        opt.step()
        bound.post_step(lr)
    return layer.weight.detach().numpy()[0]


def test_proximal_gradient_reaches_the_lasso_closed_form_and_the_subgradient_does_not_sparsify():
    x, y, s, w_star = _lasso_problem()
    alpha, lr = 0.05, 0.2
    lasso = _soft_threshold(w_star, alpha / s)  # per coordinate: sign(w*)·max(|w*| − α/Hᵢᵢ, 0)
    assert (lasso == 0).sum() == 3
    prox = _full_batch_gd(L1Prox(alpha=alpha), x, y, lr, 1500)
    np.testing.assert_allclose(prox, lasso, rtol=0, atol=1e-10)
    np.testing.assert_array_equal(prox == 0, lasso == 0)  # exact zeros where the closed form has them
    sub = _full_batch_gd(L1(alpha=alpha), x, y, lr, 1500)
    assert (sub == 0).sum() == 0  # no exact zeros: the subgradient oscillates around 0 ...
    assert np.all(np.abs(sub[lasso == 0]) <= 2 * lr * alpha)  # ... within a band of width ≈ ηα
    np.testing.assert_allclose(sub[lasso != 0], lasso[lasso != 0], atol=2 * lr * alpha)


# ----------------------------------------------------------------------------- constraints

def test_l2_ball_projects_jointly_onto_the_ball():
    rng = np.random.default_rng(2)
    w1, w2 = rng.normal(size=(3, 4)), rng.normal(size=(2, 3))
    net = nn.Sequential(_linear(w1, np.ones(3)), nn.Tanh(), _linear(w2, np.ones(2)))
    radius = 1.5
    L2Ball(radius=radius).bind(net).post_step(lr=0.1)
    norm = np.sqrt((w1**2).sum() + (w2**2).sum())
    factor = min(1.0, radius / norm)
    np.testing.assert_allclose(net[0].weight.detach().numpy(), w1 * factor, rtol=1e-14)
    np.testing.assert_allclose(net[2].weight.detach().numpy(), w2 * factor, rtol=1e-14)
    assert torch.equal(net[0].bias, torch.ones(3, dtype=torch.float64))
    total = math.sqrt(sum(float(m.weight.detach().pow(2).sum()) for m in (net[0], net[2])))
    assert total == pytest.approx(radius, rel=1e-14)


def test_l2_ball_leaves_points_inside_unchanged():
    layer = _linear([[0.3, 0.4]])
    before = layer.weight.detach().clone()
    L2Ball(radius=0.5).bind(layer).post_step(lr=0.1)  # on the sphere
    L2Ball(radius=2.0).bind(layer).post_step(lr=0.1)
    assert torch.equal(layer.weight, before)


def test_projected_gradient_on_the_l2_ball_reaches_the_l2_penalty_minimizer():
    splits = make_linear(dim=5, n=60, spectrum=[0.5, 1.0, 1.5, 2.5, 4.0], noise_std=0.5, seed=3)
    x, y = splits.train.x.double().numpy(), splits.train.y.double().numpy()[:, 0]
    n, alpha = len(x), 1.0
    w_tilde = np.linalg.solve(x.T @ x / n + alpha * np.eye(5), x.T @ y / n)  # ridge on the mean loss
    w_star = np.linalg.solve(x.T @ x, x.T @ y)
    radius = float(np.linalg.norm(w_tilde))
    assert np.linalg.norm(w_star) > 1.2 * radius  # the constraint is active
    w = _full_batch_gd(L2Ball(radius=radius), x, y, lr=0.2, steps=3000)
    assert np.linalg.norm(w - w_tilde) / np.linalg.norm(w_tilde) <= 1e-6
    w_penalty = _full_batch_gd(L2(alpha=alpha), x, y, lr=0.2, steps=3000)  # and the penalty itself agrees
    assert np.linalg.norm(w_penalty - w_tilde) / np.linalg.norm(w_tilde) <= 1e-6


def test_max_norm_rescales_each_row_of_a_linear_weight():
    w0 = np.array([[3.0, 4.0], [0.3, 0.4], [0.0, 0.0], [-6.0, 8.0]])
    layer = _linear(w0, [10.0, 10.0, 10.0, 10.0])
    MaxNorm(max_norm=2.0).bind(layer).post_step(lr=0.1)
    expected = np.array([[1.2, 1.6], [0.3, 0.4], [0.0, 0.0], [-1.2, 1.6]])  # row norms 5, 0.5, 0, 10
    np.testing.assert_allclose(layer.weight.detach().numpy(), expected, rtol=1e-14)
    assert torch.equal(layer.bias, torch.full((4,), 10.0, dtype=torch.float64))


def test_max_norm_acts_per_output_filter_of_convolutions():
    gen = torch.Generator().manual_seed(0)
    conv, deconv = nn.Conv2d(2, 3, 3).double(), nn.ConvTranspose2d(3, 4, 2).double()
    with torch.no_grad():
        conv.weight.copy_(torch.randn(conv.weight.shape, generator=gen, dtype=torch.float64))
        deconv.weight.copy_(torch.randn(deconv.weight.shape, generator=gen, dtype=torch.float64))
    net = nn.Sequential(conv, deconv)
    w_conv, w_deconv = conv.weight.detach().numpy().copy(), deconv.weight.detach().numpy().copy()
    MaxNorm(max_norm=1.0).bind(net).post_step(lr=0.1)
    # Conv2d stores (out, in, kh, kw): a filter is a slice along axis 0
    norms = np.sqrt((w_conv**2).sum(axis=(1, 2, 3), keepdims=True))
    np.testing.assert_allclose(conv.weight.detach().numpy(), w_conv * np.minimum(1.0, 1.0 / norms), rtol=1e-14)
    # ConvTranspose2d stores (in, out, kh, kw): a filter is a slice along axis 1
    norms = np.sqrt((w_deconv**2).sum(axis=(0, 2, 3), keepdims=True))
    np.testing.assert_allclose(deconv.weight.detach().numpy(), w_deconv * np.minimum(1.0, 1.0 / norms), rtol=1e-14)


# ----------------------------------------------------------------------------- dropout

def _ctx(seed: int = 0) -> BindContext:
    return BindContext(generator=torch.Generator().manual_seed(seed))


def test_dropout_wraps_after_each_hidden_activation_and_keeps_parameter_names():
    net = mlp([4, 8, 6, 2], "tanh")
    names = [n for n, _ in net.named_parameters()]
    wrapped = Dropout(p=(0.5, 0.25), input_p=0.2).wrap_model(net, _ctx())
    kinds = [(k, type(m).__name__) for k, m in wrapped.named_children()]
    assert kinds == [("0", "Flatten"), ("dropout_in", "DropoutLayer"), ("1", "Linear"), ("2", "Tanh"),
                     ("dropout1", "DropoutLayer"), ("3", "Linear"), ("4", "Tanh"), ("dropout2", "DropoutLayer"),
                     ("5", "Linear")]
    assert [wrapped.dropout_in.p, wrapped.dropout1.p, wrapped.dropout2.p] == [0.2, 0.5, 0.25]
    assert [n for n, _ in wrapped.named_parameters()] == names


def test_dropout_wrap_errors():
    with pytest.raises(ValueError, match="2 values but the model has 1 hidden"):
        Dropout(p=(0.5, 0.5)).wrap_model(mlp([4, 8, 2]), _ctx())
    with pytest.raises(ValueError, match="nn.Sequential"):
        Dropout().wrap_model(nn.Linear(2, 2), _ctx())
    wrapped = Dropout().wrap_model(mlp([4, 8, 2]), _ctx())
    with pytest.raises(ValueError, match="already has dropout"):
        Dropout().wrap_model(wrapped, _ctx())


def test_dropout_in_training_mode_without_a_generator_is_an_error():
    layer = DropoutLayer(0.5)
    assert torch.equal(layer.eval()(torch.ones(2, 3)), torch.ones(2, 3))
    with pytest.raises(RuntimeError, match="torch.Generator"):
        layer.train()(torch.ones(2, 3))


def test_inverted_dropout_draws_per_example_masks_and_halving_one_per_mini_batch():
    x = torch.ones(64, 10, dtype=torch.float64)
    inverted = DropoutLayer(0.25, "inverted", torch.Generator().manual_seed(0))(x)
    assert set(inverted.unique().tolist()) == {0.0, 1 / 0.75}
    assert len({tuple(row.tolist()) for row in inverted}) > 1
    halving = DropoutLayer(0.5, "halving", torch.Generator().manual_seed(0))(x)
    assert set(halving.unique().tolist()) == {0.0, 1.0}
    assert torch.equal(halving, halving[:1].expand_as(halving))  # every example sees the same network
    assert inverted.dtype == halving.dtype == torch.float64


@pytest.mark.parametrize("mode", ["inverted", "halving"])
def test_dropout_with_p_zero_is_the_identity_and_draws_nothing(mode):
    gen = torch.Generator().manual_seed(0)
    state = gen.get_state()
    layer = DropoutLayer(0.0, mode, gen)
    x = torch.randn(3, 4, generator=torch.Generator().manual_seed(1))
    assert layer.train()(x) is x and layer.eval()(x) is x
    assert torch.equal(gen.get_state(), state)
    wrapped = Dropout(p=0.0, mode=mode).wrap_model(mlp([4, 8, 2]), _ctx())
    assert [k for k, _ in wrapped.named_children()] == ["0", "1", "2", "3"]  # no layer inserted at p = 0


def test_dropout_masks_come_from_the_generator():
    x = torch.ones(8, 16)
    a = DropoutLayer(0.5, "inverted", torch.Generator().manual_seed(1))(x)
    b = DropoutLayer(0.5, "inverted", torch.Generator().manual_seed(1))(x)
    c = DropoutLayer(0.5, "inverted", torch.Generator().manual_seed(2))(x)
    assert torch.equal(a, b) and not torch.equal(a, c)


@pytest.mark.parametrize("mode", ["inverted", "halving"])
@pytest.mark.parametrize("p", [0.5, 0.2])
def test_expected_train_activation_equals_the_test_activation(mode, p):
    """Monte Carlo: E[train-time output] = eval output, for a layer and for a whole network."""
    torch.manual_seed(0)  # only for the fixed inputs below; the masks use the generator
    net = Dropout(p=p, mode=mode).wrap_model(mlp([3, 12, 2], "relu", generator=torch.Generator().manual_seed(3)),
                                            _ctx(5)).double()
    x = torch.randn(4, 3, dtype=torch.float64)
    with torch.no_grad():
        expected = net.eval()(x)
        net.train()
        draws = torch.stack([net(x) for _ in range(4000)])  # one mask per call (halving) or per row
    mean, sem = draws.mean(0), draws.std(0) / math.sqrt(len(draws))
    assert torch.all((mean - expected).abs() <= 5 * sem + 1e-12)
    # the test can fail: the other mode's test-time network (scaled by 1 − p, or not) is far off
    other = "inverted" if mode == "halving" else "halving"
    base = mlp([3, 12, 2], "relu", generator=torch.Generator().manual_seed(3)).double()
    with torch.no_grad():
        wrong = Dropout(p=p, mode=other).wrap_model(base, _ctx()).eval()(x)
    assert torch.any((mean - wrong).abs() > 10 * sem)


# ----------------------------------------------------------------------------- early stopping

def _feed(bound, values, model):
    reasons = []
    for epoch, value in enumerate(values, 1):
        with torch.no_grad():
            model.weight.fill_(float(epoch))  # the weights remember which epoch they are from
        reason = bound.on_epoch_end(epoch, {"val_loss": value, "val_error": value}, model)
        reasons.append(reason)
        if reason:
            break
    return reasons


def test_early_stopping_stops_after_patience_epochs_and_restores_the_best_weights():
    model = nn.Linear(2, 1)
    bound = EarlyStopping(patience=3, min_delta=0.01).bind(model)
    reasons = _feed(bound, [1.0, 0.8, 0.795, 0.9, 0.7999, 0.5], model)  # 0.795 is not better by > 0.01
    assert reasons[:4] == [None, None, None, None] and len(reasons) == 5
    assert reasons[-1] == ("early stopping: val_loss did not improve by min_delta=0.01 for 3 epochs; "
                           "best 0.8 at epoch 2")
    assert model.weight[0, 0].item() == 5.0
    note = bound.on_train_end(model)
    assert note == {"best_epoch": 2, "stopped_epoch": 5, "stopped_early": True, "restored": True,
                    "monitor": "val_loss", "best_value": 0.8}
    assert torch.equal(model.weight, torch.full((1, 2), 2.0))


def test_early_stopping_patience_zero_and_no_restore():
    model = nn.Linear(2, 1)
    bound = EarlyStopping(patience=0, restore_best=False, monitor="val_error").bind(model)
    assert _feed(bound, [0.5, 0.4, 0.4], model)[-1].startswith("early stopping: val_error")
    note = bound.on_train_end(model)
    assert note["stopped_epoch"] == 3 and note["best_epoch"] == 2 and note["restored"] is False
    assert model.weight[0, 0].item() == 3.0


def test_early_stopping_without_a_finite_metric_is_an_error():
    model = nn.Linear(2, 1)
    with pytest.raises(ValueError, match="val_error"):
        EarlyStopping(monitor="val_error").bind(model).on_epoch_end(1, {"val_error": float("nan")}, model)


def test_early_stopping_resumed_from_its_state_dict_behaves_the_same():
    values = [1.0, 0.9, 0.95, 0.85, 0.86, 0.87, 0.88, 0.2]
    model_a, model_b = nn.Linear(2, 1), nn.Linear(2, 1)
    uninterrupted = EarlyStopping(patience=3).bind(model_a)
    reasons_a = _feed(uninterrupted, values, model_a)
    first = EarlyStopping(patience=3).bind(model_b)
    _feed(first, values[:5], model_b)
    buffer = io.BytesIO()
    torch.save(first.state_dict(), buffer)
    buffer.seek(0)
    resumed = EarlyStopping(patience=3).bind(model_b)
    resumed.load_state_dict(torch.load(buffer, weights_only=False))
    reasons_b = [resumed.on_epoch_end(e, {"val_loss": v}, model_b) for e, v in enumerate(values[5:7], 6)]
    assert reasons_b[-1] == reasons_a[-1] and reasons_b[-1] is not None
    assert uninterrupted.on_train_end(model_a) == resumed.on_train_end(model_b)
    assert torch.equal(model_a.weight, model_b.weight) and model_b.weight[0, 0].item() == 4.0


def _digits_cfg(regularizer: list[dict], epochs: int = 8):
    return parse_config({
        "data": {"name": "digits", "n_train": 128},
        "model": {"hidden": [16]},
        "train": {"epochs": epochs, "batch_size": 32, "lr": 0.5, "momentum": 0.9, "device": "cpu"},
        "regularizer": regularizer,
    })


def _run(trainer: Trainer, epochs: int) -> str | None:
    while trainer.epoch < epochs:
        result = trainer.run_epoch()
        if result.stop:
            return result.stop
    return None


def test_trainer_with_early_stopping_and_dropout_resumes_to_the_same_numbers():
    cfg = _digits_cfg([{"kind": "dropout", "p": 0.3, "mode": "halving"},
                       {"kind": "early_stopping", "patience": 1, "min_delta": 0.02}], epochs=30)
    whole = Trainer(cfg)
    stop = _run(whole, 30)
    assert stop is not None and stop.startswith("early stopping")
    note_whole = whole.finish()
    first = Trainer(cfg)
    _run(first, 2)
    buffer = io.BytesIO()
    torch.save(first.state_dict(), buffer)
    buffer.seek(0)
    resumed = Trainer(cfg)
    resumed.load_state_dict(torch.load(buffer, weights_only=False))
    assert _run(resumed, 30) == stop
    assert resumed.finish() == note_whole
    for (name, a), (_, b) in zip(whole.model.named_parameters(), resumed.model.named_parameters()):
        assert torch.equal(a, b), name
    best = note_whole["best_epoch"]
    assert whole.final_override["val_loss"] == pytest.approx(whole.history[best - 1]["val_loss"], rel=1e-12)


# ----------------------------------------------------------------------------- configs

def test_every_config_kind_builds_its_regularizer():
    cfg = parse_config({"regularizer": [
        {"kind": "l1", "alpha": 0.1, "convention": "nielsen", "mask": ["1.weight"]},
        {"kind": "l1_prox", "alpha": 0.2},
        {"kind": "l2_ball", "radius": 3.0, "mask": "all"},
        {"kind": "max_norm", "max_norm": 2.0},
        {"kind": "dropout", "p": [0.5, 0.25], "input_p": 0.1, "mode": "halving"},
        {"kind": "early_stopping", "monitor": "val_error", "patience": 7, "min_delta": 0.001, "restore_best": False},
        {"kind": "l2", "alpha": 0.3},
        {"kind": "weight_decay", "wd": 0.4},
    ]})
    assert from_config(cfg.regularizer).pieces == (
        L1(alpha=0.1, convention="nielsen", mask=("1.weight",)),
        L1Prox(alpha=0.2),
        L2Ball(radius=3.0, mask="all"),
        MaxNorm(max_norm=2.0),
        Dropout(p=(0.5, 0.25), input_p=0.1, mode="halving"),
        EarlyStopping(monitor="val_error", patience=7, min_delta=0.001, restore_best=False),
        L2(alpha=0.3),
        WeightDecay(wd=0.4),
    )


def test_elastic_net_example_is_l2_then_l1_prox(repo_root):
    from reglab.config import load_config

    reg = from_config(load_config(f"{repo_root}/examples/digits_elastic_net.toml").regularizer)
    assert [type(p) for p in reg.pieces] == [L2, L1Prox]
