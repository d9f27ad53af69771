"""The operator interface: a symmetric P×P matrix known only through its products.

Every curvature routine (``eigen``, ``trace``, ``diagonal``, ``spectral_density``,
``power_iteration``) needs nothing but ``matvec``/``matmat``, so it runs on a
Hessian of a network (hundreds of thousands of parameters, never stored) and on
a small dense matrix alike. A dense tensor is wrapped in :class:`DenseOperator`.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.sparse.linalg import LinearOperator

__all__ = ["CurvatureOperator", "DenseOperator", "as_operator", "to_dense"]

# Columns per block when an algorithm multiplies many vectors at once; it bounds
# the memory of vmapped products (one copy of the backward graph per column).
BLOCK_SIZE = 64


class CurvatureOperator:
    """A symmetric linear operator ``v ↦ A v`` on flat vectors of length ``P``.

    Subclasses implement ``_matvec`` (and ``_matmat`` where blocks are cheaper
    than a loop). ``num_matvecs`` counts every product, a ``matmat`` with ``k``
    columns counting ``k``; algorithms report the difference.
    """

    def __init__(self, size: int, dtype: torch.dtype, device: torch.device) -> None:
        self._size = int(size)
        self._dtype = dtype
        self._device = torch.device(device)
        self.num_matvecs = 0

    @property
    def shape(self) -> tuple[int, int]:
        return (self._size, self._size)

    @property
    def dtype(self) -> torch.dtype:
        return self._dtype

    @property
    def device(self) -> torch.device:
        return self._device

    def matvec(self, v: torch.Tensor) -> torch.Tensor:
        """Return ``A v`` for a 1-D tensor of length ``P`` (cast to the operator's dtype/device)."""
        v = torch.as_tensor(v)
        if v.shape != (self._size,):
            raise ValueError(f"v must have shape ({self._size},), got {tuple(v.shape)}")
        self.num_matvecs += 1
        return self._matvec(v.to(device=self._device, dtype=self._dtype))

    def matmat(self, V: torch.Tensor) -> torch.Tensor:
        """Return ``A V`` for a ``P × k`` tensor; counts ``k`` products."""
        V = torch.as_tensor(V)
        if V.ndim != 2 or V.shape[0] != self._size:
            raise ValueError(f"V must have shape ({self._size}, k), got {tuple(V.shape)}")
        self.num_matvecs += V.shape[1]
        return self._matmat(V.to(device=self._device, dtype=self._dtype))

    def __matmul__(self, x: torch.Tensor) -> torch.Tensor:
        return self.matvec(x) if torch.as_tensor(x).ndim == 1 else self.matmat(x)

    def to_scipy(self) -> LinearOperator:
        """Export as a ``scipy.sparse.linalg.LinearOperator`` (float64 NumPy in and out)."""

        def mv(x: np.ndarray) -> np.ndarray:
            y = self.matvec(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float64).reshape(-1)))
            return y.detach().to("cpu", torch.float64).numpy()

        def mm(X: np.ndarray) -> np.ndarray:
            Y = self.matmat(torch.from_numpy(np.ascontiguousarray(X, dtype=np.float64)))
            return Y.detach().to("cpu", torch.float64).numpy()

        return LinearOperator(self.shape, matvec=mv, rmatvec=mv, matmat=mm, rmatmat=mm, dtype=np.float64)

    def _matvec(self, v: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _matmat(self, V: torch.Tensor) -> torch.Tensor:
        return torch.stack([self._matvec(V[:, j]) for j in range(V.shape[1])], dim=1)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(shape={self.shape}, dtype={self._dtype})"


class DenseOperator(CurvatureOperator):
    """A dense symmetric matrix seen as an operator (for tests and small problems)."""

    def __init__(self, matrix: torch.Tensor) -> None:
        matrix = torch.as_tensor(matrix)
        if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
            raise ValueError(f"matrix must be square, got shape {tuple(matrix.shape)}")
        if not matrix.is_floating_point():
            raise ValueError(f"matrix must have a floating dtype, got {matrix.dtype}")
        super().__init__(matrix.shape[0], matrix.dtype, matrix.device)
        self.matrix = matrix

    def _matvec(self, v: torch.Tensor) -> torch.Tensor:
        return self.matrix @ v

    def _matmat(self, V: torch.Tensor) -> torch.Tensor:
        return self.matrix @ V


def as_operator(a: CurvatureOperator | torch.Tensor | np.ndarray) -> CurvatureOperator:
    """Return ``a`` if it is an operator, else wrap a dense matrix in :class:`DenseOperator`."""
    if isinstance(a, CurvatureOperator):
        return a
    if isinstance(a, np.ndarray):
        a = torch.from_numpy(a)
    if isinstance(a, torch.Tensor):
        return DenseOperator(a)
    raise TypeError(f"expected a CurvatureOperator or a square tensor, got {type(a).__name__}")


def matmat_blocked(op: CurvatureOperator, V: torch.Tensor, block_size: int = BLOCK_SIZE) -> torch.Tensor:
    """``op.matmat(V)`` in blocks of at most ``block_size`` columns."""
    if V.shape[1] <= block_size:
        return op.matmat(V)
    return torch.cat([op.matmat(V[:, j : j + block_size]) for j in range(0, V.shape[1], block_size)], dim=1)


def to_dense(op: CurvatureOperator | torch.Tensor, block_size: int = BLOCK_SIZE) -> torch.Tensor:
    """The dense matrix of ``op`` (``P`` products with unit vectors), or ``op`` itself if dense."""
    if isinstance(op, DenseOperator):
        return op.matrix
    op = as_operator(op)
    if isinstance(op, DenseOperator):
        return op.matrix
    eye = torch.eye(op.shape[0], dtype=op.dtype, device=op.device)
    return matmat_blocked(op, eye, block_size)
