"""Regression sets: a 1-D polynomial and least squares with a chosen Hessian spectrum.

``linear`` is built so the theory can be checked exactly: with the loss
C₀(w) = (1/2n)‖Xw − y‖² (``half_mse``, no bias), the Hessian is H = XᵀX/n, and the
training design is constructed so that H = Q·diag(spectrum)·Qᵀ holds exactly
(Q random orthogonal, or the identity with ``whiten = true``, i.e. a diagonal
Hessian as after PCA whitening).
"""

from __future__ import annotations

import numpy as np
import torch

from reglab.data._splits import Split, Splits
from reglab.errors import ConfigError

__all__ = ["make_polynomial", "make_linear"]


def _split(x: np.ndarray, y: np.ndarray) -> Split:
    return Split(torch.from_numpy(x.astype(np.float32)), torch.from_numpy(y.astype(np.float32).reshape(-1, 1)))


def make_polynomial(*, degree: int = 3, n: int = 20, n_test: int = 200, noise_std: float = 0.1, seed: int = 0) -> Splits:
    """y = Σₖ cₖ xᵏ + ε with x ~ U[−1, 1], cₖ ~ N(0, 1), ε ~ N(0, noise_std²)."""
    rng = np.random.default_rng(seed)
    coef = rng.normal(size=degree + 1)

    def draw(count: int) -> Split:
        x = rng.uniform(-1, 1, (count, 1))
        y = np.polynomial.polynomial.polyval(x[:, 0], coef) + rng.normal(0, noise_std, count)
        return _split(x, y)

    train, val, test = draw(n), draw(n_test), draw(n_test)
    return Splits(name="polynomial", task="regression", train=train, val=val, test=test,
                  info={"degree": degree, "coefficients": coef.tolist(), "noise_std": noise_std})


def _orthogonal(k: int, m: int, rng: np.random.Generator) -> np.ndarray:
    q, r = np.linalg.qr(rng.normal(size=(k, m)))
    return q * np.sign(np.diag(r))


def make_linear(
    *, dim: int = 10, n: int = 200, n_test: int = 200, spectrum: list[float] | None = None,
    whiten: bool = False, noise_std: float = 0.1, seed: int = 0,
) -> Splits:
    """Least squares whose training Hessian XᵀX/n has exactly the eigenvalues ``spectrum``.

    X_train = √n · U · diag(√s) · Qᵀ with U (n×d) orthonormal columns, so XᵀX/n = Q diag(s) Qᵀ.
    Targets y = X w_true + ε with w_true ~ N(0, I). Needs n ≥ dim.
    """
    if n < dim:
        raise ConfigError(f"data.n ({n}) must be at least data.dim ({dim}) for the linear set", field="data.n")
    rng = np.random.default_rng(seed)
    s = np.asarray(spectrum if spectrum is not None else np.logspace(-2, 1, dim), dtype=np.float64)
    q = np.eye(dim) if whiten else _orthogonal(dim, dim, rng)
    w_true = rng.normal(size=dim)
    x_train = np.sqrt(n) * _orthogonal(n, dim, rng) @ np.diag(np.sqrt(s)) @ q.T
    cov_root = np.diag(np.sqrt(s)) @ q.T  # test inputs from the same second moment

    def targets(x: np.ndarray) -> np.ndarray:
        return x @ w_true + rng.normal(0, noise_std, len(x))

    y_train = targets(x_train)
    x_val = rng.normal(size=(n_test, dim)) @ cov_root
    x_test = rng.normal(size=(n_test, dim)) @ cov_root
    return Splits(
        name="linear", task="regression",
        train=_split(x_train, y_train), val=_split(x_val, targets(x_val)), test=_split(x_test, targets(x_test)),
        info={"spectrum": s.tolist(), "eigenvectors": q.tolist(), "w_true": w_true.tolist(),
              "hessian": "H = X_trainᵀX_train/n for the half_mse loss without bias"},
    )
