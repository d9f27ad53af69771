"""Predict the regularized minimizer from the Hessian at the unregularized one, then check it.

The lecture notes' result (Goodfellow et al. §7.1.1; seeds 000, 002, 004): with
H = QΛQᵀ the Hessian of the mean loss C₀ at its minimizer w*, the minimizer of
C₀ + (α/2)‖w‖² in the quadratic model is

    w̃ = Q(Λ + αI)⁻¹ΛQᵀw*        (component i shrunk by λᵢ/(λᵢ + α)),

and with a diagonal H the minimizer of C₀ + α‖w‖₁ is the soft-threshold
w̃ᵢ = sign(w*ᵢ)·max(|w*ᵢ| − α/Hᵢᵢ, 0) (§7.1.2). α multiplies the penalty on the
*mean* loss (torch's weight_decay; Nielsen's λ = α·n).

**Unpenalized parameters** (biases, by default) are optimized jointly. Minimizing
the quadratic model over them first leaves a quadratic in the penalized weights
whose Hessian is the Schur complement H_eff = H_ww − H_wb H_bb⁻¹ H_bw; the formulas
above then hold exactly with H_eff in place of H. With no unpenalized
parameters, H_eff = H.

**No finite minimizer.** On separable classification data the unregularized loss
keeps falling as the weights grow. ``verify`` says so and predicts from a
reference point w₀ = w̃(α₀) at a small α₀ with the Newton form
w̃(α) ≈ w₀ − (H₀ + αD)⁻¹(∇C₀(w₀) + αDw₀) (D the penalty mask), which is the
notes' formula when ∇C₀(w₀) = 0.

**As parts.** :func:`verify` is: build the :class:`~reglab.curvature.Objective`, find
the expansion point (w* or w̃(α₀)), take the dense Hessian there, then
:func:`fit_minimizers` → :func:`reglab.theory.predict` → :func:`compare`, the same
parts an experiment calls; "holds" means ``compare``'s relative error ≤ ``threshold``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Sequence

import torch

from reglab.config import RunConfig
from reglab.curvature import Objective, dense_hessian
from reglab.data import Splits, load_dataset
from reglab.errors import ConfigError
from reglab.models import build_model
from reglab.regularize import select_parameters
from reglab.theory import effective_hessian, effective_parameters, predict, shrink_factors
from reglab.train import get_loss
from reglab.verify._compare import HOLDS_THRESHOLD, compare
from reglab.verify._objective import FitResult, classification_error, fit_minimizers, minimize_lbfgs

__all__ = ["verify", "verify_config", "VerifyReport", "VerifyCase"]


@dataclass
class VerifyCase:
    alpha: float
    rel_err: float
    cosine: float
    effective_parameters: float | None
    effective_parameters_trace: float | None
    grad_norm: float
    converged: bool
    norm_trained: float
    norm_predicted: float
    shrink_max_abs_diff: float | None = None
    shrink_predicted: list[float] | None = None
    shrink_observed: list[float | None] | None = None
    zeros_predicted: int | None = None
    zeros_trained: int | None = None
    zero_pattern_match: bool | None = None
    holds: bool = False


@dataclass
class VerifyReport:
    penalty: str
    n_parameters: int
    n_penalized: int
    minimizer: str
    reference_alpha: float | None
    unregularized_grad_norm: float
    eigenvalues: list[float]
    threshold: float
    cases: list[VerifyCase]
    verdict: str
    hessian_offdiag_ratio: float
    seconds: float
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        from dataclasses import asdict

        return asdict(self)


@dataclass
class _Point:
    """Where the quadratic model is taken: w₀, and ∇C₀(w₀) when w₀ is not the unregularized minimizer."""

    w: torch.Tensor
    grad: torch.Tensor | None
    minimizer: str
    reference_alpha: float | None
    star: FitResult
    notes: list[str]


def _separates(objective: Objective, w: torch.Tensor) -> bool:
    """Cross-entropy with every training example classified correctly has no finite minimizer.

    Scaling the last layer's weights and bias by c > 1 scales every margin by c,
    so the loss falls strictly: the infimum (0) is approached as ‖w‖ → ∞.
    """
    return classification_error(objective, w) == 0.0


def _expansion_point(objective: Objective, alphas: list[float], penalty: str, classification: bool, tol: float,
                     max_iter: int, reference_alpha: float | None) -> _Point:
    """Train to w*; if it does not exist (or was not reached, or α₀ is asked for) to w̃(α₀) instead."""
    notes: list[str] = []
    stop = (lambda w: _separates(objective, w)) if classification else None
    w_init = objective.vector()
    star = minimize_lbfgs(objective, w_init, 0.0, tol=tol, max_iter=max_iter, stop=stop)
    separable = classification and _separates(objective, star.w)
    if separable and penalty == "l1":
        raise ConfigError("the unregularized loss has no finite minimizer here (separable data), and the L1 "
                          "prediction needs one; verify L1 on a regression problem", field="--penalty")
    if not (penalty == "l2" and (separable or reference_alpha is not None or not star.converged)):
        minimizer = "finite" if star.converged else "approximate"
        if not star.converged:
            notes.append(f"unregularized fit stopped at ‖∇C₀‖∞ = {star.grad_norm:.2e} (tolerance {tol:g})")
        return _Point(star.w, None, minimizer, None, star, notes)
    a0 = reference_alpha or min(alphas) / 10.0
    # from the initial weights: w* may have run off to a saturated region, w̃(α₀) is well posed
    ref = minimize_lbfgs(objective, w_init, a0, tol=tol, max_iter=max_iter)
    if separable:
        minimizer = "none (separable data: the loss falls as ‖w‖ grows)"
        why = f"no finite unregularized minimizer (train error 0, ‖∇C₀‖∞ = {star.grad_norm:.2e})"
    elif not star.converged:
        minimizer = "not reached"
        why = (f"the unregularized fit stopped at ‖∇C₀‖∞ = {star.grad_norm:.2e} after {star.iterations} "
               "L-BFGS iterations")
    else:
        minimizer = "finite"
        why = "a reference point was asked for"
    notes.append(f"{why}; predictions are Newton steps from w̃(α₀), α₀ = {a0:g} "
                 f"(‖∇C(w̃(α₀))‖∞ = {ref.grad_norm:.2e})")
    return _Point(ref.w, objective.grad(ref.w), minimizer, a0, star, notes)


def _shrinkage(lam: torch.Tensor, Q: torch.Tensor, c_star: torch.Tensor, trained: torch.Tensor, alpha: float,
               H_eff: torch.Tensor) -> dict[str, Any]:
    """Predicted vs observed shrink factors along H_eff's eigenvectors, and γ(α) two ways."""
    eye = torch.eye(len(lam), dtype=H_eff.dtype)
    predicted_shrink = shrink_factors(lam.clamp(min=0), alpha)
    c_tr = Q.T @ trained
    determined = c_star.abs() > 1e-3 * c_star.abs().max()
    observed = torch.where(determined, c_tr / torch.where(determined, c_star, 1.0), float("nan"))
    diffs = (observed - predicted_shrink)[determined]
    return {"effective_parameters": float(effective_parameters(lam.clamp(min=0), alpha)),
            "effective_parameters_trace": float(torch.trace(torch.linalg.solve(H_eff + alpha * eye, H_eff))),
            "shrink_predicted": predicted_shrink.tolist(),
            "shrink_observed": [None if math.isnan(v) else v for v in observed.tolist()],
            "shrink_max_abs_diff": float(diffs.abs().max()) if len(diffs) else None}


