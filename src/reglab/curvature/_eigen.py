"""Extreme eigenpairs of a symmetric operator: dense, Lanczos, block Lanczos, or ARPACK."""

from __future__ import annotations

import time

import numpy as np
import scipy.sparse.linalg
import torch

from reglab.curvature._block import block_lanczos
from reglab.curvature._lanczos import lanczos, tridiagonal_eigh
from reglab.curvature._operator import CurvatureOperator, as_operator, matmat_blocked, to_dense
from reglab.curvature._progress import ProgressCallback, Tracker
from reglab.curvature._results import EigenResult

__all__ = ["eigen"]

WHICH = ("LA", "SA", "both")
EIGEN_METHODS = ("auto", "dense", "lanczos", "block-lanczos", "arpack")
DENSE_MAX_SIZE = 2000
MAX_BLOCK = 32


def eigen(
    op: CurvatureOperator | torch.Tensor,
    k: int,
    which: str = "LA",
    *,
    tol: float = 1e-6,
    seed: int = 0,
    method: str = "auto",
    max_matvecs: int | None = None,
    block_size: int | None = None,
    residual_op: CurvatureOperator | torch.Tensor | None = None,
    progress: ProgressCallback | None = None,
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
    * ``"block-lanczos"``: block Lanczos on ``op.matmat`` with ``block_size``
      columns at a time (default ``min(wanted, 32)``), full reorthogonalization,
      the same stopping rule on the exact block residuals ``‖R_m sᵢ‖`` (module
      ``reglab.curvature._block``). Each block is one ``matmat``, which for a
      model operator shares the forward pass and the gradient graph among the
      columns; it usually spends more products than ``"lanczos"`` but each is
      cheaper, and it finds all copies of a repeated eigenvalue at once.
    * ``"arpack"`` calls ``scipy.sparse.linalg.eigsh`` (implicitly restarted; its
      ``tol`` is relative to each ``|λᵢ|``). On an MLP Hessian it needs a few more
      products than ``"lanczos"`` for the same residual (``benchmarks/bench_eigen.py``).
    * ``"auto"``: dense for a tensor or ``P ≤ 2000``, else Lanczos.

    **Precision.** The Krylov methods keep their basis, ``T`` and the Ritz pairs in
    float64 whatever ``op.dtype`` is: with a float32 operator only the products
    are float32 (faster, half the memory), and the eigenpairs and residuals come
    back in float64. ``"dense"`` works in ``op.dtype``.

    **Residuals.** ``residual_norms[i] = ‖A vᵢ − λᵢ vᵢ‖₂`` is measured, not taken
    from the Krylov relation: one more block of ``wanted`` products (counted in
    ``num_matvecs``) with ``residual_op`` (default ``op`` itself), the vectors
    cast to its dtype for the product and the difference taken in float64. For a
    float32 ``op`` that residual includes the float32 rounding of the product
    (about ``1e-7·‖A‖``, so small eigenvalues cannot reach ``1e-6·|λ|``); pass a
    float64 ``residual_op`` on the same model and data for the residual of the
    pairs against the exact-arithmetic Hessian — the honest figure.

    ``progress`` gets a :class:`~reglab.curvature.Progress` after every product
    (products so far, the budget, the largest relative residual bound so far).
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
    if block_size is not None and not (isinstance(block_size, int) and 1 <= block_size <= size):
        raise ValueError(f"block_size must be an integer between 1 and {size}, got {block_size!r}")
    rop = op if residual_op is None else as_operator(residual_op)
    if rop.shape != op.shape:
        raise ValueError(f"residual_op must have the shape {op.shape} of op, got {rop.shape}")
    if method == "auto":
        method = "dense" if (is_dense or size <= DENSE_MAX_SIZE) else "lanczos"
    steps = max_matvecs if max_matvecs is not None else min(size, max(200, 20 * k))
    tracker = Tracker(op, f"eigen {which}", (size if method == "dense" else steps) + wanted, progress)
    work = tracker.watch()
    start, rstart, t0 = op.num_matvecs, rop.num_matvecs, time.perf_counter()
    if method == "dense":
        values, vectors, converged = _dense(work, k, which)
    elif method == "lanczos":
        values, vectors, converged = _lanczos(work, k, which, tol, seed, steps, tracker)
    elif method == "block-lanczos":
        b = block_size if block_size is not None else min(wanted, MAX_BLOCK, size)
        values, vectors, converged = _block(work, k, which, tol, seed, max(steps, b), b, tracker)
    else:
        values, vectors, converged = _arpack(work, k, which, tol, seed)
    residuals = _residuals(work if residual_op is None else rop, values, vectors)
    tracker.report()
    spent = op.num_matvecs - start + (0 if rop is op else rop.num_matvecs - rstart)
    return EigenResult(values, vectors, residuals, spent, time.perf_counter() - t0, method, converged)


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


def _lanczos(op: CurvatureOperator, k: int, which: str, tol: float, seed: int, steps: int, tracker: Tracker):
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
        bounds = _bounds(alphas, betas, k, which, scale)
        tracker.residual = float(bounds.max())
        return block_done and bool(np.all(bounds <= tol))

    start = torch.randn(op.shape[0], generator=generator, dtype=torch.float64)
    krylov = lanczos(op, start, steps, generator=generator, stop=converged)
    theta, S = krylov.ritz()
    idx = _select(theta, k, which)
    scale = float(np.max(np.abs(theta)))
    done = len(theta) >= wanted and bool(np.all(_bounds(krylov.alphas, krylov.betas, k, which, scale) <= tol))
    vectors = krylov.basis @ torch.from_numpy(S[:, idx]).to(krylov.basis.device)
    values = torch.from_numpy(theta[idx].copy())
    return values.to(op.device), vectors, done


def _block(op: CurvatureOperator, k: int, which: str, tol: float, seed: int, steps: int, b: int,
           tracker: Tracker):
    generator = torch.Generator().manual_seed(seed)
    wanted = k if which != "both" else 2 * k

    def bounds(T: np.ndarray, R: np.ndarray) -> np.ndarray:
        theta, S = np.linalg.eigh(T)
        idx = _select(theta, min(k, len(theta) // (2 if which == "both" else 1)), which)
        scale = max(float(np.max(np.abs(theta))), np.finfo(np.float64).tiny)
        return np.linalg.norm(R @ S[-R.shape[0]:, idx], axis=0) / scale

    def converged(T: np.ndarray, R: np.ndarray) -> bool:
        if T.shape[0] < wanted:
            return False
        tracker.residual = float(bounds(T, R).max())
        return tracker.residual <= tol

    V, T, R = block_lanczos(op, b, steps, generator, converged)
    theta, S = np.linalg.eigh(T)
    idx = _select(theta, k, which)
    done = T.shape[0] >= wanted and bool(np.all(bounds(T, R) <= tol))
    vectors = V @ torch.from_numpy(S[:, idx].copy()).to(V.device)
    return torch.from_numpy(theta[idx].copy()).to(op.device), vectors, done


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
    values_t = torch.from_numpy(np.concatenate(values).copy()).to(op.device)
    vectors_t = torch.from_numpy(np.concatenate(vectors, axis=1).copy()).to(op.device)
    return values_t, vectors_t, True


def _residuals(op: CurvatureOperator, values: torch.Tensor, vectors: torch.Tensor) -> torch.Tensor:
    """``‖A vᵢ − λᵢ vᵢ‖``: the product in ``op``'s dtype, the difference in the wider dtype."""
    dtype = torch.promote_types(vectors.dtype, op.dtype)
    vectors = vectors.to(dtype)
    product = matmat_blocked(op, vectors.to(op.dtype)).to(device=vectors.device, dtype=dtype)
    return torch.linalg.vector_norm(product - vectors * values.to(vectors.device, dtype), dim=0)
