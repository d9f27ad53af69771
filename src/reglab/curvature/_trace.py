"""Trace and diagonal: exact from unit vectors, or randomized (Hutchinson, Hutch++)."""

from __future__ import annotations

import math

import torch

from reglab.curvature._operator import CurvatureOperator, DenseOperator, as_operator, matmat_blocked
from reglab.curvature._progress import ProgressCallback, Tracker
from reglab.curvature._results import DiagonalResult, TraceResult

__all__ = ["trace", "diagonal"]

TRACE_METHODS = ("hutch++", "hutchinson", "exact")
DIAGONAL_METHODS = ("auto", "exact", "hutchinson")
EXACT_MAX_SIZE = 2000


def trace(
    op: CurvatureOperator | torch.Tensor,
    *,
    method: str = "hutch++",
    num_matvecs: int = 100,
    seed: int = 0,
    progress: ProgressCallback | None = None,
) -> TraceResult:
    r"""Estimate ``tr(A)`` from products with ``A``, with an honest standard error.

    * ``"hutchinson"``: ``tr(A) ≈ (1/m) Σᵢ zᵢᵀ A zᵢ`` with Rademacher ``zᵢ``
      (unbiased); stderr = sample std / √m.
    * ``"hutch++"``: with ``s = m // 3``, ``Q = orth(A S)`` for a Rademacher ``P×s``
      sketch ``S``, then

      .. math:: \operatorname{tr}(A) = \operatorname{tr}(Q^\top A Q)
                + \operatorname{tr}\big((I-QQ^\top) A (I-QQ^\top)\big),

      the first term exact (``s`` products), the second by Hutchinson with the
      remaining ``g = m − 2s`` probes projected off ``Q``. Given ``Q`` the estimate
      is unbiased and its only randomness is that Hutchinson part, so the
      stderr is the sample std of the ``g`` projected quadratic forms over √g. The
      variance falls like ``1/m²`` instead of ``1/m`` when the spectrum decays.
      If ``m // 3 ≥ P`` the exact trace is returned (``P`` products, stderr 0).
    * ``"exact"``: ``Σᵢ eᵢᵀ A eᵢ`` (``P`` products; free for a dense tensor).

    ``progress`` gets a :class:`~reglab.curvature.Progress` after every block of products.

    Example:
        >>> import torch
        >>> from reglab.curvature import trace
        >>> A = torch.diag(torch.arange(1.0, 11.0, dtype=torch.float64))
        >>> trace(A, method="exact").estimate
        55.0

    References:
        Hutchinson, "A stochastic estimator of the trace of the influence matrix",
        1989; Meyer, Musco, Musco & Woodruff, "Hutch++: Optimal stochastic trace
        estimation", SOSA 2021.
    """
    if method not in TRACE_METHODS:
        raise ValueError(f"method must be one of {TRACE_METHODS}, got {method!r}")
    op = as_operator(op)
    start = op.num_matvecs
    exact = method == "exact" or (method == "hutch++" and isinstance(num_matvecs, int)
                                  and num_matvecs // 3 >= op.shape[0])
    tracker = Tracker(op, "trace", op.shape[0] if exact else num_matvecs, progress)
    op = tracker.watch()
    if method == "exact":
        estimate, stderr = float(_exact_diagonal(op).sum()), 0.0
    else:
        minimum = 5 if method == "hutch++" else 2
        if not (isinstance(num_matvecs, int) and num_matvecs >= minimum):
            raise ValueError(f"num_matvecs must be an integer >= {minimum} for {method}, got {num_matvecs!r}")
        generator = torch.Generator().manual_seed(seed)
        run = _hutchpp if method == "hutch++" else _hutchinson
        estimate, stderr = run(op, num_matvecs, generator)
    return TraceResult(estimate, stderr, op.num_matvecs - start, method)


def diagonal(
    op: CurvatureOperator | torch.Tensor,
    *,
    method: str = "auto",
    num_matvecs: int = 100,
    seed: int = 0,
    progress: ProgressCallback | None = None,
) -> DiagonalResult:
    r"""The diagonal of ``A``: exact, or Hutchinson's estimate for large operators.

    * ``"exact"``: ``Aᵢᵢ = eᵢᵀ A eᵢ`` from ``P`` products (blocks of unit vectors),
      or read off a dense tensor.
    * ``"hutchinson"``: ``diag(A) ≈ (1/m) Σⱼ zⱼ ⊙ A zⱼ`` with Rademacher ``zⱼ``
      (unbiased, as ``E[z zᵀ] = I``); per-entry stderr = sample std / √m.
    * ``"auto"``: exact for a dense tensor or ``P ≤ 2000``, else Hutchinson.

    Example:
        >>> import torch
        >>> from reglab.curvature import diagonal
        >>> diagonal(torch.tensor([[2.0, 1.0], [1.0, 3.0]])).estimate.tolist()
        [2.0, 3.0]

    Reference:
        Bekas, Kokiopoulou & Saad, "An estimator for the diagonal of a matrix",
        Applied Numerical Mathematics 2007.
    """
    if method not in DIAGONAL_METHODS:
        raise ValueError(f"method must be one of {DIAGONAL_METHODS}, got {method!r}")
    is_dense = not isinstance(op, CurvatureOperator)
    op = as_operator(op)
    if method == "auto":
        method = "exact" if (is_dense or op.shape[0] <= EXACT_MAX_SIZE) else "hutchinson"
    start = op.num_matvecs
    tracker = Tracker(op, "diagonal", op.shape[0] if method == "exact" else num_matvecs, progress)
    op = tracker.watch()
    if method == "exact":
        estimate = _exact_diagonal(op)
        stderr = torch.zeros_like(estimate)
    else:
        if not (isinstance(num_matvecs, int) and num_matvecs >= 2):
            raise ValueError(f"num_matvecs must be an integer >= 2, got {num_matvecs!r}")
        Z = _rademacher(op, num_matvecs, torch.Generator().manual_seed(seed))
        samples = Z * matmat_blocked(op, Z)
        estimate = samples.mean(dim=1)
        stderr = samples.std(dim=1) / math.sqrt(num_matvecs)
    return DiagonalResult(estimate, stderr, op.num_matvecs - start, method)


def _rademacher(op: CurvatureOperator, count: int, generator: torch.Generator) -> torch.Tensor:
    signs = torch.randint(0, 2, (op.shape[0], count), generator=generator) * 2 - 1
    return signs.to(device=op.device, dtype=op.dtype)


def _exact_diagonal(op: CurvatureOperator) -> torch.Tensor:
    if isinstance(op, DenseOperator):
        return op.matrix.diagonal().clone()
    size, block = op.shape[0], 64
    parts = []
    for j in range(0, size, block):
        eye = torch.zeros(size, min(block, size - j), dtype=op.dtype, device=op.device)
        eye[j : j + eye.shape[1]].fill_diagonal_(1.0)
        parts.append(op.matmat(eye)[j : j + eye.shape[1]].diagonal())
    return torch.cat(parts)


def _hutchinson(op: CurvatureOperator, m: int, generator: torch.Generator) -> tuple[float, float]:
    Z = _rademacher(op, m, generator)
    samples = (Z * matmat_blocked(op, Z)).sum(dim=0)
    return float(samples.mean()), float(samples.std()) / math.sqrt(m)


def _hutchpp(op: CurvatureOperator, m: int, generator: torch.Generator) -> tuple[float, float]:
    s = m // 3
    if s >= op.shape[0]:
        # The sketch would span the whole space: the exact trace is cheaper.
        return float(_exact_diagonal(op).sum()), 0.0
    Q, _ = torch.linalg.qr(matmat_blocked(op, _rademacher(op, s, generator)))
    low_rank = float(torch.trace(Q.T @ matmat_blocked(op, Q)))
    G = _rademacher(op, m - 2 * s, generator)
    G = G - Q @ (Q.T @ G)
    samples = (G * matmat_blocked(op, G)).sum(dim=0)
    return low_rank + float(samples.mean()), float(samples.std()) / math.sqrt(G.shape[1])