def verify(cfg: RunConfig, alphas: Sequence[float], *, penalty: str = "l2", mask: Any = "weights",
           threshold: float = HOLDS_THRESHOLD, tol: float = 1e-9, max_iter: int = 3000, reference_alpha: float | None = None,
           splits: Splits | None = None) -> VerifyReport:
    """Train to w*, take H at w*, predict w̃(α) for each α, train to w̃(α), compare.

    >>> from reglab.config import parse_config
    >>> cfg = parse_config({"data": {"name": "linear", "dim": 3, "n": 50}, "model": {"kind": "linear", "bias": False}})
    >>> report = verify(cfg, [0.1, 1.0])
    >>> max(c.rel_err for c in report.cases) < 1e-8
    True
    """
    start = time.perf_counter()
    if penalty not in ("l2", "l1"):
        raise ConfigError(f"--penalty must be 'l2' or 'l1', got {penalty!r}", field="--penalty")
    alphas = sorted(float(a) for a in alphas)
    if not alphas or min(alphas) <= 0:
        raise ConfigError(f"--alpha needs at least one strength, each > 0, got {alphas}", field="--alpha")
    splits = splits or load_dataset(cfg.data)
    _, loss_fn = get_loss(cfg.train.loss, splits.task)
    model = build_model(cfg.model, splits.example_shape, splits.output_dim, seed=cfg.train.seed)
    penalized = [n for n, _ in select_parameters(model, mask)]
    y = splits.train.y if splits.train.y.dtype == torch.int64 else splits.train.y.double()
    objective = Objective(model, loss_fn, (splits.train.x, y), dtype=torch.float64, penalized=penalized)
    point = _expansion_point(objective, alphas, penalty, splits.task == "classification", tol, max_iter,
                             reference_alpha)

    pmask = objective.mask
    H = dense_hessian(objective.at(point.w))
    H_eff = effective_hessian(H, pmask)
    lam, Q = torch.linalg.eigh(H_eff)
    lam, Q = lam.flip(0), Q.flip(1)
    diag = torch.diagonal(H_eff)
    offdiag = float((H_eff - torch.diag(diag)).norm() / diag.norm()) if diag.norm() > 0 else 0.0
    predictions = predict(H, point.w, alphas, pmask, penalty=penalty, grad0=point.grad)
    fits = fit_minimizers(objective, point.w, alphas, penalty=penalty, tol=tol, max_iter=max_iter)

    cases = []
    for alpha, pred, fit in zip(alphas, predictions, fits, strict=True):
        trained = fit.w[pmask]
        c = compare(pred, trained, threshold)
        if penalty == "l1":
            zp, zt = pred == 0, trained == 0
            extra = {"zeros_predicted": int(zp.sum()), "zeros_trained": int(zt.sum()),
                     "zero_pattern_match": bool(torch.equal(zp, zt)),
                     "effective_parameters": None, "effective_parameters_trace": None}
        else:
            extra = _shrinkage(lam, Q, Q.T @ point.w[pmask], trained, alpha, H_eff)
        cases.append(VerifyCase(alpha=alpha, rel_err=c.rel_err, cosine=c.cosine, grad_norm=fit.grad_norm,
                                converged=fit.converged, norm_trained=c.norm_trained,
                                norm_predicted=c.norm_predicted, holds=c.holds, **extra))
    return VerifyReport(
        penalty=penalty, n_parameters=len(pmask), n_penalized=int(pmask.sum()), minimizer=point.minimizer,
        reference_alpha=point.reference_alpha, unregularized_grad_norm=point.star.grad_norm,
        eigenvalues=lam.tolist(), threshold=threshold, cases=cases,
        verdict=_verdict(cases, threshold, penalty, offdiag), hessian_offdiag_ratio=offdiag,
        seconds=time.perf_counter() - start, notes=point.notes)


