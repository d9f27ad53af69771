r"""Block Lanczos with full reorthogonalization: ``b`` products at a time, through ``matmat``.

After ``m`` blocks, ``A V_m = V_m T_m + Q_{m+1} R_m E_mᵀ`` with ``V_m = [Q_1 … Q_m]``
orthonormal (``P × mb``, float64, every new block orthogonalized twice against
all earlier ones) and ``T_m`` block tridiagonal: diagonal blocks ``A_j = Q_jᵀ A Q_j``,
off-diagonal blocks ``R_j`` from ``A Q_j − Q_j A_j − Q_{j-1} R_{j-1}ᵀ = Q_{j+1} R_j``.
A Ritz pair ``(θ, V_m s)`` of ``T_m`` has the residual norm ``‖R_m s_{(m)}‖``
exactly (``s_{(m)}``: the last ``b`` entries of ``s``), which is what the stopping
rule watches.

Why blocks: a model operator's ``matmat`` shares one forward pass and one
gradient graph among its columns, so a column costs less than a lone product
(about 0.6 of one for double-backward on an MLP, ``benchmarks/bench_hvp.py``);
and a block finds clustered and repeated eigenvalues that a single Krylov
sequence sees one copy of. A column that becomes dependent on the basis (an
invariant subspace) is replaced by a random vector orthogonal to it, with a zero
coupling, which keeps ``T_m`` exact.

Reference: Golub & Underwood, "The block Lanczos method for computing
eigenvalues", 1977; Golub & Van Loan, *Matrix Computations*, 4th ed., §10.3.6.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from reglab.curvature._operator import CurvatureOperator

# A new column whose norm after orthogonalization is below this fraction of the
# operator's scale lies in the span of the basis.
_BREAKDOWN = 1e-12


def block_lanczos(
    op: CurvatureOperator,
    block_size: int,
    max_matvecs: int,
    generator: torch.Generator,
    stop: Callable[[np.ndarray, np.ndarray], bool],
) -> tuple[torch.Tensor, np.ndarray, np.ndarray]:
    """Run block Lanczos until ``stop(T, R_last)`` or ``max_matvecs`` products.

    Returns the basis ``V`` (``P × mb``, float64), the block tridiagonal ``T``
    (``mb × mb``) and the last coupling ``R_m`` (``b × b``).
    """
    size, b = op.shape[0], block_size
    blocks = max(1, min(max_matvecs, size) // b)
    # The basis grows by doubling: runs usually stop long before ``max_matvecs``.
    V = torch.zeros(size, min(blocks, 4) * b, dtype=torch.float64, device=op.device)
    T = np.zeros((blocks * b, blocks * b))
    Q, _ = _orthonormal_block(torch.randn(size, b, generator=generator, dtype=torch.float64).to(op.device),
                              V[:, :0], generator, 1.0)
    scale, R = 0.0, np.zeros((b, b))
    for j in range(blocks):
        lo, hi = j * b, (j + 1) * b
        if hi > V.shape[1]:
            grow = min(V.shape[1], blocks * b - V.shape[1])
            V = torch.cat([V, torch.zeros(size, grow, dtype=V.dtype, device=V.device)], dim=1)
        V[:, lo:hi] = Q
        W = op.matmat(Q.to(op.dtype)).to(torch.float64)
        A_j = Q.T @ W
        A_j = (A_j + A_j.T) / 2
        T[lo:hi, lo:hi] = A_j.cpu().numpy()
        scale = max(scale, float(torch.linalg.matrix_norm(A_j, ord=2)), float(np.linalg.norm(R, 2)))
        Q, R_t = _orthonormal_block(W, V[:, :hi], generator, scale)
        R = R_t.cpu().numpy()
        if hi + b <= T.shape[0]:
            T[hi : hi + b, lo:hi], T[lo:hi, hi : hi + b] = R, R.T
        if stop(T[:hi, :hi], R) or hi + b > min(max_matvecs, size):
            return V[:, :hi], T[:hi, :hi], R
    raise AssertionError("unreachable: the last block always returns")  # pragma: no cover


def _orthonormal_block(W: torch.Tensor, V: torch.Tensor, generator: torch.Generator,
                       scale: float) -> tuple[torch.Tensor, torch.Tensor]:
    """``W − V Vᵀ W = Q R`` with ``Q`` orthonormal and orthogonal to ``V`` (Gram–Schmidt twice)."""
    W = W - V @ (V.T @ W)
    W = W - V @ (V.T @ W)
    b = W.shape[1]
    Q = torch.zeros_like(W)
    R = torch.zeros(b, b, dtype=W.dtype, device=W.device)
    for i in range(b):
        w = W[:, i]
        for _ in range(2):
            c = Q[:, :i].T @ w
            w = w - Q[:, :i] @ c
            R[:i, i] += c
        norm = float(torch.linalg.vector_norm(w))
        if norm <= _BREAKDOWN * max(scale, 1e-300):
            # Dependent column: continue with a fresh direction, coupled by zero.
            w = torch.randn(W.shape[0], generator=generator, dtype=W.dtype).to(W.device)
            for _ in range(2):
                w = w - V @ (V.T @ w) - Q[:, :i] @ (Q[:, :i].T @ w)
            norm = float(torch.linalg.vector_norm(w))
        else:
            R[i, i] = norm
        Q[:, i] = w / norm
    return Q, R
