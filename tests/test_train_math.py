"""The training loop against hand computations and torch's own optimizers."""

import numpy as np
import pytest
import torch

from reglab.config import parse_config
from reglab.data import Split, Splits
from reglab.regularize import L2, WeightDecay, chain
from reglab.train import Trainer, train


def _regression_splits(n=8, d=3, seed=0):
    g = np.random.default_rng(seed)
    x = torch.from_numpy(g.normal(size=(n, d)))
    y = torch.from_numpy(g.normal(size=(n, 1)))
    s = Split(x.float(), y.float())
    return Splits("hand", "regression", s, s, s)


def _cfg(**train):
    base = {"epochs": 1, "batch_size": 8, "lr": 0.1, "optimizer": "sgd", "dtype": "float64", "seed": 0}
    base.update(train)
    return parse_config({"model": {"kind": "linear"}, "train": base})


def _hand_step(w, b, x, y, lr, alpha):
    """One full-batch step on C₀ = (1/2n)‖Xw + b − y‖²: w ← (1 − ηα)w − η∇C₀, b ← b − η∂C₀/∂b."""
    n = len(x)
    r = x @ w + b - y
    grad_w = x.T @ r / n
    grad_b = r.sum(0) / n
    return (1 - lr * alpha) * w - lr * grad_w, b - lr * grad_b


@pytest.mark.parametrize("alpha", [0.0, 0.3])
def test_l2_step_equals_the_closed_form_update(alpha):
    splits = _regression_splits()
    trainer = Trainer(_cfg(), splits=splits, regularizer=L2(alpha=alpha))
    lin = trainer.model[1]
    w0, b0 = lin.weight.detach().clone().T, lin.bias.detach().clone()
    x, y = splits.train.x.double(), splits.train.y.double()
    w1, b1 = _hand_step(w0, b0, x, y, 0.1, alpha)
    trainer.run_epoch()
    torch.testing.assert_close(lin.weight.detach().T, w1, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(lin.bias.detach(), b1, rtol=1e-12, atol=1e-12)


def test_nielsen_convention_is_alpha_equals_lambda_over_n():
    splits = _regression_splits(n=8)
    lam, n = 2.4, 8
    trainer = Trainer(_cfg(), splits=splits, regularizer=L2(alpha=lam, convention="nielsen"))
    lin = trainer.model[1]
    w0, b0 = lin.weight.detach().clone(), lin.bias.detach().clone()
    x, y = splits.train.x.double(), splits.train.y.double()
    grad_w = (x.T @ (x @ w0.T + b0 - y) / n).T
    expected = (1 - 0.1 * lam / n) * w0 - 0.1 * grad_w  # Nielsen, eq. (93): w → (1 − ηλ/n) w − η ∂C₀/∂w
    trainer.run_epoch()
    torch.testing.assert_close(lin.weight.detach(), expected, rtol=1e-12, atol=1e-12)


def test_l2_config_nielsen_matches_reglab_alpha():
    a = parse_config({"train": {"epochs": 2}, "data": {"n_train": 200},
                      "regularizer": [{"kind": "l2", "alpha": 0.01}]})
    b = parse_config({"train": {"epochs": 2}, "data": {"n_train": 200},
                      "regularizer": [{"kind": "l2", "alpha": 2.0, "convention": "nielsen"}]})
    ra, rb = train(a), train(b)
    assert ra.final == rb.final


def test_weight_decay_leaves_biases_untouched():
    splits = _regression_splits()
    trainer = Trainer(_cfg(lr=0.5), splits=splits, regularizer=WeightDecay(wd=0.7))
    lin = trainer.model[1]
    w0, b0 = lin.weight.detach().clone().T, lin.bias.detach().clone()
    x, y = splits.train.x.double(), splits.train.y.double()
    # decoupled decay with plain SGD equals coupled L2 with alpha = wd on the weights, and nothing on the bias
    w1, b1 = _hand_step(w0, b0, x, y, 0.5, 0.7)
    trainer.run_epoch()
    torch.testing.assert_close(lin.weight.detach().T, w1, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(lin.bias.detach(), b1, rtol=1e-12, atol=1e-12)
    assert trainer.penalized == ["1.weight"]


def test_adam_plus_decoupled_decay_is_torch_adamw():
    torch.manual_seed(0)
    cfg = parse_config({"data": {"name": "circle", "n_points": 64}, "model": {"hidden": [8]},
                        "train": {"epochs": 3, "batch_size": 16, "lr": 0.01, "optimizer": "adamw",
                                  "dtype": "float64"},
                        "regularizer": [{"kind": "weight_decay", "wd": 0.3}]})
    trainer = Trainer(cfg)
    ref = Trainer(parse_config({**cfg.model_dump(), "regularizer": [],
                                "train": {**cfg.train.model_dump(), "optimizer": "adam"}}))
    ref.model.load_state_dict(trainer.model.state_dict())
    weights = [p for n, p in ref.model.named_parameters() if n.endswith("weight")]
    biases = [p for n, p in ref.model.named_parameters() if n.endswith("bias")]
    ref.optimizer = torch.optim.AdamW([{"params": weights, "weight_decay": 0.3},
                                       {"params": biases, "weight_decay": 0.0}], lr=0.01)
    for _ in range(3):
        trainer.run_epoch()
        ref.run_epoch()
    for (name, p), (_, q) in zip(trainer.model.named_parameters(), ref.model.named_parameters()):
        torch.testing.assert_close(p, q, rtol=1e-10, atol=1e-12, msg=name)


def test_l2_in_the_loss_equals_torch_sgd_weight_decay_with_momentum():
    cfg = parse_config({"data": {"name": "digits", "n_train": 128}, "model": {"hidden": [16]},
                        "train": {"epochs": 2, "batch_size": 32, "lr": 0.05, "momentum": 0.9, "dtype": "float64"},
                        "regularizer": [{"kind": "l2", "alpha": 0.01}]})
    trainer = Trainer(cfg)
    ref = Trainer(parse_config({**cfg.model_dump(), "regularizer": []}))
    ref.model.load_state_dict(trainer.model.state_dict())
    weights = [p for n, p in ref.model.named_parameters() if n.endswith("weight")]
    biases = [p for n, p in ref.model.named_parameters() if n.endswith("bias")]
    ref.optimizer = torch.optim.SGD([{"params": weights, "weight_decay": 0.01}, {"params": biases}],
                                    lr=0.05, momentum=0.9)
    for _ in range(2):
        trainer.run_epoch()
        ref.run_epoch()
    for p, q in zip(trainer.model.parameters(), ref.model.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-10, atol=1e-12)


def test_metrics_equal_a_hand_computation_on_a_tiny_model():
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [-1.0, 2.0]])
    y = torch.tensor([0, 1, 1, 0])
    s = Split(x, y)
    splits = Splits("tiny", "classification", s, s, s, n_classes=2)
    cfg = parse_config({"model": {"kind": "logistic"}, "train": {"epochs": 1, "dtype": "float64"}})
    trainer = Trainer(cfg, splits=splits, regularizer=chain(L2(alpha=0.5)))
    lin = trainer.model[1]
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 2.0]]))
        lin.bias.copy_(torch.tensor([0.0, -1.0]))
    m = trainer.measure(1)
    # logits by hand: [1,-1], [0,1], [1,1], [-1,3]
    logits = np.array([[1, -1], [0, 1], [1, 1], [-1, 3]], dtype=float)
    logp = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    loss = -np.mean(logp[np.arange(4), [0, 1, 1, 0]])
    # predictions: 0, 1, 0 (tie → first index), 1 → wrong: rows 2 and 3
    assert m["train_loss"] == pytest.approx(loss, rel=1e-12)
    assert m["train_error"] == pytest.approx(0.5)
    assert m["penalty"] == pytest.approx(0.5 * 0.5 * (1 + 4))
    assert m["weight_norm"] == pytest.approx(5**0.5)
    assert m["sparsity"] == pytest.approx(0.5)  # two of the four weights are exactly zero
    assert m["gap"] == pytest.approx(0.0)