def _verdict(cases: list[VerifyCase], threshold: float, penalty: str, offdiag: float) -> str:
    holding = [c.alpha for c in cases if c.holds]
    failing = [c.alpha for c in cases if not c.holds]
    what = "soft-threshold prediction" if penalty == "l1" else "quadratic-model prediction"
    if not failing:
        text = f"the {what} holds (relative error ≤ {threshold:g}) for every α tried, up to {max(holding):g}"
    elif not holding:
        text = f"the {what} misses (relative error > {threshold:g}) for every α tried, from {min(failing):g}"
    else:
        first_fail = min(failing)
        below = [a for a in holding if a < first_fail]
        text = (f"the {what} holds for α ≤ {max(below):g} and breaks from α = {first_fail:g}" if below else
                f"the {what} holds only at α ∈ {holding}, not contiguously")
    if penalty == "l1" and offdiag > 1e-6:
        text += f" (H is not diagonal: ‖offdiag‖/‖diag‖ = {offdiag:.2g}, so the soft-threshold is only approximate)"
    return text


def verify_config(cfg: RunConfig, *, alphas: Sequence[float] | None = None, penalty: str | None = None,
                  threshold: float | None = None) -> VerifyReport:
    """:func:`verify` with the defaults of the config's ``[verify]`` table; arguments given win.

    The arguments are validated by the ``[verify]`` schema, so a bad one is a ConfigError naming it.
    """
    from reglab.config import VerifyConfig, parse_config

    vc = getattr(cfg, "verify", None) or VerifyConfig()
    given = {"alphas": list(alphas) if alphas else None, "penalty": penalty, "threshold": threshold}
    vc = parse_config({**vc.model_dump(), **{k: v for k, v in given.items() if v is not None}}, VerifyConfig)
    mask = tuple(vc.mask) if isinstance(vc.mask, list) else vc.mask
    return verify(cfg, vc.alphas, penalty=vc.penalty, mask=mask, threshold=vc.threshold, tol=vc.tol,
                  max_iter=vc.max_iter, reference_alpha=vc.reference_alpha)
