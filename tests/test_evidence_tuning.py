"""The tuner's cheaper paths against independent references: the held mode against a hand-built
dense float64 GGN (torch.func Jacobians) and its closed-form fixed point, SLQ without deflation
against the dense spectrum, the evidence gain against differences of the closed form, and
fine-tuning against a separate reglab training."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import scipy.optimize
import torch
from torch.func import functional_call, jacrev

from reglab.config import parse_config
from reglab.curvature import Objective
from reglab.errors import ConfigError
from reglab.evidence import (
    Likelihood,
    dense_spectrum,
    evidence_gain,
    fixed_point,
    lanczos_spectrum,
    lbfgs_fit,
    log_evidence,
    tune_alpha,
)
from reglab.evidence._config import tune_config, with_alpha
from reglab.train import Trainer

N = 90


def small_mlp(seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    X = torch.randn(N, 4, generator=gen, dtype=torch.float64)
    Y = (X[:, 0] + X[:, 1] > 0).long() + (X[:, 2] > 0.3).long()
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(4, 10), torch.nn.Tanh(), torch.nn.Linear(10, 3)).double()
    weights = ["0.weight", "2.weight"]
    objective = Objective(model, torch.nn.functional.cross_entropy, (X, Y), dtype=torch.float64, penalized=weights)
    # trained briefly (not to a minimum): the held mode must use the weights as they are
    objective = objective.at(lbfgs_fit(objective, max_evals=30)(1e-3, objective.vector()).w)
    return objective, model, X, Y, weights


def ggn_by_hand(objective: Objective, model, X, weights) -> np.ndarray:
    """(1/n) Σᵢ Jᵢᵀ (diag pᵢ − pᵢpᵢᵀ) Jᵢ over the weight matrices, from torch.func Jacobians (float64)."""
    values = objective.unflatten(objective.vector())
    biases = {k: v for k, v in values.items() if k not in weights}

    def outputs(*ws):
        return functional_call(model, {**biases, **dict(zip(weights, ws, strict=True))}, (X,))

    jac = jacrev(outputs, argnums=tuple(range(len(weights))))(*[values[k] for k in weights])
    J = torch.cat([j.reshape(X.shape[0], 3, -1) for j in jac], dim=2)  # n × C × k
    p = torch.softmax(outputs(*[values[k] for k in weights]), dim=1)
    H = torch.diag_embed(p) - p[:, :, None] * p[:, None, :]
    return torch.einsum("nci,ncd,ndj->ij", J, H, J).div(X.shape[0]).numpy()


def test_held_mode_fixed_point_and_evidence_equal_the_closed_form():
    objective, model, X, _, weights = small_mlp()
    lam = np.linalg.eigvalsh(ggn_by_hand(objective, model, X, weights))
    lam = np.maximum(lam, 0.0)
    w = objective.vector()[objective.mask]
    theta2, loss = float(w @ w), float(objective.loss())
    # the held evidence: −n(C₀(θ) + α‖θ‖²/2) + (k/2)log α − ½Σ log(λ+α); its stationary point
    # α = γ(α)/(n‖θ‖²), solved by a root finder on the hand-built spectrum
    root = scipy.optimize.brentq(lambda a: np.sum(lam / (lam + a)) / (N * theta2) - a, 1e-8, 10.0, xtol=1e-15)
    spectrum = dense_spectrum(objective, curvature="ggn", unpenalized="held").held()
    point = fixed_point(spectrum, Likelihood("categorical", n=N), alpha0=1e-2, tol=1e-14)
    assert point.converged and point.alpha == pytest.approx(root, rel=1e-8)
    for alpha in (1e-3, root, 0.3):
        closed = -N * (loss + 0.5 * alpha * theta2) + 0.5 * len(lam) * math.log(alpha) - 0.5 * np.sum(
            np.log(lam + alpha))
        value = log_evidence(spectrum, alpha, Likelihood("categorical", n=N))
        assert value.log_evidence == pytest.approx(closed, rel=1e-9)
        assert value.weight_norm2 == pytest.approx(theta2, rel=1e-12)
    # the predicted mode differs here: the point is not a minimizer, so w̃(α₀) ≠ θ
    predicted = fixed_point(dense_spectrum(objective, curvature="ggn", unpenalized="held"),
                            Likelihood("categorical", n=N), alpha0=1e-2)
    assert abs(math.log(predicted.alpha / point.alpha)) > 0.05


def test_slq_without_deflation_within_its_error_bars():
    objective, model, X, _, weights = small_mlp(1)
    lam = np.maximum(np.linalg.eigvalsh(ggn_by_hand(objective, model, X, weights)), 0.0)
    slq = lanczos_spectrum(objective, curvature="ggn", top_k=0, num_probes=40, lanczos_steps=20, r_steps=0,
                           seed=5).held()
    assert len(slq.top) == 0 and slq.summary()["slq"]["top_k"] == 0
    for alpha in (1e-3, 3e-2, 0.5):
        gamma, stderr = slq.gamma(alpha)
        exact = float(np.sum(lam / (lam + alpha)))
        assert 0 < stderr < 0.2 * exact
        assert abs(gamma - exact) <= 3 * stderr
        logdet, logdet_err = slq.logdet(alpha)
        assert abs(logdet - float(np.sum(np.log(lam + alpha)))) <= 3 * logdet_err


def test_r_steps_zero_needs_the_held_mode_and_bad_values_name_the_field():
    objective, *_ = small_mlp()
    spectrum = lanczos_spectrum(objective, curvature="ggn", top_k=0, num_probes=3, lanczos_steps=5, r_steps=0)
    assert spectrum.weight_norm2(1e-2) == 0.0  # no measure of r: only the held mode has a norm
    assert spectrum.held().weight_norm2(1e-2) == pytest.approx(float(objective.vector()[objective.mask].square().sum()))
    for kwargs, field in (({"top_k": -1}, "top_k"), ({"r_steps": -2}, "r_steps")):
        with pytest.raises(ConfigError) as err:
            lanczos_spectrum(objective, curvature="ggn", **kwargs)
        assert err.value.field == field
    with pytest.raises(ConfigError) as err:
        tune_alpha(objective, Likelihood("categorical", n=N), mode="fixed")
    assert err.value.field == "mode" and "held" in str(err.value)


def test_evidence_gain_is_the_difference_of_log_evidences():
    objective, *_ = small_mlp()
    likelihood = Likelihood("categorical", n=N)
    dense = dense_spectrum(objective, curvature="ggn")
    gain, stderr = evidence_gain(dense, likelihood, 1e-3, 2e-2)
    assert stderr == 0.0
    assert gain == pytest.approx(log_evidence(dense, 2e-2, likelihood).log_evidence
                                 - log_evidence(dense, 1e-3, likelihood).log_evidence, rel=1e-12)
    slq = lanczos_spectrum(objective, curvature="ggn", top_k=0, num_probes=20, lanczos_steps=20, seed=2)
    gain_slq, stderr_slq = evidence_gain(slq, likelihood, 1e-3, 2e-2)
    assert stderr_slq > 0 and abs(gain_slq - gain) <= 3 * stderr_slq + 1e-6 * abs(gain)


def test_min_gain_stops_when_the_evidence_barely_prefers_the_move():
    """The search stops at the first round whose move gains at most ``min_gain`` nats (exact gains on the dense
    path). The bounds sit far from the gains seen (round 0 gains 3.3-3.7 nats, round 1 under 0.1): the L-BFGS
    trainings of this non-convex MLP need not repeat bit for bit from one call to the next (float64 matrix
    products may round differently with buffer alignment), so the test never relies on two calls agreeing."""
    objective, *_ = small_mlp()
    likelihood = Likelihood("categorical", n=N)
    fit = lbfgs_fit(objective, tol=1e-10)
    free = tune_alpha(objective, likelihood, alpha0=1e-3, curvature="ggn", fit=fit, rtol=1e-9, max_trainings=3)
    assert free.rounds[0]["evidence_gain"] > 1.0 and free.rounds[0]["evidence_gain_stderr"] == 0.0
    assert free.trainings == 3  # without min_gain (and rtol this small) the search uses every training
    at_once = tune_alpha(objective, likelihood, alpha0=1e-3, curvature="ggn", fit=fit, rtol=1e-9, max_trainings=3,
                         min_gain=50.0)
    assert at_once.trainings == 1 and at_once.converged and at_once.rounds[0]["evidence_gain"] <= 50.0
    later = tune_alpha(objective, likelihood, alpha0=1e-3, curvature="ggn", fit=fit, rtol=1e-9, max_trainings=3,
                       min_gain=1.0)
    gains = [r["evidence_gain"] for r in later.rounds]
    assert later.converged and later.trainings == len(gains) >= 2
    assert all(g > 1.0 for g in gains[:-1]) and gains[-1] <= 1.0


def digits_config() -> dict:
    return {"name": "tiny", "data": {"name": "digits", "n_train": 300},
            "model": {"kind": "mlp", "hidden": [16], "activation": "relu"},
            "train": {"epochs": 3, "seed": 4, "batch_size": 32, "lr": 0.05, "momentum": 0.9,
                      "checkpoint_every": 10**9},
            "regularizer": [{"kind": "l2", "alpha": 1e-4}]}


def test_fine_tuning_continues_the_previous_weights_like_a_separate_training(tmp_path):
    cfg = parse_config(digits_config())
    result = tune_config(cfg, out=tmp_path, method="lanczos", curvature="ggn", top_k=0, num_probes=3,
                         lanczos_steps=5, mode="held", max_trainings=2, finetune_epochs=1, check_last=False,
                         curvature_examples=100, curvature_dtype="float32")
    first, second = result.runs
    assert first["epochs"] == 3 and first["fine_tuned_from"] is None
    assert second["epochs"] == 1 and second["fine_tuned_from"] == first["run_id"]
    assert result.tune.rounds[-1]["spectrum"] is None  # check_last = False: the last training is not checked
    assert result.tune.alpha == result.tune.alpha_trained == second["alpha"] == result.tune.rounds[0]["alpha_next"]
    compute = result.tune.compute
    assert compute["training_epochs"] == 4
    assert compute["seconds"] >= first["seconds"] + second["seconds"] + compute["curvature_seconds"]
    assert compute["epoch_equivalents"] == pytest.approx(compute["seconds"] * first["epochs"] / first["seconds"])
    assert compute["loop_epoch_equivalents"] == pytest.approx(compute["seconds"] / first["epoch_seconds"])
    # the reference: a separate training of the first run's config, then one epoch at the new α from its weights
    reference = Trainer(cfg)
    for _ in range(3):
        reference.run_epoch()
    ft_cfg = parse_config({**with_alpha(cfg, second["alpha"]).model_dump(mode="json"),
                           "train": {**cfg.train.model_dump(mode="json"), "epochs": 1}})
    tuned = Trainer(ft_cfg, model=copy.deepcopy(reference.model))
    tuned.run_epoch()
    w = torch.cat([p.detach().reshape(-1) for _, p in tuned.model.named_parameters()])
    np.testing.assert_allclose(result.tune.w.double().numpy(), w.double().numpy(), rtol=1e-5, atol=1e-6)
    assert second["final"]["test_error"] == pytest.approx(tuned.history[-1]["test_error"])


@pytest.mark.parametrize("kwargs,field", [({"finetune_epochs": 0}, "finetune_epochs"),
                                          ({"curvature_dtype": "float16"}, "curvature_dtype")])
def test_tune_config_options_name_the_field(kwargs, field):
    with pytest.raises(ConfigError) as err:
        tune_config(parse_config(digits_config()), **kwargs)
    assert err.value.field == field