def test_divergence_is_detected_and_reported():
    cfg = parse_config({"data": {"name": "polynomial", "n": 50}, "model": {"kind": "linear", "features": "poly",
                        "poly_degree": 8}, "train": {"epochs": 50, "lr": 1e6, "batch_size": 10}})
    result = train(cfg)
    assert result.status == "diverged"
    assert "epoch" in result.reason and "non-finite" in result.reason


def test_same_config_and_seed_give_the_same_numbers():
    cfg = parse_config({"data": {"n_train": 300}, "train": {"epochs": 2, "momentum": 0.9},
                        "regularizer": [{"kind": "l2", "alpha": 1e-3}]})
    assert train(cfg).history[-1]["train_loss"] == train(cfg).history[-1]["train_loss"]
    other = parse_config({**cfg.model_dump(), "train": {**cfg.train.model_dump(), "seed": 1}})
    assert train(other).history[-1]["train_loss"] != train(cfg).history[-1]["train_loss"]


@pytest.mark.parametrize("every", [1, 2])
def test_interrupted_run_resumes_from_its_last_checkpoint(tmp_path, every):
    cfg = parse_config({"data": {"n_train": 200}, "model": {"hidden": [16]},
                        "train": {"epochs": 5, "momentum": 0.9, "checkpoint_every": every},
                        "regularizer": [{"kind": "l2", "alpha": 1e-3}]})
    full = train(cfg, out=tmp_path / "a")

    def interrupt(epoch, total, metrics):
        if epoch == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(cfg, out=tmp_path / "b", progress=interrupt)
    from reglab.store import RunStore

    (record,) = RunStore(tmp_path / "b").list_runs()
    assert record["status"] == "interrupted" and record["epochs_done"] == 3
    resumed = train(cfg, out=tmp_path / "b", resume=True)
    assert resumed.run_id == record["id"]
    assert [h["train_loss"] for h in resumed.history] == [h["train_loss"] for h in full.history]
    assert resumed.final == full.final
    assert len(RunStore(tmp_path / "b").metrics(record["id"])) == 5
