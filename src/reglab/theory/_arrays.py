"""Input handling shared by the closed forms: array kinds, strengths, spectra.

Computation is in float64 torch tensors; results go back to the kind of the
main input (NumPy in → NumPy out, torch in → torch out on the same device).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

Array = np.ndarray | torch.Tensor


def _from_numpy(x: Any) -> torch.Tensor:
    arr = np.asarray(x)
    if not arr.flags.writeable:
        # torch warns when it wraps a read-only buffer (np.diag(H), broadcast views, memmaps);
        # the closed forms never write to their inputs, but a copy keeps the user's -W error runs clean
        arr = arr.copy()
    return torch.as_tensor(arr)


def tensor(x: Any, name: str, ndim: int | None = None) -> torch.Tensor:
    """``x`` as a float64 tensor, checked for dimension and finiteness."""
    t = x.detach() if isinstance(x, torch.Tensor) else _from_numpy(x)
    if not (t.is_floating_point() or t.dtype in (torch.int32, torch.int64, torch.bool)):
        raise ValueError(f"{name} must be real numbers, got dtype {t.dtype}")
    t = t.to(torch.float64)
    if ndim is not None and t.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {tuple(t.shape)}")
    if not bool(torch.isfinite(t).all()):
        raise ValueError(f"{name} must be finite")
    return t


def like(result: torch.Tensor, template: Any) -> Array:
    """Return ``result`` as the kind of ``template`` (NumPy unless it is a tensor)."""
    if isinstance(template, torch.Tensor):
        return result.to(template.device)
    return result.cpu().numpy()


def strengths(alpha: Any, name: str = "alpha") -> tuple[torch.Tensor, bool]:
    """``alpha`` as a 1-D float64 tensor of values ``≥ 0``, and whether it was a scalar."""
    a = tensor(alpha, name)
    if a.ndim > 1:
        raise ValueError(f"{name} must be a number or a 1-D sequence, got shape {tuple(a.shape)}")
    if bool((a < 0).any()):
        raise ValueError(f"{name} must be >= 0, got {alpha!r}")
    return a.reshape(-1), a.ndim == 0


def scalar_or(result: torch.Tensor, scalar: bool, template: Any) -> Array | float:
    """Drop the leading strength axis for a scalar strength; a 0-D result becomes a float."""
    if scalar:
        result = result[0]
    if result.ndim == 0:
        return float(result)
    return like(result, template)


def positive(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise ValueError(f"{name} must be a number, got {value!r}")
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)


def spectrum(h_or_eigen: Any, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Eigenvalues ``(r,)`` and orthonormal eigenvectors ``(P, r)`` from any accepted form.

    Accepts a dense symmetric ``P × P`` matrix, an ``(eigenvalues, eigenvectors)``
    pair, or an object with ``eigenvalues`` and ``eigenvectors`` attributes (such
    as :class:`reglab.curvature.EigenResult`). A pair may hold ``r < P`` columns.
    """
    if hasattr(h_or_eigen, "eigenvalues") and hasattr(h_or_eigen, "eigenvectors"):
        h_or_eigen = (h_or_eigen.eigenvalues, h_or_eigen.eigenvectors)
    if isinstance(h_or_eigen, (tuple, list)):
        if len(h_or_eigen) != 2:
            raise ValueError("H_or_eigen as a sequence must be an (eigenvalues, eigenvectors) pair")
        values = tensor(h_or_eigen[0], "eigenvalues", ndim=1)
        vectors = tensor(h_or_eigen[1], "eigenvectors", ndim=2)
        if vectors.shape != (size, values.shape[0]):
            raise ValueError(f"eigenvectors must have shape ({size}, {values.shape[0]}), got {tuple(vectors.shape)}")
        return values, vectors
    H = tensor(h_or_eigen, "H", ndim=2)
    if H.shape != (size, size):
        raise ValueError(f"H must have shape ({size}, {size}) to match w_star, got {tuple(H.shape)}")
    scale = float(H.abs().max()) if H.numel() else 0.0
    if float((H - H.T).abs().max()) > 1e-10 * max(scale, 1e-300):
        raise ValueError("H must be symmetric")
    return torch.linalg.eigh((H + H.T) / 2)


def ratio(values: torch.Tensor, alphas: torch.Tensor) -> torch.Tensor:
    """``λᵢ/(λᵢ+α)`` for each strength (rows), with the α→0⁺ limit 0 where ``λᵢ = α = 0``."""
    lam, a = values[None, :], alphas[:, None]
    denominator = lam + a
    if bool(((denominator == 0) & (lam != 0)).any()):
        raise ValueError("H + alpha*I is singular: an eigenvalue equals -alpha")
    safe = torch.where(denominator == 0, torch.ones_like(denominator), denominator)
    return torch.where(denominator == 0, torch.zeros_like(denominator), lam / safe)
