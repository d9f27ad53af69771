"""The common return type of every data set: train / validation / test tensors."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch

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

    @property
    def input_dim(self) -> int:
        return int(np.prod(self.train.x.shape[1:]))

    @property
    def output_dim(self) -> int:
        return self.n_classes if self.task == "classification" else int(self.train.y.shape[1])

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.train), "val": len(self.val), "test": len(self.test)}


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
