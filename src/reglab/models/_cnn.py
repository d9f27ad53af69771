"""A LeNet-style convolutional network: conv–pool blocks, then dense layers (Nielsen ch. 6)."""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn

from reglab.errors import ConfigError
from reglab.models._init import initialized, restoring_global_rng

__all__ = ["cnn", "cnn_geometry", "ToImages"]


def cnn_geometry(input_shape: Sequence[int], channels: Sequence[int], kernel_size: int, pool: int) -> list[int]:
    """The image height and width after each conv–pool block, ``[h₁, w₁, h₂, w₂, …]``.

    A block is a "valid" convolution (no padding, stride 1: side − k + 1) followed
    by non-overlapping max-pooling (⌊side / pool⌋). Raises :class:`ConfigError`
    naming ``model.channels`` when the image shrinks to nothing.

    >>> cnn_geometry((1, 28, 28), [20, 40], 5, 2)  # Nielsen's ch. 6 net: 28 → 24 → 12 → 8 → 4
    [12, 12, 4, 4]
    """
    _, h, w = input_shape
    sides: list[int] = []
    for i, _ in enumerate(channels):
        h, w = (h - kernel_size + 1) // pool, (w - kernel_size + 1) // pool
        if h < 1 or w < 1:
            raise ConfigError(
                f"model.channels: block {i + 1} of {len(channels)} leaves no image "
                f"(input {tuple(input_shape)}, kernel_size {kernel_size}, pool {pool}); "
                "use fewer blocks, a smaller model.kernel_size or model.pool", field="model.channels")
        sides += [h, w]
    return sides


def cnn(
    input_shape: Sequence[int], n_out: int, *, channels: Sequence[int] = (20,), kernel_size: int = 5, pool: int = 2,
    hidden: Sequence[int] = (100,), activation: str = "relu", init: str = "default",
    generator: torch.Generator | None = None,
) -> nn.Sequential:
    """Conv → activation → max-pool blocks, then dense layers; the last layer gives logits.

    ``input_shape`` is one example's (channels, height, width). Block i is
    ``Conv2d(c_{i−1}, channels[i], kernel_size)`` (no padding), the activation and
    ``MaxPool2d(pool)``; then the feature maps are flattened and passed through
    ``Linear`` layers of sizes ``hidden`` (each followed by the activation) and a
    last ``Linear`` to ``n_out`` outputs. Nielsen's ``ConvPoolLayer`` pools before
    the activation; for the increasing activations offered here the two orders give
    the same function. Inputs may come flat, (N, C·H·W): they are reshaped.
    Weights are drawn from ``generator`` with the scheme ``init`` (see
    :func:`reglab.models.initialize`); without a generator, torch's own default.

    >>> net = cnn((1, 8, 8), 10, channels=[4], kernel_size=3, hidden=[16])
    >>> net(torch.zeros(5, 1, 8, 8)).shape
    torch.Size([5, 10])
    """
    from reglab.models._build import ACTIVATIONS

    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
    if len(input_shape) != 3:
        raise ValueError(f"input_shape must be (channels, height, width), got {tuple(input_shape)}")
    sides = cnn_geometry(input_shape, channels, kernel_size, pool)
    layers: list[nn.Module] = [ToImages(input_shape)]
    c_in = input_shape[0]
    with restoring_global_rng(generator):
        for c_out in channels:
            layers += [nn.Conv2d(c_in, c_out, kernel_size), ACTIVATIONS[activation](), nn.MaxPool2d(pool)]
            c_in = c_out
        layers.append(nn.Flatten())
        width = c_in * sides[-2] * sides[-1] if channels else math.prod(input_shape)
        for size in hidden:
            layers += [nn.Linear(width, size), ACTIVATIONS[activation]()]
            width = size
        layers.append(nn.Linear(width, n_out))
    return initialized(nn.Sequential(*layers), init, generator)


class ToImages(nn.Module):
    """Reshapes a batch, flat (N, C·H·W) or already (N, C, H, W), to images of ``shape`` = (C, H, W)."""

    def __init__(self, shape: Sequence[int]) -> None:
        super().__init__()
        self.shape = tuple(int(s) for s in shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], *self.shape)

    def extra_repr(self) -> str:
        return f"shape={self.shape}"
