r"""What the evidence needs from the curvature at a trained point: a spectrum and one quadratic form.

Around a point ``w₀`` (penalized coordinates) with gradient ``g = ∇C₀(w₀)`` and
curvature ``H`` (Hessian or GGN of the *mean* loss), the quadratic model
``q(w) = C₀(w₀) + gᵀ(w − w₀) + ½(w − w₀)ᵀH(w − w₀)`` has, for every α, the
regularized minimizer and minimum

.. math::
    \tilde w(\alpha) = (H + \alpha I)^{-1} r, \quad r = H w_0 - g, \qquad
    \min_w\, q(w) + \tfrac{\alpha}{2}\lVert w\rVert^2 = c_0 - \tfrac12\, r^\top (H + \alpha I)^{-1} r ,

with ``c₀ = C₀(w₀) − gᵀw₀ + ½w₀ᵀHw₀``. At a minimizer of the unregularized loss
(``g = 0``) this is the notes' ``w̃ = Q(Λ+αI)⁻¹ΛQᵀw*``; at a point trained with
``α₀`` (``g = −α₀w₀``) it is ``Q(Λ+αI)⁻¹(Λ+α₀I)Qᵀw₀``. So a :class:`Spectrum`
holds two measures, both independent of α:

* the spectral measure of ``H`` (for ``γ(α) = tr H(H+αI)⁻¹`` and
  ``log det(H + αI)``): exact eigenvalues (``"dense"``), or the top ``k``
  eigenvalues from Lanczos plus stochastic Lanczos quadrature (SLQ) nodes and
  weights of the deflated rest (``"lanczos+slq"``), whose probe-to-probe spread
  gives the error bars;
* the measure of ``r`` (for ``‖w̃(α)‖² = rᵀ(H+αI)⁻²r`` and the minimum above): the
  squared coefficients of ``r`` on the eigenvectors (dense), or on the top ``k``
  plus Gauss quadrature of the rest from one Lanczos run started at ``r``'s
  deflated part (no error bar: Gauss quadrature with ``m`` nodes is exact for
  polynomials of degree ``< 2m``; its error for ``(λ+α)⁻ᵖ`` falls geometrically in ``m``).

**Negative eigenvalues.** A Hessian away from a minimum, or of a non-convex
loss, may have them; ``log det(H + αI)`` is then undefined for small α. They
are never dropped silently: :class:`NegativeReport` records how many there were
(estimated, on the SLQ path), the most negative one, and what was done —
``"clip"`` evaluates ``f(max(λ, 0))`` for every spectral function (the
report says so), ``"error"`` raises. Choosing ``curvature="ggn"`` (or ``"auto"``,
which switches to the GGN when the Hessian has any) avoids them: the GGN is
positive semi-definite for convex losses.

**Unpenalized parameters.** The prior covers only the penalized coordinates.
``unpenalized="joint"`` (dense path only) minimizes the quadratic model over the
others, i.e. uses the Schur complement ``H_eff`` of :func:`reglab.theory.effective_hessian`
(a flat prior on them, integrated out, changes the evidence only by a constant in α);
``"held"`` keeps them at their trained values (the curvature of the penalized
block alone). The SLQ path always holds them.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from reglab.curvature import (
    CurvatureOperator,
    GGNOperator,
    HessianOperator,
    Objective,
    dense_hessian,
    eigen,
    to_dense,
)
from reglab.curvature._lanczos import lanczos
from reglab.errors import ConfigError
from reglab.theory import effective_hessian

__all__ = ["Spectrum", "NegativeReport", "dense_spectrum", "lanczos_spectrum", "spectrum_at",
           "CURVATURES", "NEGATIVE_HANDLING", "UNPENALIZED"]

CURVATURES = ("auto", "hessian", "ggn")
NEGATIVE_HANDLING = ("clip", "error")
UNPENALIZED = ("joint", "held")
# An eigenvalue below −NEGATIVE_RTOL·max|λ| is a real negative eigenvalue, not rounding.
NEGATIVE_RTOL = 1e-8
DENSE_MAX_PARAMS = 1500


@dataclass(frozen=True)
class NegativeReport:
    """Negative curvature found, and how it was handled (never silently).

    Attributes:
        count: negative eigenvalues (exact on the dense path; on the SLQ path the
            top-k count plus ``P·`` the SLQ weight below zero, an estimate).
        most_negative: the smallest eigenvalue (dense) or Ritz value (SLQ), or 0.
        handling: ``"none"`` (there were none), ``"clip"`` (``f(max(λ,0))``) or
            ``"switched to ggn"`` (recorded by :func:`spectrum_at`).
    """

    count: float
    most_negative: float
    handling: str

    def to_json(self) -> dict:
        return {"count": self.count, "most_negative": self.most_negative, "handling": self.handling}


@dataclass(frozen=True)
class Spectrum:
    r"""The α-independent curvature data of the evidence at one point (see the module docs).

    Attributes:
        method: ``"dense"`` or ``"lanczos+slq"``.
        curvature: ``"hessian"`` or ``"ggn"``.
        size: ``k``, the number of penalized coordinates (the prior's dimension).
        top: exact eigenvalues: all ``k`` (dense) or the ``top_k`` largest (SLQ path).
        slq_nodes, slq_weights: ``(probes, m)`` Ritz values and weights (rows sum
            to ``P − top_k``) of the deflated
            operator, or ``None`` on the dense path.
        r_nodes, r_weights: the measure of ``r`` (weights sum to ``‖r‖²``).
        c0: ``C₀(w₀) − gᵀw₀ + ½w₀ᵀHw₀`` (in the Schur-reduced coordinates when joint).
        alpha0: the strength ``w₀`` was trained with (informative only).
        negative: what negative curvature there was and how it was handled.
        unpenalized: ``"joint"``, ``"held"`` or ``"none"`` (every coordinate penalized).
        num_hvps, num_grads: curvature products and full-data gradients spent.
        point_norm2, point_loss: ``‖w₀‖²`` (penalized coordinates) and ``C₀(w₀)`` at the
            point itself, for the evidence with the mode held there (:meth:`held`).
        mode: ``"predicted"`` (the mode is the quadratic model's ``w̃(α)``, the default) or
            ``"held"`` (the mode is ``w₀`` for every α; see :meth:`held`).
    """

    method: str
    curvature: str
    size: int
    top: np.ndarray
    r_nodes: np.ndarray
    r_weights: np.ndarray
    c0: float
    negative: NegativeReport
    unpenalized: str
    num_hvps: int
    num_grads: int
    slq_nodes: np.ndarray | None = None
    slq_weights: np.ndarray | None = None
    notes: list[str] = field(default_factory=list)
    point_norm2: float | None = None
    point_loss: float | None = None
    mode: str = "predicted"

    def held(self) -> Spectrum:
        r"""This spectrum with the mode held at the point ``w₀``: ``‖w̃(α)‖² = ‖w₀‖²``, ``C₀(w̃) = C₀(w₀)``.

        MacKay's practical re-estimation (``a ← γ/‖w_MP‖²`` with the weights as trained) and
        the objective laplace-torch's ``optimize_prior_precision`` climbs: the weights are not
        moved to the quadratic model's minimizer, so components the data does not constrain
        (``λᵢ ≪ α``, e.g. where training left the initialization) count in ``‖w‖²`` as they
        are, instead of being predicted to decay to zero.
        """
        if self.point_norm2 is None or self.point_loss is None:
            raise ValueError("this spectrum has no point_norm2/point_loss to hold the mode at")
        return dataclasses.replace(self, mode="held")

    def _clip(self, x: np.ndarray) -> np.ndarray:
        return np.maximum(x, 0.0) if self.negative.handling == "clip" else x

    def trace(self, f: Callable[[np.ndarray], np.ndarray]) -> tuple[float, float]:
        """``tr f(H)`` over the ``k`` eigenvalues and its standard error (0 on the dense path).

        On the SLQ path each Gaussian probe is projected off the top eigenvectors
        and normalized, ``u = z'/‖z'‖`` (uniform on the complement's sphere), and gives
        ``(P − k)·uᵀf(H)u ≈ (P − k)·Σⱼ S₁ⱼ² f(θⱼ)`` by Lanczos from ``u`` on the
        deflated operator, an unbiased estimate of the trace over the rest; the
        estimate is their mean, its stderr their standard deviation over
        ``√probes`` (the quadrature error, nil for polynomials of degree ``< 2m``,
        is not in it).
        """
        exact = float(np.sum(f(self._clip(self.top))))
        if self.slq_nodes is None:
            return exact, 0.0
        per_probe = np.sum(self.slq_weights * f(self._clip(self.slq_nodes)), axis=1)
        probes = len(per_probe)
        stderr = float(np.std(per_probe, ddof=1) / math.sqrt(probes)) if probes > 1 else float("nan")
        return exact + float(np.mean(per_probe)), stderr

    def quad(self, f: Callable[[np.ndarray], np.ndarray]) -> float:
        """``rᵀ f(H) r`` from the measure of ``r``."""
        return float(np.sum(self.r_weights * f(self._clip(self.r_nodes))))

    def gamma(self, alpha: float) -> tuple[float, float]:
        """``γ(α) = Σ λᵢ/(λᵢ+α)`` (reglab's α) and its stderr."""
        return self.trace(lambda lam: lam / (lam + alpha))

    def logdet(self, alpha: float) -> tuple[float, float]:
        """``Σ log(λᵢ + α) = log det(H + αI)`` and its stderr."""
        return self.trace(lambda lam: np.log(lam + alpha))

    def weight_norm2(self, alpha: float) -> float:
        """``‖w̃(α)‖² = rᵀ(H+αI)⁻²r`` of the predicted regularized minimizer (``‖w₀‖²`` when held)."""
        if self.mode == "held":
            return float(self.point_norm2)
        return self.quad(lambda lam: 1.0 / (lam + alpha) ** 2)

    def penalized_loss(self, alpha: float) -> float:
        """``C(w̃(α)) = C₀ + (α/2)‖w̃‖²`` at the predicted minimizer, ``c₀ − ½rᵀ(H+αI)⁻¹r`` (at ``w₀`` when held)."""
        if self.mode == "held":
            return float(self.point_loss) + 0.5 * alpha * float(self.point_norm2)
        return self.c0 - 0.5 * self.quad(lambda lam: 1.0 / (lam + alpha))

    def data_loss(self, alpha: float) -> float:
        """``C₀(w̃(α))`` in the quadratic model (``C₀(w₀)`` when held)."""
        if self.mode == "held":
            return float(self.point_loss)
        return self.penalized_loss(alpha) - 0.5 * alpha * self.weight_norm2(alpha)

    def summary(self) -> dict:
        """Plain numbers for JSON: the method, the curvature, sizes, costs and the negative report."""
        top = self.top
        return {"method": self.method, "curvature": self.curvature, "size": self.size,
                "top_eigenvalues": sorted(top.tolist(), reverse=True)[:10],
                "slq": None if self.slq_nodes is None else {"probes": int(self.slq_nodes.shape[0]),
                                                             "steps": int(self.slq_nodes.shape[1]),
                                                             "top_k": len(top)},
                "negative": self.negative.to_json(), "unpenalized": self.unpenalized,
                "num_hvps": self.num_hvps, "num_grads": self.num_grads, "notes": list(self.notes)}


def _check(curvature: str, negative: str, unpenalized: str) -> None:
    if curvature not in CURVATURES:
        raise ConfigError(f"curvature must be one of {', '.join(CURVATURES)}; got {curvature!r}", field="curvature")
    if negative not in NEGATIVE_HANDLING:
        raise ConfigError(f"negative must be one of {', '.join(NEGATIVE_HANDLING)}; got {negative!r}",
                          field="negative")
    if unpenalized not in UNPENALIZED:
        raise ConfigError(f"unpenalized must be one of {', '.join(UNPENALIZED)}; got {unpenalized!r}",
                          field="unpenalized")


def _negatives(values: np.ndarray, scale: float, negative: str, where: str) -> NegativeReport:
    tol = NEGATIVE_RTOL * max(scale, np.finfo(np.float64).tiny)
    below = values < -tol
    count = int(below.sum())
    most = float(values.min()) if count else 0.0
    if count and negative == "error":
        raise ConfigError(f"the {where} has {count} negative eigenvalue(s) (most negative {most:.3g}); "
                          "use curvature='ggn' (or 'auto'), or negative='clip' to evaluate f(max(λ, 0))",
                          field="negative")
    return NegativeReport(count, most, "clip" if count else "none")


def penalized_names(objective: Objective) -> list[str]:
    """The parameters whose coordinates ``objective.mask`` selects (whole parameters only)."""
    names, start = [], 0
    for name, shape in zip(objective.names, objective.shapes, strict=True):
        size = shape.numel()
        block = objective.mask[start:start + size]
        if bool(block.all()):
            names.append(name)
        elif bool(block.any()):
            raise ValueError(f"the penalty mask covers part of parameter {name!r}; evidence needs whole parameters")
        start += size
    if not names:
        raise ConfigError("no parameter is penalized: the evidence needs an L2 prior on some parameters",
                          field="penalized")
    return names


def dense_spectrum(objective: Objective, *, curvature: str = "hessian", unpenalized: str = "joint",
                   negative: str = "clip") -> Spectrum:
    """The exact :class:`Spectrum` of ``objective`` at its point (dense matrix, ``P`` products).

    ``curvature`` is ``"hessian"`` or ``"ggn"`` here (``"auto"`` is :func:`spectrum_at`'s).

    Example:
        >>> import torch
        >>> from reglab.curvature import Objective
        >>> from reglab.train import half_mse
        >>> X = torch.eye(2, dtype=torch.float64) * 2 ** 0.5  # H = XᵀX/n = I
        >>> obj = Objective(torch.nn.Linear(2, 1, bias=False), half_mse, (X, torch.ones(2, 1)), dtype=torch.float64)
        >>> s = dense_spectrum(obj)
        >>> s.top.round(12).tolist(), round(s.gamma(1.0)[0], 12), s.gamma(1.0)[1]
        ([1.0, 1.0], 1.0, 0.0)
    """
    _check(curvature, negative, unpenalized)
    if curvature == "auto":
        raise ValueError("dense_spectrum needs curvature 'hessian' or 'ggn'; 'auto' is resolved by spectrum_at")
    mask = objective.mask.cpu()
    H = dense_hessian(objective) if curvature == "hessian" else _dense_ggn(objective)
    H, g, w = H.double().cpu(), objective.grad().double().cpu(), objective.vector().double().cpu()
    c0 = float(objective.loss())
    everything = bool(mask.all())
    if everything or unpenalized == "held":
        H_eff, g_eff = H[mask][:, mask], g[mask]
    else:
        H_eff = torch.as_tensor(effective_hessian(H, mask))
        u = ~mask
        solve = torch.linalg.lstsq(H[u][:, u], g[u][:, None]).solution[:, 0]  # H_uu⁺ g_u
        g_eff = g[mask] - H[mask][:, u] @ solve
        c0 -= 0.5 * float(g[u] @ solve)  # the constant of minimizing over the unpenalized block
    w_p = w[mask]
    values, vectors = torch.linalg.eigh((H_eff + H_eff.T) / 2)
    lam = values.numpy()
    report = _negatives(lam, float(np.abs(lam).max()), negative, curvature)
    r = H_eff @ w_p - g_eff
    c0 += -float(g_eff @ w_p) + 0.5 * float(w_p @ H_eff @ w_p)
    rho2 = (vectors.T @ r).numpy() ** 2
    return Spectrum("dense", curvature, int(mask.sum()), lam, lam.copy(), rho2, c0, report,
                    "none" if everything else unpenalized, num_hvps=objective.size, num_grads=2,
                    point_norm2=float(w_p @ w_p), point_loss=float(objective.loss()))


def _dense_ggn(objective: Objective) -> torch.Tensor:
    G = to_dense(GGNOperator(objective))
    return (G + G.T) / 2


class _Deflated(CurvatureOperator):
    """``(I − VVᵀ) A (I − VVᵀ)``: the operator with the top eigen-directions ``V`` removed."""

    def __init__(self, op: CurvatureOperator, V: torch.Tensor) -> None:
        super().__init__(op.shape[0], op.dtype, op.device)
        self.op, self.V = op, V.to(op.dtype)

    def _project(self, x: torch.Tensor) -> torch.Tensor:
        return x - self.V @ (self.V.T @ x)

    def _matvec(self, v: torch.Tensor) -> torch.Tensor:
        return self._project(self.op.matvec(self._project(v)))

    def _matmat(self, V: torch.Tensor) -> torch.Tensor:
        return self._project(self.op.matmat(self._project(V)))


def restricted_objective(objective: Objective, names: list[str]) -> Objective:
    """An :class:`Objective` over the parameters ``names`` only, the others held at ``objective``'s point."""
    module = copy.deepcopy(objective.module)
    values = objective.unflatten(objective.vector())
    with torch.no_grad():
        for name, p in module.named_parameters():
            if name in values:
                p.copy_(values[name])
    return Objective(module, objective.loss_fn, list(objective.batches), params=names)


def lanczos_spectrum(objective: Objective, *, curvature: str = "hessian", top_k: int = 20, num_probes: int = 10,
                     lanczos_steps: int = 40, seed: int = 0, negative: str = "clip",
                     r_steps: int | None = None) -> Spectrum:
    """The :class:`Spectrum` by Lanczos top-``k`` and SLQ of the rest (unpenalized parameters held).

    ``lanczos_steps`` per SLQ probe; ``r_steps`` (default ``lanczos_steps``) for the
    measure of ``r`` (``‖w̃(α)‖²``), whose Gauss quadrature of the steep ``(λ+α)⁻²``
    needs more steps than ``γ`` does (0: none, enough for :meth:`Spectrum.held`). ``top_k = 0``: no deflation (SLQ carries the
    whole spectrum). Costs about ``top_k·c + num_probes·lanczos_steps + r_steps + 1``
    curvature products (``c`` the Lanczos steps the top ``k`` need, typically 3–6)
    and 2 gradients; all counted in ``num_hvps``/``num_grads``.
    """
    _check(curvature, negative, "held")
    if curvature == "auto":
        raise ValueError("lanczos_spectrum needs curvature 'hessian' or 'ggn'; 'auto' is resolved by spectrum_at")
    if not (isinstance(top_k, int) and top_k >= 0):
        raise ConfigError(f"top_k must be a non-negative integer (0: no deflation), got {top_k!r}", field="top_k")
    r_steps = lanczos_steps if r_steps is None else r_steps
    for name, value in (("num_probes", num_probes), ("lanczos_steps", lanczos_steps)):
        if not (isinstance(value, int) and value >= 1):
            raise ConfigError(f"{name} must be a positive integer, got {value!r}", field=name)
    if not (isinstance(r_steps, int) and r_steps >= 0):
        raise ConfigError(f"r_steps must be a non-negative integer (0: no measure of r beyond the top k, for "
                          f"the held mode), got {r_steps!r}", field="r_steps")
    if num_probes < 2:
        raise ConfigError("num_probes must be at least 2 (the error bar is their spread)", field="num_probes")
    names = penalized_names(objective)
    everything = len(names) == len(objective.names)
    sub = restricted_objective(objective, names)
    op = HessianOperator(sub) if curvature == "hessian" else GGNOperator(sub)
    k = min(top_k, sub.size - 1)
    if k:
        top = eigen(op, k, "LA", method="lanczos", seed=seed)
        V, lam_top = top.eigenvectors.double(), top.eigenvalues.double().cpu().numpy()
    else:  # no deflation: SLQ carries the whole spectrum
        V, lam_top = torch.zeros(sub.size, 0, dtype=torch.float64, device=sub.device), np.zeros(0)
    deflated = _Deflated(op, V)
    slq_nodes, slq_weights = _projected_slq(deflated, V, num_probes, lanczos_steps, seed + 1)
    w, g = sub.vector().double(), sub.grad().double()
    Hw = op.matvec(w).double()
    r = Hw - g
    c0 = float(sub.loss()) - float(g @ w) + 0.5 * float(w @ Hw)
    rho = V.T @ r
    r_rest = r - V @ rho
    nodes, weights = lam_top.copy(), (rho.cpu().numpy() ** 2)
    rest_norm2 = float(r_rest @ r_rest)
    if rest_norm2 > 0 and r_steps:
        theta, S = lanczos(deflated, r_rest, r_steps).ritz()
        nodes = np.concatenate([nodes, theta])
        weights = np.concatenate([weights, rest_norm2 * S[0] ** 2])
    scale = float(np.abs(np.concatenate([lam_top, slq_nodes.ravel()])).max())
    report = _negatives(np.concatenate([lam_top, slq_nodes.ravel()]), scale, negative, curvature)
    if report.count:
        mass = float((slq_weights * (slq_nodes < -NEGATIVE_RTOL * scale)).sum(axis=1).mean())
        report = NegativeReport(float((lam_top < -NEGATIVE_RTOL * scale).sum()) + mass, report.most_negative,
                                report.handling)
    notes = [] if everything else ["unpenalized parameters held at their trained values (SLQ path)"]
    return Spectrum("lanczos+slq", curvature, sub.size, lam_top, nodes, weights, c0, report,
                    "none" if everything else "held", num_hvps=int(op.num_matvecs), num_grads=2,
                    slq_nodes=slq_nodes, slq_weights=slq_weights, notes=notes, point_norm2=float(w @ w),
                    point_loss=float(sub.loss()))


def _projected_slq(deflated: CurvatureOperator, V: torch.Tensor, probes: int, steps: int,
                   seed: int) -> tuple[np.ndarray, np.ndarray]:
    """SLQ nodes and weights (rows summing to ``P − k``) from Gaussian probes projected off ``V``, normalized.

    ``u = z'/‖z'‖`` with ``z' = (I − VVᵀ)z``, ``z ~ N(0, I)``, is uniform on the unit
    sphere of the complement, so ``E[uuᵀ] = (I − VVᵀ)/(P − k)`` and ``(P − k)·uᵀf(H)u``
    is unbiased for the trace of ``f`` over the rest. Its variance depends only on
    the spread of ``f(λ)`` over the rest (a constant part of ``f`` costs nothing),
    and projecting keeps the ``k`` zeros the deflation leaves out of every probe.
    """
    generator = torch.Generator().manual_seed(seed)
    size = deflated.shape[0]
    steps = min(steps, size - V.shape[1])
    nodes, weights = np.zeros((probes, steps)), np.zeros((probes, steps))
    for probe in range(probes):
        z = torch.randn(size, generator=generator, dtype=torch.float64).to(V.device)
        z = z - V @ (V.T @ z)
        theta, S = lanczos(deflated, z, steps).ritz()
        nodes[probe, :len(theta)], weights[probe, :len(theta)] = theta, (size - V.shape[1]) * S[0] ** 2
        nodes[probe, len(theta):] = theta[0]
    return nodes, weights


def spectrum_at(objective: Objective, *, method: str = "auto", curvature: str = "auto", unpenalized: str = "joint",
                negative: str = "clip", top_k: int = 20, num_probes: int = 10, lanczos_steps: int = 40,
                seed: int = 0, r_steps: int | None = None) -> Spectrum:
    """The :class:`Spectrum` at ``objective``'s point by ``method`` (``"auto"``: dense up to 1500 parameters).

    ``curvature="auto"``: the Hessian; if it has negative eigenvalues, the GGN
    instead, and the returned spectrum's ``negative.handling`` is
    ``"switched to ggn"`` with the Hessian's count and most negative value (the
    Hessian's products are counted too).
    """
    _check(curvature, negative, unpenalized)
    if method not in ("auto", "dense", "lanczos"):
        raise ConfigError(f"method must be one of auto, dense, lanczos; got {method!r}", field="method")
    if method == "auto":
        method = "dense" if objective.size <= DENSE_MAX_PARAMS else "lanczos"

    def build(kind: str, handling: str) -> Spectrum:
        if method == "dense":
            return dense_spectrum(objective, curvature=kind, unpenalized=unpenalized, negative=handling)
        return lanczos_spectrum(objective, curvature=kind, top_k=top_k, num_probes=num_probes,
                                lanczos_steps=lanczos_steps, seed=seed, negative=handling, r_steps=r_steps)

    if curvature != "auto":
        return build(curvature, negative)
    first = build("hessian", "clip")
    if not first.negative.count:
        return first
    second = build("ggn", negative)
    report = NegativeReport(first.negative.count, first.negative.most_negative, "switched to ggn")
    note = (f"the Hessian had {first.negative.count:g} negative eigenvalue(s) (most negative "
            f"{first.negative.most_negative:.3g}); the GGN was used instead")
    return Spectrum(second.method, "ggn", second.size, second.top, second.r_nodes, second.r_weights, second.c0,
                    report, second.unpenalized, first.num_hvps + second.num_hvps, first.num_grads + second.num_grads,
                    second.slq_nodes, second.slq_weights, [*second.notes, note], second.point_norm2,
                    second.point_loss)
