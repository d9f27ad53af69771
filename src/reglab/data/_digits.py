"""scikit-learn's 8×8 digits (1,797 images, 10 classes), the embedded default data set."""

from __future__ import annotations

import numpy as np
import torch

from reglab.data._splits import Split, Splits, stratified_split

__all__ = ["load_digits"]


def load_digits(
    *, seed: int = 0, val_fraction: float = 0.2, test_fraction: float = 0.2, n_train: int | None = None
) -> Splits:
    """Digits as images of shape (1, 8, 8) scaled to [0, 1], split class-stratified with ``seed``.

    Source: UCI optical recognition of handwritten digits, as shipped by scikit-learn.
    """
    from sklearn.datasets import load_digits as _sk_digits

    bunch = _sk_digits()
    x = torch.from_numpy((bunch.images / 16.0).astype(np.float32)).unsqueeze(1)
    y = torch.from_numpy(bunch.target.astype(np.int64))
    tr, va, te = stratified_split(bunch.target, (1 - val_fraction - test_fraction, val_fraction, test_fraction), seed)
    tr = tr[:n_train]
    return Splits(
        name="digits",
        task="classification",
        train=Split(x[tr], y[tr]),
        val=Split(x[va], y[va]),
        test=Split(x[te], y[te]),
        n_classes=10,
        image_shape=(1, 8, 8),
        info={"source": "scikit-learn load_digits (UCI)"},
    )
