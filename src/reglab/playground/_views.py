"""What the page draws, computed from a trainer: data points, decision map, network, curvature.

Everything here reads the trainer's model and data and never changes them. The
curvature panel is the Hessian of the mean *data* loss C₀ on the training split
(``reglab.curvature``), taken with respect to the weights (the parameters the
regularizers penalize; biases held at their values), in float64; the shrink factors
λᵢ/(λᵢ + α) and the effective number of parameters γ(α) = Σᵢ λᵢ/(λᵢ + α) come from
``reglab.theory`` with α the L2 strength in use (weight decay's wd counts as L2's α,
its equal under plain SGD; other regularizers have none, α = 0). Negative eigenvalues
(away from a minimum) count as 0 in γ and get no shrink factor of their own meaning.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from reglab.curvature import eigen, hessian_operator
from reglab.playground._setting import FEATURE_LABELS, REGULARIZATIONS, Setting
from reglab.regularize import select_parameters
from reglab.theory import effective_parameters, shrink_factors
from reglab.train import Trainer

__all__ = ["points", "boundary", "network", "spectrum", "EXTENT", "GRID"]

EXTENT = 6.0
"""The decision map covers [−EXTENT, EXTENT]², the Playground's input plane."""
GRID = 48
DENSE_LIMIT = 300  # up to this many weights the spectrum is exact (all eigenvalues); above, Lanczos top-k
TOP_K = 8


def points(trainer: Trainer) -> dict[str, Any]:
    """The train and test points with their labels (what the decision map shows)."""
    out = {}
    for name in ("train", "test"):
        split = getattr(trainer.splits, name)
        out[name] = {"x": [[round(float(a), 4) for a in row] for row in split.x.tolist()],
                     "y": [int(v) for v in split.y.tolist()]}
    return out


@torch.no_grad()
def boundary(trainer: Trainer, grid: int = GRID) -> list[list[float]]:
    """P(class 1 | x) on a grid × grid lattice of [−EXTENT, EXTENT]² (rows: x2 from top to bottom)."""
    axis = torch.linspace(-EXTENT, EXTENT, grid, dtype=trainer.dtype)
    x2, x1 = torch.meshgrid(axis.flip(0), axis, indexing="ij")
    pts = torch.stack([x1.reshape(-1), x2.reshape(-1)], dim=1).to(trainer.device)
    model = trainer.model
    was_training = model.training
    model.eval()
    prob = torch.softmax(model(pts), dim=1)[:, 1].reshape(grid, grid)
    model.train(was_training)
    return [[round(float(v), 3) for v in row] for row in prob.cpu().tolist()]


def network(trainer: Trainer, setting: Setting) -> dict[str, Any]:
    """The Linear layers in order (weight[out][in], bias[out]) and the names of the input nodes."""
    linears = [m for m in trainer.model.modules() if isinstance(m, nn.Linear)]
    inputs = [FEATURE_LABELS[f] for f in setting.features]
    layers = [{"weight": m.weight.detach().cpu().double().tolist(),
               "bias": m.bias.detach().cpu().double().tolist() if m.bias is not None else None}
              for m in linears]
    return {"inputs": inputs, "outputs": ["class 0", "class 1"], "layers": layers}


def spectrum(trainer: Trainer, setting: Setting) -> dict[str, Any]:
    """Top Hessian eigenvalues of C₀ at the current weights, shrink factors and γ(α) (see the module docs)."""
    names = [name for name, _ in select_parameters(trainer.model, "weights")]
    n_weights = sum(p.numel() for _, p in select_parameters(trainer.model, "weights"))
    train = trainer.data["train"]
    op = hessian_operator(trainer.model, trainer.loss_fn, (train.x, train.y), params=names, dtype=torch.float64)
    exact = n_weights <= DENSE_LIMIT
    k = n_weights if exact else min(TOP_K, n_weights - 1)
    result = eigen(op, k, "LA", method="dense" if exact else "lanczos", tol=1e-5)
    values = result.eigenvalues.double()
    alpha = setting.l2_alpha()
    positive = values.clamp(min=0.0)
    top = values[:TOP_K]
    factors = shrink_factors(positive[:TOP_K], alpha) if alpha > 0 else torch.ones_like(top)
    rank = float((positive > 1e-9 * float(positive.max().clamp(min=1e-300))).sum())  # γ(0): the rank
    gamma = float(effective_parameters(positive, alpha)) if alpha > 0 else rank
    return {
        "eigenvalues": [_finite(v) for v in top.tolist()],
        "shrink": [_finite(v) for v in factors.tolist()],
        "alpha": alpha,
        "effective_parameters": _finite(gamma),
        "weights": n_weights,
        "exact": exact,
        "note": ("all eigenvalues (dense)" if exact else f"top {k} by Lanczos; γ counts these only")
                + ("" if alpha > 0 else "; γ(0) is the rank (eigenvalues above 1e-9·λ₁)")
                + ("" if alpha > 0 else "; α = 0: every shrink factor is 1" if setting.regularization in ("l2", "weight-decay")
                   else f"; {REGULARIZATIONS[setting.regularization]} has no L2 α: shrink factors are 1"),
    }


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None
