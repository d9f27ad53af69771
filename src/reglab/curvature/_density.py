"""Spectral density by stochastic Lanczos quadrature (SLQ)."""

from __future__ import annotations

import math

import numpy as np
import torch

from reglab.curvature._lanczos import lanczos
from reglab.curvature._operator import CurvatureOperator, as_operator
from reglab.curvature._progress import ProgressCallback, Tracker
from reglab.curvature._results import DensityResult

__all__ = ["spectral_density"]

GRID_POINTS = 1000


def spectral_density(
    op: CurvatureOperator | torch.Tensor,
    *,
    num_probes: int = 10,
    lanczos_steps: int = 80,
    seed: int = 0,
    grid: torch.Tensor | None = None,
    sigma: float | None = None,
    progress: ProgressCallback | None = None,
) -> DensityResult:
    r"""The eigenvalue density of a symmetric operator by stochastic Lanczos quadrature.

    For each of ``n_v`` Rademacher probes ``v`` (``‖v‖² = P``), ``m`` Lanczos steps
    with full reorthogonalization from ``v/‖v‖`` give ``T_m = S Θ Sᵀ``; the Ritz
    values ``θⱼ`` are Gauss quadrature nodes with weights ``wⱼ = S₁ⱼ²`` (summing to 1):

    .. math::
        \frac{1}{P}\operatorname{tr} f(A) = \mathbb{E}_v\Big[\frac{v^\top f(A) v}{P}\Big]
        \approx \frac{1}{n_v}\sum_{l=1}^{n_v}\sum_{j=1}^{m} w_{lj}\, f(\theta_{lj}),

    exact for each probe when ``f`` is a polynomial of degree ``< 2m``. The smoothed
    density is ``φ(t) = (1/n_v) Σ_l Σ_j w_lj N(t; θ_lj, σ²)``. Defaults:
    ``σ = (θ_max − θ_min)/100`` and a grid of 1000 points over
    ``[θ_min − 5σ, θ_max + 5σ]``. The Lanczos runs are in float64 whatever
    ``op.dtype`` is (a float32 operator makes only the products float32);
    ``progress`` gets a :class:`~reglab.curvature.Progress` after every product.

    Example:
        >>> import torch
        >>> from reglab.curvature import spectral_density
        >>> A = torch.diag(torch.linspace(0, 1, 50, dtype=torch.float64))
        >>> result = spectral_density(A, num_probes=4, lanczos_steps=20)
        >>> round(result.moment(1), 12)  # tr(A)/P
        0.5

    References:
        Lin, Saad & Yang, "Approximating spectral densities of large matrices", SIAM
        Review 2016; Ghorbani, Krishnan & Xiao, "An investigation into neural net
        optimization via Hessian eigenvalue density", ICML 2019.
    """
    for name, value in (("num_probes", num_probes), ("lanczos_steps", lanczos_steps)):
        if not (isinstance(value, int) and value >= 1):
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if sigma is not None and not sigma > 0:
        raise ValueError(f"sigma must be > 0, got {sigma}")
    op = as_operator(op)
    generator = torch.Generator().manual_seed(seed)
    start = op.num_matvecs
    steps = min(lanczos_steps, op.shape[0])
    tracker = Tracker(op, "density", num_probes * steps, progress)
    work = tracker.watch()
    nodes = np.zeros((num_probes, steps))
    weights = np.zeros((num_probes, steps))
    for probe in range(num_probes):
        v = (torch.randint(0, 2, (op.shape[0],), generator=generator) * 2 - 1).to(torch.float64)
        theta, S = lanczos(work, v, steps).ritz()
        nodes[probe, : len(theta)], weights[probe, : len(theta)] = theta, S[0] ** 2
        nodes[probe, len(theta) :] = theta[0]
    nodes_t, weights_t = torch.from_numpy(nodes), torch.from_numpy(weights)
    if sigma is None:
        spread = float(nodes.max() - nodes.min())
        sigma = spread / 100 if spread > 0 else max(abs(float(nodes.max())), 1.0) * 1e-3
    if grid is None:
        grid = torch.linspace(float(nodes.min()) - 5 * sigma, float(nodes.max()) + 5 * sigma, GRID_POINTS, dtype=torch.float64)
    grid = torch.as_tensor(grid, dtype=torch.float64)
    density = _smooth(nodes_t, weights_t, grid, sigma)
    return DensityResult(nodes_t, weights_t, grid, density, float(sigma), op.num_matvecs - start)


def _smooth(nodes: torch.Tensor, weights: torch.Tensor, grid: torch.Tensor, sigma: float) -> torch.Tensor:
    z = (grid[:, None] - nodes.reshape(1, -1)) / sigma
    kernel = torch.exp(-0.5 * z**2) / (sigma * math.sqrt(2 * math.pi))
    return kernel @ weights.reshape(-1) / nodes.shape[0]
