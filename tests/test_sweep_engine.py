"""The vectorized engine against its reference: each member equals its own separate ``reglab.train.train`` run."""

from __future__ import annotations

import math

import pytest
import torch

from reglab.config import parse_config
from reglab.data import load_dataset
from reglab.sweep import VectorizedTrainer, plan_units, train_vectorized
from reglab.sweep._spec import GridPoint
from reglab.train import train

SPLITS = {}


def _splits():
    if "digits" not in SPLITS:
        SPLITS["digits"] = load_dataset(parse_config({"data": {"name": "digits", "n_train": 150}}).data)
    return SPLITS["digits"]


def cfg(reg=(), *, seed=0, lr=0.1, optimizer="sgd", momentum=0.0, nesterov=False, epochs=2, hidden=(12,),
        init_seed=None, batch_size=32):
    return parse_config({
        "data": {"name": "digits", "n_train": 150},
        "model": {"hidden": list(hidden), "init_seed": init_seed},
        "train": {"epochs": epochs, "seed": seed, "lr": lr, "optimizer": optimizer, "momentum": momentum,
                  "nesterov": nesterov, "batch_size": batch_size, "dtype": "float64", "device": "cpu"},
        "regularizer": list(reg),
    })


SKIP = {"epoch_time"}  # wall time, not a number of the run


def assert_same_as_separate(configs, results=None, rel=1e-6):
    results = results or train_vectorized(configs, splits=_splits())
    assert len(results) == len(configs)
    for c, got in zip(configs, results):
        ref = train(c)
        assert got.status == ref.status, (c.regularizer, ref.reason, got.reason)
        assert got.reason == ref.reason
        assert len(got.history) == len(ref.history)
        for want_row, got_row in zip(ref.history, got.history):
            assert set(got_row) == set(want_row)
            for key, want in want_row.items():
                if key in SKIP:
                    continue
                value = got_row[key]
                if isinstance(want, float) and math.isnan(want):
                    assert math.isnan(value), key
                else:
                    assert value == pytest.approx(want, rel=rel, abs=1e-12), (key, c.regularizer, c.train)
        assert got.penalized == ref.penalized
        assert got.final == pytest.approx(ref.final, rel=rel, abs=1e-12, nan_ok=True)
    return results


def test_strengths_kinds_and_seeds_in_one_pass_equal_separate_runs():
    configs = [cfg([{"kind": kind, "alpha": alpha}], seed=seed)
               for kind in ("l2", "l1", "l1_prox") for alpha in (0.0, 1e-3, 3e-2) for seed in (0, 1)]
    configs.append(cfg([{"kind": "l2", "alpha": 5.0, "convention": "nielsen", "mask": "all"}], seed=2))
    units = plan_units([GridPoint(i, {}, c, str(i)) for i, c in enumerate(configs)])
    # the mask="all" point shares its settings with no other point: it runs separately
    assert [(u.engine, len(u.members)) for u in units] == [("vectorized", 18), ("separate", 1)]
    assert_same_as_separate(configs[:-1])
    assert_same_as_separate([configs[-1], cfg([{"kind": "l2", "alpha": 1e-3, "mask": "all"}], seed=3)])


@pytest.mark.parametrize("optimizer, momentum, nesterov", [("sgd", 0.9, False), ("sgd", 0.9, True),
                                                           ("adam", 0.0, False)])
def test_optimizers_with_per_member_learning_rates(optimizer, momentum, nesterov):
    lrs = (0.05, 0.01) if optimizer == "sgd" else (1e-2, 3e-3)
    configs = [cfg([{"kind": kind, "alpha": 1e-3}], seed=seed, lr=lr, optimizer=optimizer, momentum=momentum,
                   nesterov=nesterov) for kind in ("l2", "l1_prox") for seed in (0, 1) for lr in lrs]
    assert_same_as_separate(configs)


