"""Input feature maps: the TensorFlow Playground map and 1-D polynomial features."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["PlaygroundFeatures", "PolynomialFeatures", "PLAYGROUND_FEATURE_NAMES"]

PLAYGROUND_FEATURE_NAMES = ("x1", "x2", "x1^2", "x2^2", "x1*x2", "sin(x1)", "sin(x2)")


class PlaygroundFeatures(nn.Module):
    """Maps (x1, x2) to (x1, x2, x1², x2², x1·x2, sin x1, sin x2), the Playground's seven inputs."""

    out_features = len(PLAYGROUND_FEATURE_NAMES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != 2:
            raise ValueError(f"the Playground feature map needs 2-D inputs, got {x.shape[-1]} features")
        x1, x2 = x[..., 0], x[..., 1]
        return torch.stack([x1, x2, x1 * x1, x2 * x2, x1 * x2, torch.sin(x1), torch.sin(x2)], dim=-1)


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
