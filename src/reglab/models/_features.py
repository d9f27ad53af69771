"""Input feature maps: the TensorFlow Playground map and 1-D polynomial features."""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

__all__ = ["PlaygroundFeatures", "PolynomialFeatures", "PLAYGROUND_FEATURE_NAMES", "PLAYGROUND_FEATURE_KEYS"]

PLAYGROUND_FEATURE_NAMES = ("x1", "x2", "x1^2", "x2^2", "x1*x2", "sin(x1)", "sin(x2)")
PLAYGROUND_FEATURE_KEYS = ("x1", "x2", "x1sq", "x2sq", "x1x2", "sinx1", "sinx2")
"""The config names of the seven inputs (``[model] feature_names``), in the map's canonical order."""


class PlaygroundFeatures(nn.Module):
    """Maps (x1, x2) to (x1, x2, x1², x2², x1·x2, sin x1, sin x2), the Playground's seven inputs, or a subset.

    ``names`` (keys of :data:`PLAYGROUND_FEATURE_KEYS`; default all seven) chooses
    the columns; they come out in the canonical order whatever the order given, and
    ``out_features`` is their number.

    >>> PlaygroundFeatures(["sinx1", "x1x2"])(torch.tensor([[2.0, 3.0]]))
    tensor([[6.0000, 0.9093]])
    """

    out_features = len(PLAYGROUND_FEATURE_NAMES)

    def __init__(self, names: Sequence[str] | None = None) -> None:
        super().__init__()
        if names is not None:
            unknown = [n for n in names if n not in PLAYGROUND_FEATURE_KEYS]
            if unknown or not names or len(set(names)) != len(names):
                raise ValueError(f"names must be distinct, at least one, of {list(PLAYGROUND_FEATURE_KEYS)}; "
                                 f"got {list(names)}")
        self.names = tuple(k for k in PLAYGROUND_FEATURE_KEYS if names is None or k in names)
        self.out_features = len(self.names)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != 2:
            raise ValueError(f"the Playground feature map needs 2-D inputs, got {x.shape[-1]} features")
        x1, x2 = x[..., 0], x[..., 1]
        columns = {"x1": x1, "x2": x2, "x1sq": x1 * x1, "x2sq": x2 * x2, "x1x2": x1 * x2,
                   "sinx1": torch.sin(x1), "sinx2": torch.sin(x2)}
        return torch.stack([columns[name] for name in self.names], dim=-1)

    def extra_repr(self) -> str:
        return "" if len(self.names) == len(PLAYGROUND_FEATURE_KEYS) else f"names={list(self.names)}"


class PolynomialFeatures(nn.Module):
    """Maps a scalar input x to (x, x², …, x^degree)."""

    def __init__(self, degree: int) -> None:
        super().__init__()
        self.degree = degree
        self.out_features = degree

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != 1:
            raise ValueError(f"polynomial features need 1-D inputs, got {x.shape[-1]} features")
        powers = torch.arange(1, self.degree + 1, dtype=x.dtype, device=x.device)
        return x**powers
