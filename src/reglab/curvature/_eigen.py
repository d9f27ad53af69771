"""Extreme eigenpairs of a symmetric operator: dense, Lanczos, or ARPACK."""

from __future__ import annotations

import time

import numpy as np
import scipy.sparse.linalg
import torch

from reglab.curvature._lanczos import lanczos, tridiagonal_eigh
from reglab.curvature._operator import CurvatureOperator, as_operator, matmat_blocked, to_dense
from reglab.curvature._results import EigenResult

__all__ = ["eigen"]

WHICH = ("LA", "SA", "both")
EIGEN_METHODS = ("auto", "dense", "lanczos", "arpack")
DENSE_MAX_SIZE = 2000


def eigen(
    op: CurvatureOperator | torch.Tensor,
    k: int,
    which: str = "LA",
    *,
    tol: float = 1e-6,
    seed: int = 0,
    method: str = "auto",
    max_matvecs: int | None = None,
) -> EigenResult:
    r"""The ``k`` extreme eigenpairs ``A vᵢ = λᵢ vᵢ`` of a symmetric operator or matrix.

    ``which="LA"``: the ``k`` largest (descending); ``"SA"``: the ``k`` smallest
    (ascending); ``"both"``: the ``k`` largest and the ``k`` smallest (``2k``
    pairs, descending) — for an indefinite Hessian's extremes.

    Methods:

    * ``"dense"`` builds the matrix (``P`` products unless ``op`` is a tensor) and
      calls ``torch.linalg.eigh``; ``tol`` does not apply.
    * ``"lanczos"`` runs Lanczos with full reorthogonalization, without implicit
      restarts, until every wanted Ritz pair has ``|β_m sₘᵢ| ≤ tol·max|θ|`` (the
      residual of the Krylov relation, so ``tol`` is relative to ``‖A‖₂``). Memory:
      ``P × max_matvecs`` float64 numbers at most (default
      ``max_matvecs = min(P, max(200, 20·k))``). An exactly repeated eigenvalue
      makes the Krylov space invariant (``β = 0``); the run then restarts from a
      random vector orthogonal to the basis and keeps restarting while a new block
      changes the wanted values, so a multiple eigenvalue comes with all its copies.
    * ``"arpack"`` calls ``scipy.sparse.linalg.eigsh`` (implicitly restarted; its
      ``tol`` is relative to each ``|λᵢ|``). On an MLP Hessian it needs a few more
      products than ``"lanczos"`` for the same residual (``benchmarks/bench_eigen.py``).
    * ``"auto"``: dense for a tensor or ``P ≤ 2000``, else Lanczos.

    The returned ``residual_norms`` are measured: one more block of ``k`` products,
    counted in ``num_matvecs``.

    Example:
        >>> import torch
        >>> from reglab.curvature import eigen
        >>> A = torch.diag(torch.tensor([3.0, 1.0, 2.0], dtype=torch.float64))
        >>> eigen(A, 2).eigenvalues.tolist()
        [3.0, 2.0]

    References:
        Lanczos 1950; Golub & Van Loan, *Matrix Computations*, 4th ed., §10.1–10.3;
        Ghorbani, Krishnan & Xiao, "An investigation into neural net optimization via
        Hessian eigenvalue density", ICML 2019.
    """
    if which not in WHICH:
        raise ValueError(f"which must be one of {WHICH}, got {which!r}")
    if method not in EIGEN_METHODS:
        raise ValueError(f"method must be one of {EIGEN_METHODS}, got {method!r}")
    if not tol > 0:
        raise ValueError(f"tol must be > 0, got {tol}")
    if isinstance(k, bool) or not isinstance(k, int):
        raise ValueError(f"k must be an integer, got {k!r}")
    is_dense = not isinstance(op, CurvatureOperator)
    op = as_operator(op)
    size = op.shape[0]
    wanted = k if which != "both" else 2 * k
    if not 1 <= wanted <= size:
        raise ValueError(f"k must be between 1 and {size // 2 if which == 'both' else size}, got {k}")
    if max_matvecs is not None and not (isinstance(max_matvecs, int) and max_matvecs >= wanted):
        raise ValueError(f"max_matvecs must be an integer >= {wanted}, got {max_matvecs!r}")
    if method == "auto":
        method = "dense" if (is_dense or size <= DENSE_MAX_SIZE) else "lanczos"
    start, t0 = op.num_matvecs, time.perf_counter()
    if method == "dense":
        values, vectors, converged = _dense(op, k, which)
    elif method == "lanczos":
        steps = max_matvecs if max_matvecs is not None else min(size, max(200, 20 * k))
        values, vectors, converged = _lanczos(op, k, which, tol, seed, steps)
    else:
        values, vectors, converged = _arpack(op, k, which, tol, seed)
    residuals = _residuals(op, values, vectors)
    return EigenResult(values, vectors, residuals, op.num_matvecs - start, time.perf_counter() - t0, method, converged)


