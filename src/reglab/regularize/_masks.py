"""Which parameters a regularizer touches: explicit, inspectable masks.

The default, ``"weights"``, selects the ``weight`` of every Linear, Conv and
Bilinear layer: biases and normalisation parameters are not penalised (Goodfellow
et al. §7.1; the lecture notes: "in general, we do not penalize the bias").
"""

from __future__ import annotations

import fnmatch
from typing import Sequence, Union

from torch import nn

from reglab.errors import ConfigError

__all__ = ["MaskSpec", "select_parameters", "WEIGHT_MODULES"]

MaskSpec = Union[str, Sequence[str]]

WEIGHT_MODULES: tuple[type[nn.Module], ...] = (
    nn.Linear, nn.Bilinear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d,
)


def select_parameters(model: nn.Module, mask: MaskSpec = "weights") -> list[tuple[str, nn.Parameter]]:
    """Return ``(name, parameter)`` pairs chosen by ``mask``, in ``named_parameters`` order.

    ``mask`` is ``"weights"`` (weights of Linear/Conv layers), ``"biases"`` (their
    biases), ``"all"``, or a list of parameter names or glob patterns such as
    ``["2.weight", "*.bias"]``. A pattern that matches nothing is an error.

    >>> net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    >>> [n for n, _ in select_parameters(net)]
    ['0.weight', '2.weight']
    """
    named = list(model.named_parameters())
    if isinstance(mask, str):
        if mask == "all":
            return named
        if mask in ("weights", "biases"):
            attr = "weight" if mask == "weights" else "bias"
            chosen = {
                id(getattr(m, attr)) for m in model.modules()
                if isinstance(m, WEIGHT_MODULES) and getattr(m, attr, None) is not None
            }
            return [(n, p) for n, p in named if id(p) in chosen]
        raise ConfigError(f"mask must be 'weights', 'biases', 'all' or a list of names/patterns, got {mask!r}")
    patterns = list(mask)
    for pattern in patterns:
        if not any(fnmatch.fnmatchcase(n, pattern) for n, _ in named):
            raise ConfigError(f"mask pattern {pattern!r} matches no parameter; names are: {[n for n, _ in named]}")
    return [(n, p) for n, p in named if any(fnmatch.fnmatchcase(n, pat) for pat in patterns)]
