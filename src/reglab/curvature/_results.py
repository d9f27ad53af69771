"""Result records of the curvature routines (plain frozen data)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["EigenResult", "TraceResult", "DiagonalResult", "DensityResult"]


@dataclass(frozen=True)
class EigenResult:
    """Eigenpairs of a symmetric operator.

    Attributes:
        eigenvalues: ``(k,)``; descending for ``which="LA"`` and ``"both"``, ascending
            (most negative first) for ``"SA"``, in order found for power iteration.
        eigenvectors: ``(P, k)``, orthonormal columns, column ``i`` belongs to ``eigenvalues[i]``.
        residual_norms: ``‖A vᵢ − λᵢ vᵢ‖₂`` for each pair, measured with the operator
            (or with ``eigen``'s ``residual_op``).
        num_matvecs: operator products spent (including those for the residuals).
        seconds: wall time.
        method: ``"dense"``, ``"lanczos"``, ``"block-lanczos"``, ``"arpack"`` or ``"power"``.

    The Krylov methods return float64 pairs and residuals whatever the operator's
    dtype; ``"dense"`` and ``"power"`` return the operator's dtype.
        converged: whether every pair met the tolerance.
    """

    eigenvalues: torch.Tensor
    eigenvectors: torch.Tensor
    residual_norms: torch.Tensor
    num_matvecs: int
    seconds: float
    method: str
    converged: bool = True


@dataclass(frozen=True)
class TraceResult:
    """A trace estimate with its standard error (0 for an exact trace)."""

    estimate: float
    stderr: float
    num_matvecs: int
    method: str


@dataclass(frozen=True)
class DiagonalResult:
    """A diagonal estimate ``(P,)`` with per-entry standard errors (zeros when exact)."""

    estimate: torch.Tensor
    stderr: torch.Tensor
    num_matvecs: int
    method: str


@dataclass(frozen=True)
class DensityResult:
    """Stochastic Lanczos quadrature of a spectrum.

    Attributes:
        nodes: ``(num_probes, m)`` Ritz values θⱼ per probe.
        weights: ``(num_probes, m)`` quadrature weights, each row summing to 1
            (padded with zero weights where a probe's Krylov space ended early).
        grid: ``(G,)`` points at which the smoothed density is given.
        density: ``(G,)`` ``φ(t) = (1/n_v) Σ_l Σ_j w_lj N(t; θ_lj, σ²)``; integrates to ≈ 1.
        sigma: the Gaussian width σ.
        num_matvecs: operator products spent.
        method: ``"sequential"`` or ``"block"`` (how the probes' recurrences ran).
    """

    nodes: torch.Tensor
    weights: torch.Tensor
    grid: torch.Tensor
    density: torch.Tensor
    sigma: float
    num_matvecs: int
    method: str = "sequential"

    def moment(self, power: int) -> float:
        """The quadrature estimate of ``tr(Aᵏ)/P``: mean over probes of ``Σⱼ wⱼ θⱼᵏ``."""
        return float(self._per_probe(power).mean())

    def moment_stderr(self, power: int) -> float:
        """The probe-to-probe standard error of :meth:`moment` (``sd / √n_v``; ``nan`` for one probe)."""
        per_probe = self._per_probe(power)
        return float(per_probe.std() / per_probe.numel() ** 0.5) if per_probe.numel() > 1 else float("nan")

    def _per_probe(self, power: int) -> torch.Tensor:
        return (self.weights * self.nodes**power).sum(dim=1)
