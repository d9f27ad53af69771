"""Lanczos tridiagonalization with full reorthogonalization.

After ``m`` steps, ``A V_m = V_m T_m + β_m q_{m+1} e_mᵀ`` with ``V_m`` orthonormal
(kept so to working precision by reorthogonalizing every new vector twice
against all previous ones, classical Gram–Schmidt twice) and ``T_m`` tridiagonal
with diagonal ``α`` and off-diagonal ``β``. The basis is stored in float64.

:func:`lanczos` runs one recurrence (with restarts and a stopping rule, for
``eigen``); :func:`probe_recurrences` runs several independent ones side by
side, one ``matmat`` per step for all of them (for ``spectral_density``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.linalg
import torch

from reglab.curvature._operator import CurvatureOperator

# β below this fraction of the largest |α|, |β| seen means the Krylov space is invariant.
_BREAKDOWN = 1e-12


@dataclass(frozen=True)
class Krylov:
    """The result of ``m`` Lanczos steps: basis ``V`` (P×m, float64) and ``T``'s entries."""

    basis: torch.Tensor
    alphas: np.ndarray
    betas: np.ndarray  # betas[j] couples q_j and q_{j+1}; betas[-1] is the residual norm β_m

    def ritz(self) -> tuple[np.ndarray, np.ndarray]:
        """Eigenvalues (ascending) and eigenvectors of ``T_m``."""
        return tridiagonal_eigh(self.alphas, self.betas)


@dataclass(frozen=True)
class Tridiagonal:
    """``T_m`` of one Lanczos run whose basis was not kept: diagonal ``alphas``, couplings ``betas``."""

    alphas: np.ndarray
    betas: np.ndarray  # betas[-1] is the residual norm β_m (0 where the Krylov space closed)

    def ritz(self) -> tuple[np.ndarray, np.ndarray]:
        """Eigenvalues (ascending) and eigenvectors of ``T_m``."""
        return tridiagonal_eigh(self.alphas, self.betas)


