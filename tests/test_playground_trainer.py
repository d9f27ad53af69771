"""Trainer.set_regularizer / set_lr: changing the chain mid-run goes on from the current weights.

The reference for each change is a second trainer built with the new setting from
the start and handed the first trainer's weights, optimizer state and generator
state by hand (load_state_dict): the two must give identical numbers.
"""

import pytest
import torch

from reglab.config import parse_config
from reglab.errors import ConfigError
from reglab.regularize import DropoutLayer, L1Prox
from reglab.train import Trainer

BASE = {"data": {"name": "xor", "n_points": 60, "noise": 20.0, "seed": 3},
        "model": {"hidden": [5], "activation": "tanh"},
        "train": {"batch_size": 8, "lr": 0.2, "seed": 3, "device": "cpu"}}


def config(regularizer=(), lr=0.2, momentum=0.0):
    return parse_config({**BASE, "train": {**BASE["train"], "lr": lr, "momentum": momentum},
                         "regularizer": list(regularizer)})


def hand_over(source: Trainer, target: Trainer) -> None:
    target.model.load_state_dict(source.model.state_dict())
    target.optimizer.load_state_dict(source.optimizer.state_dict())
    target.generator.set_state(source.generator.get_state())


@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_switching_l2_to_l1_prox_equals_a_fresh_l1_prox_trainer_given_the_state(momentum):
    l2, prox = [{"kind": "l2", "alpha": 0.05}], [{"kind": "l1_prox", "alpha": 0.2}]
    live = Trainer(config(l2, momentum=momentum))
    reference = Trainer(config(l2, momentum=momentum))
    for _ in range(3):
        assert live.run_epoch().metrics["train_loss"] == reference.run_epoch().metrics["train_loss"]
    live.set_regularizer(prox)
    fresh = Trainer(config(prox, momentum=momentum))
    hand_over(reference, fresh)
    for _ in range(3):
        a, b = live.run_epoch().metrics, fresh.run_epoch().metrics
        for key in ("train_loss", "test_loss", "penalty", "weight_norm", "sparsity"):
            assert a[key] == b[key], key
    assert live.epoch == 6 and fresh.epoch == 3
    assert [piece.name for piece in live.reg.pieces] == ["l1_prox"]
    assert live.cfg.regularizer == fresh.cfg.regularizer
    assert live.history[-1]["sparsity"] > 0  # the prox step zeroes weights exactly


def test_the_same_parameters_stay_with_the_optimizer_through_dropout_and_back():
    trainer = Trainer(config([{"kind": "l2", "alpha": 0.01}]))
    trainer.run_epoch()
    before = [id(p) for group in trainer.optimizer.param_groups for p in group["params"]]
    weights = {name: p.detach().clone() for name, p in trainer.model.named_parameters()}
    trainer.set_regularizer([{"kind": "dropout", "p": 0.4}])
    assert sum(isinstance(m, DropoutLayer) for m in trainer.model.modules()) == 1
    assert {name: p for name, p in trainer.model.named_parameters()}.keys() == weights.keys()
    for name, p in trainer.model.named_parameters():
        assert torch.equal(p, weights[name])  # no reset
    assert [id(p) for p in trainer.model.parameters()] == before
    trainer.run_epoch()
    trainer.set_regularizer(L1Prox(alpha=0.01))  # a Regularizer object works too; cfg is left as it was
    assert not any(isinstance(m, DropoutLayer) for m in trainer.model.modules())
    assert [id(p) for p in trainer.model.parameters()] == before
    assert trainer.cfg.regularizer[0].kind == "dropout"
    assert trainer.run_epoch().metrics["epoch"] == 3


def test_set_lr_equals_a_trainer_with_that_lr_given_the_state():
    live, reference = Trainer(config()), Trainer(config())
    live.run_epoch(), reference.run_epoch()
    live.set_lr(0.05)
    fresh = Trainer(config(lr=0.05))
    hand_over(reference, fresh)
    for group in fresh.optimizer.param_groups:  # load_state_dict restored the old lr
        group["lr"] = 0.05
    a, b = live.run_epoch().metrics, fresh.run_epoch().metrics
    assert a["train_loss"] == b["train_loss"] and a["lr"] == b["lr"] == 0.05
    assert live.cfg.train.lr == 0.05


def test_bad_changes_are_config_errors_naming_the_field():
    trainer = Trainer(config())
    with pytest.raises(ConfigError) as err:
        trainer.set_lr(-1.0)
    assert err.value.field == "train.lr"
    with pytest.raises(ConfigError) as err:
        trainer.set_regularizer([{"kind": "l2", "alpha": -0.5}])
    assert "alpha" in (err.value.field or "")
    assert trainer.cfg.regularizer == [] and trainer.optimizer.param_groups[0]["lr"] == 0.2  # unchanged
