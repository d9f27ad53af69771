"""Weight initialisation schemes, drawn from an explicit ``torch.Generator``.

The choice matters for what regularization does (issue 11; the notes' Nielsen
figures): with N(0, 1) weights a 784-30-10 sigmoid network starts with saturated
hidden units and huge weights, and L2 then helps a lot; with a scaled
initialisation it starts near where L2 would push it anyway.

Every scheme acts on the layers that carry weights (Linear and Conv); other
parameters (normalisation layers' scale and shift) keep the values their module
gave them. Layers are visited in ``model.modules()`` order, weight before bias,
so the same generator state gives the same numbers. With fan_in = the inputs of
one output unit (``in_features``, or ``in_channels·k₁·k₂`` for a convolution)
and fan_out its counterpart:

==========  ==============================================  ==================
``init``    weights                                         biases
==========  ==============================================  ==================
default     U(−1/√fan_in, 1/√fan_in), torch's own default   same as weights
normal      N(0, 1) (Nielsen's first networks, network.py)  N(0, 1)
nielsen     N(0, 1/fan_in) (Nielsen ch. 3, network2.py)     N(0, 1)
xavier      U(−a, a), a = √(6/(fan_in + fan_out))           0
kaiming     N(0, 2/fan_in) (He et al. 2015, for ReLU)       0
==========  ==============================================  ==================

The lecture notes (seed 003) state no initialisation; ``normal`` and ``nielsen``
follow Nielsen's book, whose networks draw biases from N(0, 1) in both cases.
``xavier`` is Glorot & Bengio's (2010) "normalized initialization", eq. (16).
"""

from __future__ import annotations

import contextlib
import math
from typing import Iterator

import torch
from torch import nn

__all__ = ["INITS", "initialize", "initialized", "fans", "restoring_global_rng"]

INITS = ("default", "normal", "nielsen", "xavier", "kaiming")

_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)


def fans(weight: torch.Tensor) -> tuple[int, int]:
    """(fan_in, fan_out) of a Linear weight (out, in) or a Conv weight (out, in, k…)."""
    receptive = math.prod(weight.shape[2:])
    return weight.shape[1] * receptive, weight.shape[0] * receptive


def _draw(weight: torch.Tensor, bias: torch.Tensor | None, scheme: str, gen: torch.Generator) -> None:
    fan_in, fan_out = fans(weight)
    if scheme == "default":
        bound = 1.0 / fan_in**0.5
        weight.uniform_(-bound, bound, generator=gen)
        if bias is not None:
            bias.uniform_(-bound, bound, generator=gen)
        return
    if scheme == "xavier":
        bound = (6.0 / (fan_in + fan_out)) ** 0.5
        weight.uniform_(-bound, bound, generator=gen)
    else:
        std = {"normal": 1.0, "nielsen": 1.0 / fan_in**0.5, "kaiming": (2.0 / fan_in) ** 0.5}[scheme]
        weight.normal_(0.0, std, generator=gen)
    if bias is not None:
        if scheme in ("normal", "nielsen"):
            bias.normal_(0.0, 1.0, generator=gen)
        else:
            bias.zero_()


def initialize(model: nn.Module, scheme: str, generator: torch.Generator) -> nn.Module:
    """Re-draw the weights and biases of every Linear and Conv layer of ``model`` in place.

    ``scheme`` is one of :data:`INITS` (see the module docstring for the
    distributions); every draw comes from ``generator``. Returns ``model``.

    >>> net = nn.Sequential(nn.Linear(400, 3))
    >>> _ = initialize(net, "nielsen", torch.Generator().manual_seed(0))
    >>> round(net[0].weight.std().item() * 20, 1)  # std 1/√400 = 1/20
    1.0
    """
    if scheme not in INITS:
        raise ValueError(f"init must be one of {list(INITS)}, got {scheme!r}")
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, _LAYERS):
                _draw(module.weight, module.bias, scheme, generator)
    return model


def initialized(net: nn.Module, init: str, generator: torch.Generator | None) -> nn.Module:
    """``net`` drawn with ``init`` from ``generator``; without a generator only torch's default is allowed."""
    if generator is not None:
        return initialize(net, init, generator)
    if init != "default":
        raise ValueError(f"init={init!r} needs a generator (randomness is explicit)")
    return net


@contextlib.contextmanager
def restoring_global_rng(generator: torch.Generator | None) -> Iterator[None]:
    """Build layers inside this when their values will come from ``generator``.

    torch's layer constructors draw their default init from the global generator;
    the values are re-drawn from ``generator`` anyway, so the global state is saved
    and restored around construction and building a model leaves it untouched.
    Without a generator the constructors' own draw is the init, and nothing is restored.
    """
    if generator is None:
        yield
        return
    with torch.random.fork_rng(devices=[]):
        yield
