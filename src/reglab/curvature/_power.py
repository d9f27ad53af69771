"""Power iteration with deflation: PyHessian's eigenvalue method, kept as a baseline."""

from __future__ import annotations

import time

import torch

from reglab.curvature._operator import CurvatureOperator, as_operator
from reglab.curvature._results import EigenResult

__all__ = ["power_iteration"]


def power_iteration(
    op: CurvatureOperator | torch.Tensor,
    k: int = 1,
    *,
    tol: float = 1e-3,
    max_iter: int = 100,
    seed: int = 0,
) -> EigenResult:
    r"""The ``k`` eigenpairs of largest magnitude by power iteration with deflation.

    For ``i = 1..k``: start from a Gaussian vector and repeat

    .. math::
        v \leftarrow \frac{v - \sum_{j<i} (u_j^\top v) u_j}{\|\cdot\|},\quad
        \lambda = v^\top A v,\quad v \leftarrow \frac{A v}{\|A v\|},

    until ``|λ − λ_prev| / (|λ_prev| + 10⁻⁶) < tol`` or ``max_iter`` products — the
    method and defaults of PyHessian (Yao et al. 2020). It converges like
    ``(λ_{i+1}/λ_i)^t`` and its stopping rule watches the eigenvalue, not the
    vector, so residuals stay large; :func:`eigen` is the method to use. One
    change keeps the reported numbers honest: the returned vector is the one whose
    product was taken, so ``λ`` is its Rayleigh quotient and ``‖Av − λv‖`` its exact
    residual, at no extra product.

    Example:
        >>> import torch
        >>> from reglab.curvature import power_iteration
        >>> A = torch.diag(torch.tensor([5.0, 1.0, 0.5], dtype=torch.float64))
        >>> round(power_iteration(A, 1, tol=1e-10).eigenvalues[0].item(), 6)
        5.0

    Reference:
        Yao, Gholami, Keutzer & Mahoney, "PyHessian: Neural networks through the lens
        of the Hessian", IEEE BigData 2020.
    """
    if not (isinstance(k, int) and k >= 1):
        raise ValueError(f"k must be a positive integer, got {k!r}")
    if not tol > 0:
        raise ValueError(f"tol must be > 0, got {tol}")
    if not (isinstance(max_iter, int) and max_iter >= 1):
        raise ValueError(f"max_iter must be a positive integer, got {max_iter!r}")
    op = as_operator(op)
    if k > op.shape[0]:
        raise ValueError(f"k must be at most {op.shape[0]}, got {k}")
    generator = torch.Generator().manual_seed(seed)
    start, t0 = op.num_matvecs, time.perf_counter()
    values, vectors, residuals, all_converged = [], [], [], True
    for _ in range(k):
        v = torch.randn(op.shape[0], generator=generator, dtype=op.dtype).to(op.device)
        value, v, residual, converged = _one(op, v, vectors, tol, max_iter)
        values.append(value)
        vectors.append(v)
        residuals.append(residual)
        all_converged &= converged
    return EigenResult(
        torch.stack(values),
        torch.stack(vectors, dim=1),
        torch.stack(residuals),
        op.num_matvecs - start,
        time.perf_counter() - t0,
        "power",
        all_converged,
    )


def _one(op, v, found, tol, max_iter):
    previous, converged = None, False
    for _ in range(max_iter):
        current = _deflate(v, found)
        current = current / torch.linalg.vector_norm(current)
        product = op.matvec(current)
        value = current @ product
        converged = previous is not None and bool(abs(value - previous) / (abs(previous) + 1e-6) < tol)
        if converged:
            break
        previous, v = value, product
    return value, current, torch.linalg.vector_norm(product - value * current), converged


def _deflate(v: torch.Tensor, found: list[torch.Tensor]) -> torch.Tensor:
    for u in found:
        v = v - (u @ v) * u
    return v
