"""The common return type of every data set: train / validation / test tensors."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch

from reglab.errors import DataError

__all__ = ["Split", "Splits", "stratified_split"]

Task = Literal["classification", "regression"]


@dataclass(frozen=True)
class Split:
    """One part of a data set: inputs ``x`` (N, …) float32 and targets ``y``.

    Classification targets are int64 class indices; regression targets float32 of shape (N, 1).
    """

    x: torch.Tensor
    y: torch.Tensor

    def __len__(self) -> int:
        return int(self.x.shape[0])


@dataclass(frozen=True)
class Splits:
    """A data set split into ``train``, ``val`` and ``test`` with its metadata."""

    name: str
    task: Task
    train: Split
    val: Split
    test: Split
    n_classes: int = 0
    image_shape: tuple[int, ...] | None = None
    info: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        for part in ("train", "val", "test"):
            _check_finite(self.name, part, getattr(self, part))

    @property
    def input_dim(self) -> int:
        return int(np.prod(self.train.x.shape[1:]))

    @property
    def example_shape(self) -> tuple[int, ...]:
        """The shape of one example as a model sees it: (C, H, W) for images, else (features,)."""
        return tuple(self.image_shape) if self.image_shape else (self.input_dim,)

    @property
    def output_dim(self) -> int:
        return self.n_classes if self.task == "classification" else int(self.train.y.shape[1])

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.train), "val": len(self.val), "test": len(self.test)}


def _check_finite(name: str, part: str, split: Split) -> None:
    """NaN or Inf in the data would surface much later as a bogus "divergence": refuse it here."""
    for what, t in (("inputs", split.x), ("targets", split.y)):
        if t.is_floating_point() and t.numel() and not bool(torch.isfinite(t).all()):
            rows = torch.nonzero(~torch.isfinite(t.reshape(len(t), -1)).all(dim=1)).flatten()
            raise DataError(f"data set {name!r}: the {part} split's {what} hold NaN or Inf values in {len(rows)} "
                            f"examples (the first is example {int(rows[0])}); data must be finite")


def stratified_split(
    labels: np.ndarray, fractions: tuple[float, float, float], seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Seeded, class-stratified index split into (train, val, test) with the given fractions."""
    rng = np.random.default_rng(seed)
    parts: list[list[np.ndarray]] = [[], [], []]
    for cls in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == cls))
        n_val = int(round(fractions[1] * len(idx)))
        n_test = int(round(fractions[2] * len(idx)))
        parts[1].append(idx[:n_val])
        parts[2].append(idx[n_val : n_val + n_test])
        parts[0].append(idx[n_val + n_test :])
    return tuple(rng.permutation(np.concatenate(p)) for p in parts)  # type: ignore[return-value]