def test_adamw_weight_decay_projections_and_chains():
    configs = [
        cfg([{"kind": "weight_decay", "wd": 1e-2}], optimizer="adamw", lr=1e-2, seed=0),
        cfg([{"kind": "weight_decay", "wd": 1e-1}], optimizer="adamw", lr=3e-3, seed=1),
        cfg([{"kind": "weight_decay", "wd": 0.0}], optimizer="adamw", lr=1e-2, seed=2),
    ]
    assert_same_as_separate(configs)
    chains = [
        cfg([{"kind": "l2", "alpha": 1e-3}, {"kind": "l2_ball", "radius": 3.0}], seed=0, momentum=0.5),
        cfg([{"kind": "l1", "alpha": 1e-3}, {"kind": "max_norm", "max_norm": 0.8}], seed=1, momentum=0.5),
        cfg([{"kind": "weight_decay", "wd": 1e-2}, {"kind": "l2_ball", "radius": math.inf}], seed=2,
            momentum=0.5),
        cfg([{"kind": "l1_prox", "alpha": 1e-2}, {"kind": "max_norm", "max_norm": 0.5}], seed=3, momentum=0.5,
            lr=0.05),
    ]
    assert_same_as_separate(chains)


def test_init_seed_and_a_last_short_batch():
    configs = [cfg([{"kind": "l2", "alpha": 1e-3}], seed=s, init_seed=i, batch_size=40) for s, i in
               ((0, 7), (0, 8), (1, 7))]
    results = assert_same_as_separate(configs)
    assert results[0].history[-1]["train_loss"] != results[1].history[-1]["train_loss"]  # inits differ


def regression(lr, seed=0, epochs=4):
    return parse_config({"data": {"name": "linear", "dim": 5, "n": 100, "n_test": 50}, "model": {"kind": "linear"},
                         "train": {"epochs": epochs, "seed": seed, "lr": lr, "batch_size": 10, "dtype": "float64",
                                   "device": "cpu"},
                         "regularizer": [{"kind": "l2", "alpha": 1e-2}]})


def test_a_diverged_member_is_frozen_and_the_others_go_on():
    configs = [regression(0.05, 0), regression(1e5, 0), regression(0.1, 1), regression(1e3, 0)]
    trainer = VectorizedTrainer(configs)
    results = trainer.run()
    assert [r.status for r in results] == ["completed", "diverged", "completed", "diverged"]
    assert "non-finite training loss (inf) at epoch 3" in results[1].reason  # during the epoch
    assert "non-finite parameters or loss after epoch 4" in results[3].reason  # found by the measurement
    assert len(results[1].history) == 2 and len(results[3].history) == 3
    assert trainer.active == [0, 2]  # the diverged members left the stack
    assert len(results[0].history) == 4
    assert_same_as_separate(configs, results)


def test_members_are_independent_of_their_group():
    """A member trained with others gives the numbers it gives in a group of two (no mixing across members)."""
    a = cfg([{"kind": "l1_prox", "alpha": 1e-2}], seed=4)
    many = train_vectorized([a] + [cfg([{"kind": "l2", "alpha": x}], seed=5) for x in (0.0, 1e-2, 1e-1)],
                            splits=_splits())
    few = train_vectorized([a, cfg([{"kind": "l2", "alpha": 0.0}], seed=6)], splits=_splits())
    assert many[0].history[-1]["test_loss"] == pytest.approx(few[0].history[-1]["test_loss"], rel=1e-12)


def _formulation(configs):
    return VectorizedTrainer(configs, splits=_splits()).formulation


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid"])
def test_fused_sgd_with_l2_decay_prox_and_projections_per_member(activation):
    """Plain SGD on an MLP folds L2 and decay into one update per weight matrix; each member is still its own run."""
    def c(reg, **kw):
        base = cfg(reg, hidden=(12, 7), **kw)
        return parse_config({**base.model_dump(), "model": {**base.model.model_dump(), "activation": activation}})

    configs = [
        c([{"kind": "l2", "alpha": 1e-2}], seed=0, lr=0.1),
        c([{"kind": "l2", "alpha": 3.0, "convention": "nielsen"}], seed=1, lr=0.05),
        c([{"kind": "weight_decay", "wd": 1e-1}], seed=2, lr=0.1),
        c([{"kind": "l1_prox", "alpha": 1e-2}], seed=3, lr=0.2),
        c([{"kind": "l2_ball", "radius": 2.0}], seed=4, lr=0.1),
        c([{"kind": "max_norm", "max_norm": 0.5}], seed=5, lr=0.1),
        c([{"kind": "l2", "alpha": 0.0}], seed=6, lr=0.1),
    ]
    assert _formulation(configs) == "batched MLP, fused SGD"
    assert_same_as_separate(configs)
    chains = [c([{"kind": "l2", "alpha": 1e-2, "mask": "all"}, {"kind": "weight_decay", "wd": 5e-2}], seed=s, lr=lr)
              for s, lr in ((0, 0.1), (1, 0.03))]
    assert_same_as_separate(chains)


