"""Adding a regularizer from outside reglab: its module (piece + config class) and one ``register`` call.

The toy regularizer here is the one of CONTRIBUTING.md ("Adding a regularizer"):
``Clip`` projects each masked weight onto the box [−c, c] after every optimizer
step (the Euclidean projection onto the ℓ∞ ball). Nothing in reglab is edited;
the checks compare against NumPy's ``clip`` and against a hand-written loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np
import pytest
import torch
from pydantic import Field
from torch import nn

from reglab.config import parse_config
from reglab.errors import ConfigError
from reglab.regularize import REGISTRY, BoundStep, MaskedConfig, Step, from_config, register
from reglab.train import Trainer


# ----------------------------------------------------------------------------- the toy module

class _BoundClip(BoundStep):
    def __init__(self, params, bound: float) -> None:
        super().__init__(params)
        self.bound = bound

    def post_step(self, lr: float) -> None:
        with torch.no_grad():
            for w in self.tensors:
                w.clamp_(-self.bound, self.bound)

    def describe(self) -> dict:
        return {**super().describe(), "bound": self.bound}


@dataclass(frozen=True)
class Clip(Step):
    """After each step, clip every masked weight to [−bound, bound]."""

    bound: float = 1.0
    name = "clip"

    def _bind(self, params, context, model):
        return _BoundClip(params, self.bound)


class ClipConfig(MaskedConfig):
    """``[[regularizer]] kind = "clip"``: box constraint |wᵢ| ≤ bound after each step."""

    kind: Literal["clip"]
    bound: float = Field(gt=0.0, description="c in |wᵢ| ≤ c")
    piece: ClassVar[type] = Clip


@pytest.fixture
def clip_registered():
    register(ClipConfig)
    yield
    REGISTRY.pop("clip")


# ----------------------------------------------------------------------------- the checks

def _cfg(regularizer):
    return parse_config({
        "data": {"name": "digits", "n_train": 96}, "model": {"hidden": [8]},
        "train": {"epochs": 2, "batch_size": 32, "lr": 0.5, "device": "cpu", "dtype": "float64"},
        "regularizer": regularizer,
    })


def test_a_registered_kind_is_read_from_a_config_built_and_trained(clip_registered):
    cfg = _cfg([{"kind": "clip", "bound": 0.05}])
    assert type(cfg.regularizer[0]) is ClipConfig
    assert from_config(cfg.regularizer).pieces == (Clip(bound=0.05),)
    trainer = Trainer(cfg)
    for _ in range(2):
        assert trainer.run_epoch().diverged is None
    weights = {n: p for n, p in trainer.model.named_parameters() if n.endswith("weight")}
    biases = {n: p for n, p in trainer.model.named_parameters() if n.endswith("bias")}
    assert all(w.abs().max() <= 0.05 for w in weights.values())
    assert any(b.abs().max() > 0.05 for b in biases.values())  # the mask leaves the biases alone
    assert trainer.reg.describe()["pieces"][0] == {"name": "clip", "penalized": list(weights), "bound": 0.05}


def test_the_registered_piece_is_the_projection_onto_the_box(clip_registered):
    rng = np.random.default_rng(0)
    w = rng.normal(size=(3, 4))
    layer = nn.Linear(4, 3).double()
    with torch.no_grad():
        layer.weight.copy_(torch.tensor(w))
    Clip(bound=0.3).bind(layer).post_step(lr=0.1)
    np.testing.assert_array_equal(layer.weight.detach().numpy(), np.clip(w, -0.3, 0.3))


def test_training_with_the_toy_equals_a_hand_written_projected_loop(clip_registered):
    cfg = _cfg([{"kind": "clip", "bound": 0.05}])
    trainer = Trainer(cfg)
    reference = Trainer(_cfg([]))  # same data, init and shuffling; the projection done by hand below
    for _ in range(2):
        trainer.run_epoch()
        train = reference.fit_split
        order = torch.randperm(len(train), generator=reference.generator)
        reference.model.train()
        for i in range(0, len(train), 32):
            idx = order[i:i + 32]
            reference.optimizer.zero_grad(set_to_none=True)
            reference.loss_fn(reference.model(train.x[idx]), train.y[idx]).backward()
            reference.optimizer.step()
            with torch.no_grad():
                for name, p in reference.model.named_parameters():
                    if name.endswith("weight"):
                        p.copy_(torch.clamp(p, -0.05, 0.05))
    for (name, a), (_, b) in zip(trainer.model.named_parameters(), reference.model.named_parameters()):
        assert torch.equal(a, b), name


def test_the_toy_is_validated_by_its_schema_in_configs_and_in_python(clip_registered):
    with pytest.raises(ConfigError, match=r"regularizer\[0\]\.bound"):
        _cfg([{"kind": "clip", "bound": -1.0}])
    with pytest.raises(ConfigError, match=r"unknown key 'regularizer\[0\]\.alpha'; allowed keys here: bound, kind, mask"):
        _cfg([{"kind": "clip", "bound": 1.0, "alpha": 1.0}])
    net = nn.Linear(2, 2)
    with pytest.raises(ConfigError, match=r"clip\.bound"):
        Clip(bound=0.0).bind(net)
    with pytest.raises(ConfigError, match=r"clip\.mask"):
        Clip(bound=1.0, mask="weightz").bind(net)


def test_an_unregistered_kind_is_an_error_listing_the_registered_ones():
    assert "clip" not in REGISTRY
    with pytest.raises(ConfigError, match=r"regularizer\[0\]\.kind: Input should be 'l2', .*'early_stopping' "
                                          r"\(got 'clip'\)"):
        _cfg([{"kind": "clip", "bound": 1.0}])


def test_registering_a_taken_kind_or_a_class_without_a_piece_is_an_error(clip_registered):
    class Other(ClipConfig):
        piece: ClassVar[type] = Clip

    with pytest.raises(ValueError, match="already registered"):
        register(Other)

    class NoPiece(MaskedConfig):
        kind: Literal["nopiece"]

    with pytest.raises(TypeError, match="piece"):
        register(NoPiece)


def test_the_json_schema_of_a_run_config_lists_every_registered_kind(clip_registered):
    import json

    from reglab.config import RunConfig

    schema = json.dumps(RunConfig.model_json_schema())
    for kind in REGISTRY:
        assert f'"const": "{kind}"' in schema, kind
    assert '"const": "clip"' in schema and '"const": "circle"' not in schema  # toy sets: one enum
    assert '"enum": ["circle", "xor", "gauss", "spiral"]' in schema
