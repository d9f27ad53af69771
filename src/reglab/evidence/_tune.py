r"""Choose α by the evidence with few retrainings: train, take the spectrum, iterate on the prediction, repeat.

Round ``t``: ``w_t`` is trained at ``α_t``; the :class:`Spectrum` at ``w_t`` turns
the quadratic model into ``w̃(α)`` for every α (the notes' ``Q(Λ+αI)⁻¹ΛQᵀw*``
with the minimizer implied by ``w_t``); :func:`fixed_point` iterates on it to
``α_{t+1}``. When ``|log(α_{t+1}/α_t)| ≤ rtol`` the trained point is where the
evidence says it should be and the search stops; otherwise ``w_{t+1}`` is trained
at ``α_{t+1}`` (one *retraining*). The result says how many trainings were used
and what they, the curvature products and the gradients cost, in
*gradient-equivalents*: one full-data gradient = 1, one curvature product
(HVP or GGN-vector product) = ``hvp_cost`` (default 2, Pearlmutter's bound;
``benchmarks/bench_hvp.py`` measures about 2.5 on a 2-core CPU), one training =
whatever its ``fit`` reports (an epoch of mini-batch SGD = 1, an L-BFGS
evaluation = 1).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from reglab.curvature import Objective
from reglab.errors import ConfigError
from reglab.evidence._fixed_point import FixedPoint, Likelihood, fixed_point, log_evidence
from reglab.evidence._spectrum import Spectrum, spectrum_at

__all__ = ["Fit", "TuneResult", "tune_alpha", "lbfgs_fit", "evidence_curve", "alpha_noise", "evidence_gain",
           "MODES"]

HVP_COST = 2.0
MODES = ("predicted", "held")


@dataclass(frozen=True)
class Fit:
    """What one training returns: the flat parameters (the objective's layout) and its cost in gradients."""

    w: torch.Tensor
    grad_evals: float
    info: dict = field(default_factory=dict)


FitFn = Callable[[float, torch.Tensor], Fit]


@dataclass
class TuneResult:
    """The evidence-chosen strength and how it was found.

    Attributes:
        alpha: reglab's α (on the mean loss) = torch ``weight_decay``; the last fixed point.
        alpha_trained: the α of the last training (within ``rtol`` of ``alpha`` when converged).
        beta: noise precision (Gaussian likelihood) or 1.
        summed_alpha: MacKay's ``a = β·m·α`` on the summed loss.
        gamma: effective number of parameters at ``alpha``.
        log_evidence, log_evidence_stderr: at ``alpha`` on the last spectrum.
        converged: whether ``|log(α_{t+1}/α_t)| ≤ rtol`` was reached.
        trainings: trainings used (the first one at ``alpha0`` included).
        rounds: one dict per round (α trained, fixed point, γ, log-evidence, spectrum summary).
        compute: gradients, curvature products, training cost and the total in gradient-equivalents.
        w: the last trained parameters; spectrum: the last spectrum.
    """

    alpha: float
    alpha_trained: float
    beta: float
    summed_alpha: float
    gamma: float
    log_evidence: float
    log_evidence_stderr: float
    converged: bool
    trainings: int
    rounds: list[dict]
    compute: dict
    seconds: float
    w: torch.Tensor = field(repr=False)
    spectrum: Spectrum = field(repr=False)
    fits: list[Fit] = field(default_factory=list, repr=False)

    def to_json(self) -> dict:
        keys = ("alpha", "alpha_trained", "beta", "summed_alpha", "gamma", "log_evidence", "log_evidence_stderr",
                "converged", "trainings", "rounds", "compute", "seconds")
        return {k: getattr(self, k) for k in keys}


def lbfgs_fit(objective: Objective, *, tol: float = 1e-8, max_evals: int = 2000) -> FitFn:
    """A full-batch L-BFGS training of ``C₀ + (α/2)‖m⊙w‖²`` on ``objective``, warm-started, counted.

    Each closure evaluation is one loss and gradient over all the data (1 gradient-equivalent).
    """

    def fit(alpha: float, w0: torch.Tensor) -> Fit:
        w = w0.detach().clone().requires_grad_(True)
        opt = torch.optim.LBFGS([w], lr=1.0, max_iter=max_evals, max_eval=max_evals, history_size=50,
                                line_search_fn="strong_wolfe", tolerance_grad=tol, tolerance_change=0.0)
        evals = [0]

        def closure() -> torch.Tensor:
            opt.zero_grad()
            value = objective.loss(w, alpha)
            value.backward()
            evals[0] += 1
            return value

        opt.step(closure)
        return Fit(w.detach(), float(evals[0]), {"optimizer": "lbfgs"})

    return fit


def alpha_noise(spectrum: Spectrum, point: FixedPoint) -> float:
    """The relative standard error of the fixed point's α from SLQ's error on γ (0 on the dense path).

    At the fixed point ``α = γ/(β m ‖w̃‖²)``; ``‖w̃‖²`` comes from Gauss quadrature
    (no probe noise), so α's relative error is γ's, ``stderr(γ)/γ``.
    """
    _, stderr = spectrum.gamma(point.alpha)
    return float(stderr / point.gamma) if point.gamma > 0 and math.isfinite(stderr) else 0.0


def evidence_gain(spectrum: Spectrum, likelihood: Likelihood, alpha_from: float, alpha_to: float,
                  beta: float = 1.0) -> tuple[float, float]:
    """``log p(D | α_to) − log p(D | α_from)`` on one spectrum (at noise precision ``beta``) and its stderr.

    The stderr is SLQ's on ``½[log det(H + α_to I) − log det(H + α_from I)]``, taken probe by
    probe on the same probes (0 on the dense path).
    """
    gain = (log_evidence(spectrum, alpha_to, likelihood, beta).log_evidence
            - log_evidence(spectrum, alpha_from, likelihood, beta).log_evidence)
    _, stderr = spectrum.trace(lambda lam: np.log(lam + alpha_to) - np.log(lam + alpha_from))
    return float(gain), 0.5 * float(stderr)


def _round_record(t: int, alpha_t: float, fit: Fit, spectrum: Spectrum, point: FixedPoint, noise: float,
                  gain: tuple[float, float], seconds: float) -> dict:
    return {"round": t, "alpha_trained": alpha_t, "training_grad_evals": fit.grad_evals, **fit.info,
            "alpha_next": point.alpha, "alpha_noise": noise, "evidence_gain": gain[0],
            "evidence_gain_stderr": gain[1], "curvature_seconds": seconds, "mode": spectrum.mode,
            "beta": point.beta, "gamma": point.gamma,
            "log_evidence": point.evidence.log_evidence, "log_evidence_stderr": point.evidence.stderr,
            "iterations": point.iterations, "iteration_converged": point.converged,
            "iteration_history": point.history[:50], "spectrum": spectrum.summary()}


def tune_alpha(objective: Objective, likelihood: Likelihood, *, alpha0: float = 1e-3, fit: FitFn | None = None,
               w0: torch.Tensor | None = None, rtol: float = 0.05, max_trainings: int = 4,
               method: str = "auto", curvature: str = "auto", unpenalized: str = "joint", negative: str = "clip",
               top_k: int = 20, num_probes: int = 10, lanczos_steps: int = 40, seed: int = 0,
               hvp_cost: float = HVP_COST, tol: float = 1e-10, max_iter: int = 10_000,
               curvature_objective: Objective | None = None, r_steps: int | None = None, mode: str = "predicted",
               min_gain: float = 0.0, check_last: bool = True,
               progress: Callable[[str], None] | None = None) -> TuneResult:
    r"""MacKay's evidence maximization for the L2 strength of ``objective`` (penalty mask: ``objective.mask``).

    Args:
        objective: the *mean* training loss ``C₀`` on the training data; its mask says
            which coordinates the prior (the L2 penalty) covers.
        likelihood: ``Likelihood(kind, n, outputs, scale)`` linking ``C₀`` to the
            negative log-likelihood (see :mod:`reglab.evidence`).
        alpha0: the first training's strength (reglab's α).
        fit: ``fit(alpha, w_start) -> Fit``; default :func:`lbfgs_fit` on ``objective``.
        w0: where the first training starts (default ``objective.vector()``).
        rtol: stop when a round moves α by at most this factor in log (``|log(α'/α)|``), or by
            at most twice the SLQ noise of the new α (:func:`alpha_noise`), whichever is larger:
            a move below the noise is not evidence that α should change.
        min_gain: also stop when moving from the trained α to the new fixed point gains at
            most this many nats of log-evidence (on the round's spectrum), or at most twice
            that gain's SLQ error (:func:`evidence_gain`): the evidence itself barely prefers
            the move (1 nat: a Bayes factor of e, "barely worth mentioning" on Jeffreys'
            scale). 0 (the default): only ``rtol`` and the noise stop.
        check_last: ``False``: when the search reaches ``max_trainings``, the last training
            (at the previous round's fixed point) is not followed by a spectrum (saves its
            products); the result's α is then that fixed point, the α the last model was trained
            at, and γ and the log-evidence are the previous round's there.
        max_trainings: at most this many trainings in all.
        method, curvature, unpenalized, negative, top_k, num_probes, lanczos_steps, r_steps, seed:
            how each :class:`Spectrum` is taken (:func:`reglab.evidence.spectrum_at`).
        hvp_cost: gradient-equivalents per curvature product over all of ``objective``'s data.
        curvature_objective: take each spectrum (and the quadratic model) on this objective
            instead, e.g. the same model and loss on a random subsample of the training set:
            its products cost ``hvp_cost·(its examples / objective's examples)`` each. An
            approximation (the subsample's curvature and loss stand for the full set's); the
            likelihood's ``n`` stays that of the full training set.
        mode: ``"predicted"`` (between trainings the mode is the quadratic model's
            ``w̃(α)``, the issue's prediction) or ``"held"`` (the mode is the trained
            weights, :meth:`Spectrum.held`: MacKay's practical re-estimation, laplace-torch's
            objective; no measure of ``r`` is needed, so ``r_steps`` defaults to 0).
        tol, max_iter: of the inner :func:`fixed_point` iteration.
        progress: receives one line per round (the CLI prints them on stderr).

    Example:
        >>> import torch
        >>> from reglab.curvature import Objective
        >>> from reglab.data import load_dataset
        >>> from reglab.config import parse_config
        >>> from reglab.train import half_mse
        >>> splits = load_dataset(parse_config({"data": {"name": "linear", "dim": 5, "n": 50}}).data)
        >>> obj = Objective(torch.nn.Linear(5, 1, bias=False), half_mse, (splits.train.x, splits.train.y),
        ...                 dtype=torch.float64)
        >>> result = tune_alpha(obj, Likelihood("gaussian", n=50))
        >>> result.converged, result.trainings, result.spectrum.method
        (True, 2, 'dense')
    """
    if not (isinstance(max_trainings, int) and max_trainings >= 1):
        raise ConfigError(f"max_trainings must be a positive integer, got {max_trainings!r}", field="max_trainings")
    if not rtol > 0:
        raise ConfigError(f"rtol must be > 0, got {rtol!r}", field="rtol")
    if mode not in MODES:
        raise ConfigError(f"mode must be one of {', '.join(MODES)}; got {mode!r}", field="mode")
    if mode == "held" and r_steps is None:
        r_steps = 0
    start = time.perf_counter()
    fit = fit or lbfgs_fit(objective)
    curvature_on = curvature_objective or objective
    if curvature_on.size != objective.size or curvature_on.names != objective.names:
        raise ValueError("curvature_objective must have the same parameter layout as objective")
    fraction = _examples(curvature_on) / _examples(objective)
    say = progress or (lambda line: None)
    w = objective.vector() if w0 is None else w0
    alpha_t = float(alpha0)
    rounds, fits = [], []
    hvps, grads, training, curvature_seconds = 0, 0, 0.0, 0.0
    converged = False
    point = spectrum = None
    beta = None
    for t in range(1, max_trainings + 1):
        trained = fit(alpha_t, w)
        fits.append(trained)
        w, training = trained.w, training + trained.grad_evals
        if t > 1 and t == max_trainings and not check_last:
            # the last training is at the previous round's fixed point; no spectrum checks it
            rounds.append({"round": t, "alpha_trained": alpha_t, "training_grad_evals": trained.grad_evals,
                           **trained.info, "alpha_next": None, "spectrum": None})
            say(f"round {t}: trained at α = {alpha_t:.4g} ({trained.grad_evals:g} gradient-equivalents); "
                "the last training, not checked by a spectrum (check_last = False)")
            break
        tick = time.perf_counter()
        spectrum = spectrum_at(curvature_on.at(w), method=method, curvature=curvature, unpenalized=unpenalized,
                               negative=negative, top_k=top_k, num_probes=num_probes, lanczos_steps=lanczos_steps,
                               seed=seed, r_steps=r_steps)
        hvps, grads = hvps + spectrum.num_hvps, grads + spectrum.num_grads
        spectrum = spectrum.held() if mode == "held" else spectrum
        point = fixed_point(spectrum, likelihood, alpha_t, beta0=beta, tol=tol, max_iter=max_iter)
        seconds = time.perf_counter() - tick
        curvature_seconds += seconds
        noise = alpha_noise(spectrum, point)
        gain = evidence_gain(spectrum, likelihood, alpha_t, point.alpha, point.beta)
        beta = point.beta if likelihood.kind == "gaussian" else None
        rounds.append(_round_record(t, alpha_t, trained, spectrum, point, noise, gain, seconds))
        say(f"round {t}: trained at α = {alpha_t:.4g} ({trained.grad_evals:g} gradient-equivalents); "
            f"{spectrum.method}/{spectrum.curvature} spectrum ({spectrum.num_hvps} products); fixed point "
            f"α = {point.alpha:.4g}, γ = {point.gamma:.4g}, log-evidence {point.evidence.log_evidence:.6g}")
        if abs(math.log(point.alpha / alpha_t)) <= max(rtol, 2 * noise) or (
                min_gain > 0 and gain[0] <= max(min_gain, 2 * gain[1])):
            converged = True
            break
        if t < max_trainings:
            alpha_t = point.alpha
    assert point is not None and spectrum is not None
    compute = {"trainings": len(fits), "training_grad_evals": training, "curvature_products": hvps,
               "gradients": grads, "hvp_cost": hvp_cost, "curvature_data_fraction": fraction,
               "grad_equivalents": training + fraction * (grads + hvp_cost * hvps),
               "curvature_seconds": curvature_seconds, "seconds": time.perf_counter() - start}
    return TuneResult(point.alpha, alpha_t, point.beta, point.summed_alpha, point.gamma,
                      point.evidence.log_evidence, point.evidence.stderr, converged, len(fits), rounds, compute,
                      time.perf_counter() - start, w, spectrum, fits)


def _examples(objective: Objective) -> int:
    return sum(int(x.shape[0]) for x, _ in objective.batches)


def evidence_curve(spectrum: Spectrum, likelihood: Likelihood, alphas: Sequence[float],
                   beta: float = 1.0) -> dict[str, list[float]]:
    """Log-evidence (± stderr) and γ over ``alphas`` on one spectrum (the quadratic model; for figures)."""
    values = [log_evidence(spectrum, float(a), likelihood, beta) for a in alphas]
    return {"alpha": [float(a) for a in alphas], "log_evidence": [v.log_evidence for v in values],
            "stderr": [v.stderr for v in values], "gamma": [v.gamma for v in values]}


def log_grid(center: float, decades: float = 3.0, points: int = 61) -> np.ndarray:
    """``points`` strengths spaced evenly in log over ``center·10^(±decades)``."""
    return center * np.logspace(-decades, decades, points)
