"""reglab.evidence against independent references: scikit-learn's BayesianRidge, the exact Gaussian
marginal likelihood of linear regression, the dense spectrum (for the SLQ path), finite differences."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.stats import multivariate_normal
from sklearn.linear_model import BayesianRidge

from reglab.config import parse_config
from reglab.curvature import Objective
from reglab.data import load_dataset
from reglab.errors import ConfigError
from reglab.evidence import (
    Likelihood,
    dense_spectrum,
    fixed_point,
    lanczos_spectrum,
    lbfgs_fit,
    log_evidence,
    spectrum_at,
    tune_alpha,
)
from reglab.regularize.conventions import convert
from reglab.train import half_mse

SPECTRA = {
    "logspace": {"dim": 8, "n": 60, "noise_std": 0.3, "seed": 1},
    "two-clusters": {"dim": 10, "n": 80, "noise_std": 0.5, "seed": 2,
                     "spectrum": [20.0, 15.0, 10.0, 1e-3, 2e-3, 5e-3, 1e-2, 3e-3, 4e-3, 6e-3]},
}


def linear_problem(name: str):
    spec = SPECTRA[name]
    splits = load_dataset(parse_config({"data": {"name": "linear", **spec}}).data)
    X, y = splits.train.x.double(), splits.train.y.double()
    model = torch.nn.Linear(X.shape[1], 1, bias=False, dtype=torch.float64)
    torch.nn.init.zeros_(model.weight)
    return Objective(model, half_mse, (X, y), dtype=torch.float64), X, y


def sklearn_alpha(X: torch.Tensor, y: torch.Tensor) -> tuple[float, BayesianRidge]:
    """BayesianRidge without hyperpriors; its lambda_ is the prior precision a on ½‖y − Xw‖²
    (summed, m = n) and alpha_ the noise precision β, so reglab's α = a/(β·n) = convert(lambda_/alpha_,
    "sklearn-ridge", "reglab", n=n)."""
    br = BayesianRidge(fit_intercept=False, alpha_1=0.0, alpha_2=0.0, lambda_1=0.0, lambda_2=0.0, tol=1e-13,
                       max_iter=3_000, compute_score=False)
    br.fit(X.numpy(), y.numpy().ravel())
    return convert(br.lambda_ / br.alpha_, "sklearn-ridge", "reglab", n=X.shape[0]), br


@pytest.mark.parametrize("name", sorted(SPECTRA))
def test_fixed_point_equals_bayesian_ridge(name):
    objective, X, y = linear_problem(name)
    n = X.shape[0]
    expected, br = sklearn_alpha(X, y)
    spectrum = dense_spectrum(objective)  # at w = 0: exact, the model is quadratic
    point = fixed_point(spectrum, Likelihood("gaussian", n=n), alpha0=1e-3, tol=1e-14, max_iter=100_000)
    assert point.converged
    assert point.alpha == pytest.approx(expected, rel=1e-6)
    assert point.beta == pytest.approx(br.alpha_, rel=1e-6)
    assert point.summed_alpha == pytest.approx(br.lambda_, rel=1e-6)


def test_spectra_differ():
    eig = {name: np.linalg.eigvalsh((lambda o: (o[1].T @ o[1] / o[1].shape[0]).numpy())(linear_problem(name)))
           for name in SPECTRA}
    assert eig["logspace"].max() / eig["logspace"].min() == pytest.approx(1e3, rel=1e-6)
    assert eig["two-clusters"].max() / eig["two-clusters"].min() == pytest.approx(2e4, rel=1e-6)


@pytest.mark.parametrize("alpha,beta", [(1e-3, 5.0), (0.05, 12.0), (0.7, 2.0)])
def test_log_evidence_is_the_gaussian_marginal_likelihood(alpha, beta):
    objective, X, y = linear_problem("logspace")
    n = X.shape[0]
    a = beta * n * alpha  # the prior precision on the summed loss
    cov = np.eye(n) / beta + (X @ X.T).numpy() / a
    exact = multivariate_normal(mean=np.zeros(n), cov=cov).logpdf(y.numpy().ravel())
    value = log_evidence(dense_spectrum(objective), alpha, Likelihood("gaussian", n=n), beta)
    assert value.log_evidence == pytest.approx(exact, rel=1e-10)
    assert value.stderr == 0.0


def test_tune_alpha_on_least_squares_needs_two_trainings():
    objective, X, y = linear_problem("two-clusters")
    expected, _ = sklearn_alpha(X, y)
    result = tune_alpha(objective, Likelihood("gaussian", n=X.shape[0]), alpha0=1.0, tol=1e-14, max_iter=100_000)
    assert result.converged and result.trainings == 2
    assert result.alpha == pytest.approx(expected, rel=1e-6)
    assert result.compute["curvature_products"] == 2 * X.shape[1]
    assert result.compute["grad_equivalents"] > result.compute["training_grad_evals"]


def test_predicted_weights_match_training():
    objective, X, y = linear_problem("logspace")
    spectrum = dense_spectrum(objective)
    fit = lbfgs_fit(objective, tol=1e-12)
    for alpha in (1e-3, 0.1):
        w = fit(alpha, objective.vector()).w
        assert spectrum.weight_norm2(alpha) == pytest.approx(float(w @ w), rel=1e-8)
        assert spectrum.penalized_loss(alpha) == pytest.approx(float(objective.loss(w, alpha)), rel=1e-8)


# -- a small MLP --------------------------------------------------------------------------------------------

def mlp_objective(seed: int = 0, trained_alpha: float | None = 1e-2) -> Objective:
    gen = torch.Generator().manual_seed(seed)
    X = torch.randn(120, 5, generator=gen, dtype=torch.float64)
    Y = (X[:, :3].sum(1) > 0).long() + (X[:, 3] > 0.5).long()
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(5, 12), torch.nn.Tanh(), torch.nn.Linear(12, 3)).double()
    objective = Objective(model, torch.nn.functional.cross_entropy, (X, Y), dtype=torch.float64)
    if trained_alpha is not None:
        objective = objective.at(lbfgs_fit(objective, tol=1e-9)(trained_alpha, objective.vector()).w)
    return objective


def test_slq_log_evidence_within_its_error_bars():
    objective = mlp_objective()
    likelihood = Likelihood("categorical", n=120)
    dense = dense_spectrum(objective, curvature="ggn")
    slq = lanczos_spectrum(objective, curvature="ggn", top_k=8, num_probes=30, lanczos_steps=25, seed=3)
    assert slq.method == "lanczos+slq" and dense.method == "dense"
    np.testing.assert_allclose(np.sort(slq.top), np.sort(dense.top)[-8:], rtol=1e-5)
    for alpha in (1e-3, 1e-2, 0.1):
        exact, approx = log_evidence(dense, alpha, likelihood), log_evidence(slq, alpha, likelihood)
        assert approx.stderr > 0
        assert abs(approx.log_evidence - exact.log_evidence) <= 3 * approx.stderr + 1e-8 * abs(exact.log_evidence)
        assert abs(approx.gamma - exact.gamma) <= 3 * approx.gamma_stderr + 1e-8
        assert approx.weight_norm2 == pytest.approx(exact.weight_norm2, rel=1e-6)


def test_fixed_point_is_a_stationary_point_of_the_evidence():
    objective = mlp_objective()
    likelihood = Likelihood("categorical", n=120)
    spectrum = dense_spectrum(objective, curvature="ggn")
    point = fixed_point(spectrum, likelihood, alpha0=1e-2)
    assert point.converged
    f = lambda log_a: log_evidence(spectrum, math.exp(log_a), likelihood).log_evidence  # noqa: E731
    h, x = 1e-4, math.log(point.alpha)
    assert abs((f(x + h) - f(x - h)) / (2 * h)) < 1e-5
    assert f(x) > f(x + 0.5) and f(x) > f(x - 0.5)


def test_negative_eigenvalues_reported_never_silent():
    objective = mlp_objective(trained_alpha=None)  # at the random initialization: an indefinite Hessian
    clipped = dense_spectrum(objective, curvature="hessian")
    assert clipped.negative.count > 0 and clipped.negative.handling == "clip"
    assert clipped.negative.most_negative == pytest.approx(float(clipped.top.min()))
    with pytest.raises(ConfigError, match="negative eigenvalue"):
        dense_spectrum(objective, curvature="hessian", negative="error")
    auto = spectrum_at(objective, curvature="auto")
    assert auto.curvature == "ggn" and auto.negative.handling == "switched to ggn"
    assert auto.negative.count == clipped.negative.count
    assert auto.num_hvps == 2 * objective.size
    assert float(auto.top.min()) > -1e-10
    slq = spectrum_at(objective, method="lanczos", curvature="auto", top_k=4, num_probes=4, lanczos_steps=10)
    assert slq.negative.handling == "switched to ggn" and slq.negative.most_negative < 0


def test_tune_alpha_mlp_reports_rounds_and_compute():
    objective = mlp_objective(trained_alpha=None)
    result = tune_alpha(objective, Likelihood("categorical", n=120), alpha0=1e-3, curvature="ggn",
                        max_trainings=4, rtol=0.05)
    assert 1 <= result.trainings <= 4 == len(result.rounds) or result.converged
    assert len(result.rounds) == result.trainings
    assert result.rounds[0]["alpha_trained"] == 1e-3
    total = result.compute
    assert total["curvature_products"] == result.trainings * objective.size
    assert total["grad_equivalents"] == pytest.approx(total["training_grad_evals"] + total["gradients"]
                                                      + 2.0 * total["curvature_products"])
    if result.converged:
        assert abs(math.log(result.alpha / result.alpha_trained)) <= 0.05


@pytest.mark.parametrize("kwargs,field", [({"curvature": "fisher"}, "curvature"), ({"negative": "abs"}, "negative"),
                                          ({"method": "exact"}, "method")])
def test_bad_options_name_the_field(kwargs, field):
    objective, _, _ = linear_problem("logspace")
    with pytest.raises(ConfigError) as err:
        spectrum_at(objective, **kwargs)
    assert err.value.field == field


def test_likelihood_validates():
    with pytest.raises(ConfigError, match="likelihood"):
        Likelihood("poisson", n=3)
    assert Likelihood("gaussian", n=10, scale=0.5).summed_alpha(0.1, beta=2.0) == pytest.approx(1.0)


def test_curvature_on_a_subsample_is_counted_at_its_share():
    objective = mlp_objective(trained_alpha=None)
    X, Y = objective.batches[0]
    half = Objective(torch.nn.Sequential(torch.nn.Linear(5, 12), torch.nn.Tanh(), torch.nn.Linear(12, 3)).double(),
                     torch.nn.functional.cross_entropy, (X[:60], Y[:60]), dtype=torch.float64)
    result = tune_alpha(objective, Likelihood("categorical", n=120), alpha0=1e-2, curvature="ggn", max_trainings=2,
                        curvature_objective=half)
    total = result.compute
    assert total["curvature_data_fraction"] == 0.5
    assert total["grad_equivalents"] == pytest.approx(total["training_grad_evals"] + 0.5 * (
        total["gradients"] + 2.0 * total["curvature_products"]))
    # the spectrum is the subsample's: its GGN at the last trained point
    expected = dense_spectrum(half.at(result.w), curvature="ggn")
    np.testing.assert_allclose(result.spectrum.top, expected.top, rtol=1e-10, atol=1e-12)


def test_unpenalized_intercept_joint_equals_bayesian_ridge_with_intercept():
    """A bias outside the prior, minimized jointly (Schur complement), is scikit-learn's centering."""
    _, X, y = linear_problem("logspace")
    y = y + 3.0
    model = torch.nn.Linear(X.shape[1], 1, dtype=torch.float64)
    objective = Objective(model, half_mse, (X, y), dtype=torch.float64, penalized=["weight"])
    br = BayesianRidge(fit_intercept=True, alpha_1=0.0, alpha_2=0.0, lambda_1=0.0, lambda_2=0.0, tol=1e-13,
                       max_iter=3_000).fit(X.numpy(), y.numpy().ravel())
    spectrum = dense_spectrum(objective, unpenalized="joint")
    assert spectrum.unpenalized == "joint" and spectrum.size == X.shape[1]
    point = fixed_point(spectrum, Likelihood("gaussian", n=X.shape[0]), alpha0=1e-2, tol=1e-14, max_iter=100_000)
    expected = convert(br.lambda_ / br.alpha_, "sklearn-ridge", "reglab", n=X.shape[0])
    assert point.alpha == pytest.approx(expected, rel=1e-6)
    assert point.beta == pytest.approx(br.alpha_, rel=1e-6)