def tridiagonal_eigh(alphas: np.ndarray, betas: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if len(alphas) == 1:
        return np.asarray(alphas, dtype=np.float64), np.ones((1, 1))
    return scipy.linalg.eigh_tridiagonal(alphas, betas[: len(alphas) - 1])


def lanczos(
    op: CurvatureOperator,
    start: torch.Tensor,
    steps: int,
    *,
    generator: torch.Generator | None = None,
    stop: Callable[[np.ndarray, np.ndarray, bool], bool] | None = None,
) -> Krylov:
    """Run at most ``steps`` Lanczos steps from ``start``.

    On breakdown (an invariant subspace: ``β`` is set to exactly 0) the run ends,
    unless a ``generator`` is given: then it continues with a random vector
    orthogonal to the basis, which keeps the eigenvalue problem exact (``T``
    becomes block diagonal, one block per invariant subspace).
    ``stop(alphas, betas, invariant)`` is asked after every step.
    """
    size = op.shape[0]
    steps = min(steps, size)
    # The basis grows by doubling: runs usually stop long before ``steps``.
    V = torch.zeros(size, min(steps, 32), dtype=torch.float64, device=op.device)
    q = start.to(device=op.device, dtype=torch.float64)
    q = q / torch.linalg.vector_norm(q)
    alphas, betas, scale = [], [], 0.0
    for j in range(steps):
        if j == V.shape[1]:
            V = torch.cat([V, torch.zeros(size, min(j, steps - j), dtype=V.dtype, device=V.device)], dim=1)
        V[:, j] = q
        w = op.matvec(q.to(op.dtype)).to(torch.float64)
        alphas.append(float(q @ w))
        w = _orthogonalize(w, V[:, : j + 1])
        beta = float(torch.linalg.vector_norm(w))
        scale = max(scale, abs(alphas[-1]), beta)
        invariant = beta <= _BREAKDOWN * scale
        betas.append(0.0 if invariant else beta)
        if j + 1 == steps or (stop is not None and stop(np.array(alphas), np.array(betas), invariant)):
            break
        if invariant:
            if generator is None:
                break
            w = _orthogonalize(torch.randn(size, generator=generator, dtype=torch.float64).to(op.device), V[:, : j + 1])
        q = w / torch.linalg.vector_norm(w)
    m = len(alphas)
    return Krylov(V[:, :m], np.array(alphas), np.array(betas))


def _orthogonalize(w: torch.Tensor, V: torch.Tensor) -> torch.Tensor:
    # Twice is enough (Giraud et al. 2005): one pass loses orthogonality like κ·ε.
    w = w - V @ (V.T @ w)
    return w - V @ (V.T @ w)


def probe_recurrences(op: CurvatureOperator, starts: torch.Tensor, steps: int, *,
                      reorthogonalize: bool = True) -> list[Tridiagonal]:
    """Independent Lanczos runs from the columns of ``starts`` (``P × b``), advanced together.

    Every step multiplies all running columns at once (``op.matmat``; ``op.matvec``
    for a single column), so a block of probes costs one product per step. Each
    column keeps its own recurrence, exactly as :func:`lanczos` from that column
    without a generator: with ``reorthogonalize`` its new vector is orthogonalized
    twice against its own basis (``b × P × m`` float64 numbers in all); without,
    only the three-term recurrence runs (Paige's ordering) and no basis is kept.
    A column whose Krylov space closes (``β`` below ``1e-12`` of its scale) stops
    there and leaves the block.
    """
    size, count = starts.shape
    steps = min(steps, size)
    # Probe-major (b × P): each probe's vectors are contiguous rows.
    Q = starts.T.to(device=op.device, dtype=torch.float64)
    Q = Q / torch.linalg.vector_norm(Q, dim=1, keepdim=True)
    running = list(range(count))  # probe of each row of Q
    bases = [torch.zeros(min(steps, 32), size, dtype=torch.float64, device=op.device) for _ in running] \
        if reorthogonalize else []
    previous, previous_beta = torch.zeros_like(Q), torch.zeros(count, 1, dtype=torch.float64, device=op.device)
    alphas: list[list[float]] = [[] for _ in range(count)]
    betas: list[list[float]] = [[] for _ in range(count)]
    scales = [0.0] * count
    for j in range(steps):
        W = _product(op, Q)
        if reorthogonalize:
            a = (Q * W).sum(dim=1)
            for c, basis in enumerate(bases):
                if j == basis.shape[0]:
                    basis = bases[c] = torch.cat([basis, basis.new_zeros(min(j, steps - j), size)])
                basis[j] = Q[c]
                W[c] = _orthogonalize(W[c], basis[: j + 1].T)
        else:
            W = W - previous * previous_beta
            a = (Q * W).sum(dim=1)
            W = W - Q * a[:, None]
        b = torch.linalg.vector_norm(W, dim=1)
        keep = []
        for c, probe in enumerate(running):
            alpha, beta = float(a[c]), float(b[c])
            scales[probe] = max(scales[probe], abs(alpha), beta)
            invariant = beta <= _BREAKDOWN * scales[probe]
            alphas[probe].append(alpha)
            betas[probe].append(0.0 if invariant else beta)
            if not invariant:
                keep.append(c)
        if not keep or j + 1 == steps:
            break
        running = [running[c] for c in keep]
        bases = [bases[c] for c in keep] if reorthogonalize else []
        previous, previous_beta = Q[keep], b[keep, None]
        Q = W[keep] / previous_beta
    return [Tridiagonal(np.array(a), np.array(b)) for a, b in zip(alphas, betas, strict=True)]


def _product(op: CurvatureOperator, Q: torch.Tensor) -> torch.Tensor:
    """``(A Qᵀ)ᵀ`` for probe-major ``Q`` (``b × P``), in float64, through one ``matmat`` (``matvec`` for one row)."""
    if Q.shape[0] == 1:
        return op.matvec(Q[0].to(op.dtype)).to(torch.float64)[None, :]
    return op.matmat(Q.T.to(op.dtype)).T.to(torch.float64).contiguous()