def _select(values: torch.Tensor | np.ndarray, k: int, which: str) -> list[int]:
    """Indices of the wanted values, given ascending ``values``, in output order."""
    n = len(values)
    if which == "LA":
        return list(range(n - 1, n - 1 - k, -1))
    if which == "SA":
        return list(range(k))
    return list(range(n - 1, n - 1 - k, -1)) + list(range(k - 1, -1, -1))


def _dense(op: CurvatureOperator, k: int, which: str):
    values, vectors = torch.linalg.eigh(to_dense(op))
    idx = _select(values, k, which)
    return values[idx], vectors[:, idx], True


def _lanczos(op: CurvatureOperator, k: int, which: str, tol: float, seed: int, steps: int):
    generator = torch.Generator().manual_seed(seed)
    wanted = k if which != "both" else 2 * k

    def converged(alphas: np.ndarray, betas: np.ndarray, invariant: bool) -> bool:
        if len(alphas) < wanted or (invariant and _block_adds_wanted(alphas, betas, k, which)):
            return False
        # After a restart, the new block's extreme Ritz value must have converged
        # too: it is the extreme eigenvalue on the complement of the earlier blocks.
        start = _block_start(betas)
        scale = float(np.max(np.abs(tridiagonal_eigh(alphas, betas)[0])))
        block_done = start == 0 or bool(np.all(_bounds(alphas[start:], betas[start:], 1, which, scale) <= tol))
        return block_done and bool(np.all(_bounds(alphas, betas, k, which, scale) <= tol))

    start = torch.randn(op.shape[0], generator=generator, dtype=torch.float64)
    krylov = lanczos(op, start, steps, generator=generator, stop=converged)
    theta, S = krylov.ritz()
    idx = _select(theta, k, which)
    scale = float(np.max(np.abs(theta)))
    done = len(theta) >= wanted and bool(np.all(_bounds(krylov.alphas, krylov.betas, k, which, scale) <= tol))
    vectors = krylov.basis @ torch.from_numpy(S[:, idx]).to(krylov.basis.device)
    values = torch.from_numpy(theta[idx].copy())
    return values.to(op.device, op.dtype), vectors.to(op.dtype), done


def _bounds(alphas: np.ndarray, betas: np.ndarray, k: int, which: str, scale: float) -> np.ndarray:
    """Relative residual bounds ``|β_m sₘᵢ| / scale`` of the wanted Ritz pairs (``scale`` ≈ ‖A‖₂)."""
    theta, S = tridiagonal_eigh(alphas, betas)
    idx = _select(theta, min(k, len(theta)), which)
    return np.abs(betas[-1] * S[-1, idx]) / max(scale, np.finfo(np.float64).tiny)


def _block_start(betas: np.ndarray) -> int:
    """Index of the first step after the last restart (0 if none)."""
    restarts = np.flatnonzero(betas[:-1] == 0.0)
    return int(restarts[-1]) + 1 if len(restarts) else 0


def _block_adds_wanted(alphas: np.ndarray, betas: np.ndarray, k: int, which: str) -> bool:
    """Whether the invariant subspace just completed changed the wanted eigenvalues.

    A single Krylov space holds one vector per distinct eigenvalue. After each
    breakdown the run restarts; as long as a new block still moves the ``k``
    extreme values (another copy of a multiple eigenvalue), there may be more.
    """
    start = _block_start(betas)
    if start == 0:
        return True
    before = tridiagonal_eigh(alphas[:start], betas[:start])[0]
    block = tridiagonal_eigh(alphas[start:], betas[start:])[0]
    if len(before) < k:
        return True
    larger = which in ("LA", "both") and block[-1] > before[-k]
    smaller = which in ("SA", "both") and block[0] < before[k - 1]
    return bool(larger or smaller)


def _arpack(op: CurvatureOperator, k: int, which: str, tol: float, seed: int):
    rng = np.random.default_rng(seed)
    v0 = rng.standard_normal(op.shape[0])
    linop = op.to_scipy()
    parts = ["LA", "SA"] if which == "both" else [which]
    values, vectors = [], []
    for part in parts:
        w, V = scipy.sparse.linalg.eigsh(linop, k=k, which=part, tol=tol, v0=v0)
        order = np.argsort(w)
        w, V = w[order], V[:, order]
        idx = list(range(k - 1, -1, -1)) if part == "LA" else list(range(k))
        values.append(w[idx])
        vectors.append(V[:, idx])
    if which == "both":
        values[1], vectors[1] = values[1][::-1], vectors[1][:, ::-1]
    values_t = torch.from_numpy(np.concatenate(values).copy()).to(op.device, op.dtype)
    vectors_t = torch.from_numpy(np.concatenate(vectors, axis=1).copy()).to(op.device, op.dtype)
    return values_t, vectors_t, True


def _residuals(op: CurvatureOperator, values: torch.Tensor, vectors: torch.Tensor) -> torch.Tensor:
    return torch.linalg.vector_norm(matmat_blocked(op, vectors) - vectors * values, dim=0)
