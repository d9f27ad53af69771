"""Tight minimizers of an :class:`~reglab.curvature.Objective`, and the deprecated ``FlatObjective``.

``verify`` needs minimizers, not a few epochs of SGD: full-batch L-BFGS (strong
Wolfe line search) for smooth objectives C₀ + (α/2)‖m ⊙ w‖², and FISTA with
backtracking for C₀ + α‖m ⊙ w‖₁, whose proximal step (``ops.prox_l1``) gives
exact zeros. ``m`` is the objective's penalty mask (``Objective(..., penalized=names)``)
and α the strength on the *mean* loss (reglab's convention, see :mod:`reglab.theory`).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from reglab.curvature import Objective
from reglab.curvature._objective import flatten
from reglab.regularize.ops import prox_l1

__all__ = ["FlatObjective", "FitResult", "minimize_lbfgs", "minimize_fista", "fit_minimizers", "classification_error"]


class FlatObjective(Objective):
    """Deprecated: use ``Objective(model, loss_fn, (x, y), dtype=torch.float64, penalized=names)``.

    Nothing in reglab uses it any more; it is kept (without a runtime warning) for
    code written against it. It is that :class:`~reglab.curvature.Objective` plus the
    old attributes: ``.x``, ``.y``, ``.l2(w, α)`` (= ``loss``), ``.error(w)``
    (= :func:`classification_error`), ``.weight_mask`` (the mask as float64) and
    ``.model``, a float64 eval-mode copy of the model that :meth:`load` writes into
    (with the caller's model); :meth:`vector` reads ``.model``, so it follows :meth:`load`.
    """

    def __init__(self, model: nn.Module, loss_fn: Callable, x: torch.Tensor, y: torch.Tensor,
                 penalized: list[str]) -> None:
        super().__init__(model, loss_fn, (x, y), dtype=torch.float64, penalized=penalized)
        self.x, self.y = self.batches[0]
        self._caller = model
        self.model = copy.deepcopy(model).double().eval()
        self.weight_mask = self.mask.double()

    def vector(self) -> torch.Tensor:
        """The flat ``w`` of ``.model`` (after :meth:`load`, the loaded one)."""
        params = dict(self.model.named_parameters())
        return flatten([params[n].detach() for n in self.names])

    def load(self, w: torch.Tensor) -> None:
        """Write ``w`` into ``.model`` and into the caller's model (cast to its dtype)."""
        with torch.no_grad():
            for target in (self.model, self._caller):
                params = dict(target.named_parameters())
                for n, t in self.unflatten(w).items():
                    params[n].copy_(t)

    def l2(self, w: torch.Tensor, alpha: float) -> torch.Tensor:
        return self.loss(w, alpha)

    def error(self, w: torch.Tensor) -> float:
        return classification_error(self, w)


def classification_error(objective: Objective, w: torch.Tensor) -> float:
    """The fraction of examples misclassified at ``w`` (argmax of the outputs); NaN for float targets."""
    y = objective.targets
    if y.dtype != torch.int64:
        return float("nan")
    return float((objective.outputs(w).argmax(1) != y).double().mean())


@dataclass
class FitResult:
    w: torch.Tensor
    grad_norm: float
    iterations: int
    converged: bool


def minimize_lbfgs(obj: Objective, w0: torch.Tensor, alpha: float, *, tol: float = 1e-10,
                   max_iter: int = 5000, stop: Callable[[torch.Tensor], bool] | None = None) -> FitResult:
    """Full-batch L-BFGS on C₀ + (α/2)‖m ⊙ w‖² until ‖∇‖∞ ≤ tol or ``max_iter`` iterations.

    ``stop(w)``, checked every 100 iterations, ends the search early (unconverged).
    """
    w = w0.detach().clone().requires_grad_(True)
    opt = torch.optim.LBFGS([w], lr=1.0, max_iter=100, history_size=50, line_search_fn="strong_wolfe",
                            tolerance_grad=tol, tolerance_change=0.0)

    def closure() -> torch.Tensor:
        opt.zero_grad()
        value = obj.loss(w, alpha)
        value.backward()
        return value

    done = 0
    g = obj.grad(w, alpha)
    value = float(obj.loss(w.detach(), alpha))
    while done < max_iter and float(g.abs().max()) > tol:
        opt.step(closure)
        done += 100
        g = obj.grad(w, alpha)
        new_value = float(obj.loss(w.detach(), alpha))
        stalled = abs(value - new_value) <= 1e-15 * max(abs(value), 1e-300)
        value = new_value
        if stalled or (stop is not None and stop(w.detach())):
            break
    w = w.detach()
    if float(g.abs().max()) > tol and (stop is None or not stop(w)) and w.numel() <= NEWTON_MAX_PARAMS:
        w, g = _newton_polish(obj, w, alpha, g)
    gnorm = float(g.abs().max())
    return FitResult(w, gnorm, done, gnorm <= tol)


NEWTON_MAX_PARAMS = 3000


def _newton_polish(obj: Objective, w: torch.Tensor, alpha: float, g: torch.Tensor,
                   steps: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    """A few Newton steps w ← w − (∇²C)⁻¹∇C with the dense Hessian (small models only).

    Line searches stall once the loss changes by less than its rounding error; Newton
    steps need only the gradient, so they reach the minimizer to the gradient's
    precision. A step is kept only if it shrinks the gradient.
    """
    for _ in range(steps):
        hess = torch.func.jacrev(torch.func.jacrev(lambda v: obj.loss(v, alpha)))(w)  # no forward AD needed
        try:
            step = torch.linalg.solve(hess, g)
        except RuntimeError:
            break
        candidate = w - step
        g_new = obj.grad(candidate, alpha)
        if not float(g_new.abs().max()) < float(g.abs().max()):
            break
        w, g = candidate, g_new
    return w, g


def minimize_fista(obj: Objective, w0: torch.Tensor, alpha: float, *, tol: float = 1e-12,
                   max_iter: int = 20000) -> FitResult:
    """FISTA with backtracking on C₀(w) + α‖m ⊙ w‖₁ (Beck & Teboulle 2009).

    The proximal step is ``ops.prox_l1`` with the threshold t·α·m: the penalized
    coordinates are soft-thresholded, the others (threshold 0) kept as they are.
    Stops when the gradient-mapping norm ‖(w − w⁺)/t‖∞ ≤ tol.
    """
    mask = obj.mask
    weight = mask.to(w0.dtype)

    def prox(u: torch.Tensor, t: float) -> torch.Tensor:
        return prox_l1(u, t * alpha * weight)

    def f_and_grad(w: torch.Tensor) -> tuple[float, torch.Tensor]:
        w = w.detach().requires_grad_(True)
        value = obj.loss(w)
        (g,) = torch.autograd.grad(value, w)
        return float(value.detach()), g

    def grad_map(w: torch.Tensor, t: float) -> float:
        return float(((w - prox(w - t * f_and_grad(w)[1], t)) / t).abs().max())

    x = w0.detach().clone()
    z, t_k, step = x.clone(), 1.0, 1.0
    mapping = best = float("inf")
    it = best_it = 0
    for it in range(1, max_iter + 1):
        fz, gz = f_and_grad(z)
        while True:
            x_new = prox(z - step * gz, step)
            d = x_new - z
            f_new, g_new = f_and_grad(x_new)
            if f_new <= fz + float(gz @ d) + float(d @ d) / (2 * step) + 1e-12 * abs(fz) or step < 1e-12:
                break
            step *= 0.5
        mapping = float(((x_new - prox(x_new - step * g_new, step)) / step).abs().max())
        t_next = (1 + (1 + 4 * t_k * t_k) ** 0.5) / 2
        if float((z - x_new) @ (x_new - x)) > 0:  # gradient restart (O'Donoghue & Candès 2015)
            z, t_next = x_new.clone(), 1.0
        else:
            z = x_new + ((t_k - 1) / t_next) * (x_new - x)
        x, t_k = x_new, t_next
        if mapping < best:
            best, best_it = mapping, it
        if mapping <= max(tol, 1e-9) or it - best_it > 200:  # converged, or stalled at rounding level
            break
    if mapping > tol and x.numel() <= NEWTON_MAX_PARAMS:
        x, mapping = _support_newton(obj, x, alpha, mask, mapping, lambda v: grad_map(v, step))
    return FitResult(x, mapping, it, mapping <= tol)


def _support_newton(obj: Objective, x: torch.Tensor, alpha: float, mask: torch.Tensor, mapping: float,
                    measure: Callable[[torch.Tensor], float], steps: int = 4) -> tuple[torch.Tensor, float]:
    """Newton steps on the support of an L1 solution (zeros fixed): the smooth problem there.

    On the free coordinates F (unpenalized, or penalized and non-zero) the objective is
    C₀(w) + α·sign(w_F)ᵀw_F, so w_F ← w_F − ∇²C₀[F,F]⁻¹(∇C₀ + α·sign)[F]. Kept only if
    the proximal-gradient mapping shrinks and no sign flips.
    """
    for _ in range(steps):
        free = (~mask) | (x != 0)
        w = x.detach().requires_grad_(True)
        (g,) = torch.autograd.grad(obj.loss(w), w)
        hess = torch.func.jacrev(torch.func.jacrev(obj.loss))(x.detach())
        rhs = g + alpha * torch.sign(x) * mask
        try:
            step = torch.linalg.solve(hess[free][:, free], rhs[free])
        except RuntimeError:
            break
        candidate = x.clone()
        candidate[free] = x[free] - step
        flipped = (mask & free & (torch.sign(candidate) != torch.sign(x))).any()
        new_mapping = measure(candidate)
        if bool(flipped) or not new_mapping < mapping:
            break
        x, mapping = candidate, new_mapping
    return x, mapping


def fit_minimizers(objective: Objective, w0: torch.Tensor, alphas: Sequence[float], *, penalty: str = "l2",
                   tol: float = 1e-9, max_iter: int = 3000) -> list[FitResult]:
    """The minimizer of C₀ + α·Ω(m ⊙ w) for each α in turn, each started from the previous one (``w0`` first).

    ``penalty="l2"``: Ω = ½‖·‖², by :func:`minimize_lbfgs` (``max_iter`` iterations);
    ``"l1"``: Ω = ‖·‖₁, by :func:`minimize_fista` (``10·max_iter``). ``m`` is
    ``objective.mask``; α multiplies the penalty added to the *mean* loss.
    Increasing α keeps the warm starts close.
    """
    if penalty not in ("l2", "l1"):
        raise ValueError(f"penalty must be 'l2' or 'l1', got {penalty!r}")
    fits, w = [], w0
    for alpha in alphas:
        if penalty == "l1" and alpha > 0:
            fit = minimize_fista(objective, w, float(alpha), tol=tol, max_iter=max_iter * 10)
        else:
            fit = minimize_lbfgs(objective, w, float(alpha), tol=tol, max_iter=max_iter)
        fits.append(fit)
        w = fit.w
    return fits