def test_batched_mlp_gradients_for_momentum_adam_and_l1_without_bias():
    def c(reg, **kw):
        base = cfg(reg, **kw)
        return parse_config({**base.model_dump(), "model": {**base.model.model_dump(), "bias": False,
                                                             "activation": "tanh"}})

    sgd = [c([{"kind": "l1", "alpha": a}], seed=s, lr=lr, momentum=0.9, nesterov=True)
           for a, s, lr in ((1e-3, 0, 0.05), (1e-2, 1, 0.02), (0.0, 2, 0.05))]
    assert _formulation(sgd) == "batched MLP"
    assert_same_as_separate(sgd)
    adam = [c([{"kind": "l1", "alpha": 1e-3}], seed=0, lr=1e-2, optimizer="adam"),
            c([{"kind": "l2", "alpha": 1e-2}], seed=1, lr=3e-3, optimizer="adam")]
    assert_same_as_separate(adam)


def test_the_vmap_path_for_a_cnn_and_for_an_mlp_on_request():
    def cnn(reg, **kw):
        base = cfg(reg, epochs=1, **kw)
        return parse_config({**base.model_dump(), "model": {"kind": "cnn", "channels": [2], "kernel_size": 3,
                                                             "hidden": [6]}})

    configs = [cnn([{"kind": "l2", "alpha": a}], seed=s) for a, s in ((1e-2, 0), (0.0, 1))]
    assert _formulation(configs) == "vmap + functional_call"
    assert_same_as_separate(configs)
    mlps = [cfg([{"kind": "l1_prox", "alpha": 1e-2}], seed=s, epochs=1) for s in (0, 1)]
    assert_same_as_separate(mlps, train_vectorized(mlps, splits=_splits(), batched_mlp=False))


def test_time_engines_times_a_vectorized_step_against_separate_trainer_steps():
    from reglab.sweep import time_engines
    from reglab.sweep._timing import _busiest

    configs = [cfg([{"kind": "l2", "alpha": a}], seed=s) for a, s in ((0.0, 0), (1e-2, 1), (0.0, 2))]
    assert _busiest(configs) is configs[1]  # the separate side times the member with regularizer work
    timing = time_engines(configs, _splits(), steps=2)
    assert timing.vectorized_s > 0 and timing.separate_s > 0 and timing.steps == 2
    assert timing.choice == ("vectorized" if timing.vectorized_s < timing.separate_s else "separate")
    assert timing.describe().endswith(f"chose {timing.choice}")


def test_fused_sgd_without_biases_and_a_linear_model():
    def c(reg, seed, lr, **model):
        base = cfg(reg, seed=seed, lr=lr)
        return parse_config({**base.model_dump(), "model": {**base.model.model_dump(), **model}})

    no_bias = [c([{"kind": "l2", "alpha": a}], s, lr, bias=False) for a, s, lr in ((1e-2, 0, 0.1), (0.0, 1, 0.05))]
    linear = [c([{"kind": "weight_decay", "wd": wd}], s, 0.1, kind="logistic") for wd, s in ((1e-2, 0), (0.0, 1))]
    for configs in (no_bias, linear):
        trainer = VectorizedTrainer(configs, splits=_splits(), member_threads=False)
        assert trainer.formulation == "batched MLP, fused SGD"
        assert_same_as_separate(configs, trainer.run())
        assert _formulation(configs).startswith("MLP members side by side")
        assert_same_as_separate(configs)


def test_keep_models_returns_each_members_network_with_its_weights():
    configs = [cfg([{"kind": "l2", "alpha": a}], seed=s, epochs=1) for a, s in ((1e-2, 0), (0.0, 1))]
    results = train_vectorized(configs, splits=_splits(), keep_models=True)
    for c, r in zip(configs, results):
        ref = train(c)
        for (name, got), (_, want) in zip(r.model.named_parameters(), ref.model.named_parameters()):
            assert torch.allclose(got, want, rtol=1e-9, atol=1e-12), name
