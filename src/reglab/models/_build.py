"""Model builders: MLP, linear and logistic regression, and :func:`build_model`, the one place runs build models."""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn

from reglab.config import ModelConfig
from reglab.errors import ConfigError
from reglab.models._features import PlaygroundFeatures, PolynomialFeatures
from reglab.models._init import initialize, initialized, restoring_global_rng

__all__ = ["mlp", "linear_model", "build_model", "ACTIVATIONS"]

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
    "linear": nn.Identity,
}


def _feature_layer(features: str, poly_degree: int,
                   feature_names: Sequence[str] | None) -> tuple[list[nn.Module], int | None]:
    if feature_names is not None and features != "playground":
        raise ValueError(f"feature_names is for features='playground', not {features!r}")
    if features == "playground":
        layer = PlaygroundFeatures(feature_names)
        return [layer], layer.out_features
    if features == "poly":
        return [PolynomialFeatures(poly_degree)], poly_degree
    return [], None


def mlp(
    sizes: Sequence[int], activation: str = "relu", *, bias: bool = True, features: str = "raw",
    poly_degree: int = 1, generator: torch.Generator | None = None, init: str = "default",
    feature_names: Sequence[str] | None = None,
) -> nn.Sequential:
    """A multilayer perceptron with layer sizes ``sizes`` = [inputs, hidden…, outputs].

    Inputs are flattened first, so images work as they are. ``features="playground"``
    maps (x1, x2) to the Playground's inputs, all seven or the ``feature_names``
    chosen (see :class:`reglab.models.PlaygroundFeatures`). The last layer has no
    activation (logits or regression outputs). Weights and biases are drawn from
    ``generator`` when given, with the scheme ``init`` (see
    :func:`reglab.models.initialize`; ``"default"`` is PyTorch's own
    U(−1/√fan_in, 1/√fan_in)); without a generator they keep torch's default draw
    from its global generator, and any other ``init`` is an error.

    >>> net = mlp([64, 32, 10], "tanh")
    >>> net(torch.zeros(5, 1, 8, 8)).shape
    torch.Size([5, 10])
    """
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
    if len(sizes) < 2:
        raise ValueError("sizes needs at least the input and output sizes")
    layers: list[nn.Module] = [nn.Flatten()]
    extra, width = _feature_layer(features, poly_degree, feature_names)
    layers += extra
    sizes = [width or sizes[0], *sizes[1:]]
    with restoring_global_rng(generator):
        for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            layers.append(nn.Linear(n_in, n_out, bias=bias))
            if i < len(sizes) - 2:
                layers.append(ACTIVATIONS[activation]())
    return initialized(nn.Sequential(*layers), init, generator)


def linear_model(n_in: int, n_out: int, *, bias: bool = True, features: str = "raw", poly_degree: int = 1,
                 generator: torch.Generator | None = None, init: str = "default",
                 feature_names: Sequence[str] | None = None) -> nn.Sequential:
    """Linear (or, with cross-entropy, multinomial logistic) regression: one Linear layer."""
    return mlp([n_in, n_out], "linear", bias=bias, features=features, poly_degree=poly_degree, generator=generator,
               init=init, feature_names=feature_names)


def build_model(cfg: ModelConfig, n_in: int | Sequence[int], n_out: int, *, seed: int = 0) -> nn.Module:
    """Build the model a :class:`ModelConfig` describes, initialised from ``cfg.init_seed`` or ``seed``.

    ``n_in`` is the number of input features, or the shape of one example —
    (C, H, W) for images, which ``kind = "cnn"`` needs. Given a number, a CNN takes
    it for a square one-channel image (64 → 1×8×8, 784 → 1×28×28) and raises a
    :class:`ConfigError` when it is not one. ``kind = "python"`` calls the factory
    as ``factory(number of input features, n_out)`` (see
    :func:`reglab.models.python_model`). Every draw comes from one generator seeded
    with the init seed, with the scheme ``cfg.init``.

    >>> from reglab.config import ModelConfig
    >>> net = build_model(ModelConfig(kind="cnn", channels=[4], kernel_size=3, hidden=[8]), 64, 10)
    >>> [type(m).__name__ for m in net][:4]
    ['ToImages', 'Conv2d', 'ReLU', 'MaxPool2d']
    """
    seed = cfg.init_seed if cfg.init_seed is not None else seed
    gen = torch.Generator().manual_seed(seed)
    shape = (int(n_in),) if isinstance(n_in, int) else tuple(int(s) for s in n_in)
    n_features = math.prod(shape)
    if cfg.kind == "cnn":
        from reglab.models._cnn import cnn

        return cnn(_image_shape(shape), n_out, channels=cfg.channels or [20], kernel_size=cfg.kernel_size or 5,
                   pool=cfg.pool or 2, hidden=cfg.hidden, activation=cfg.activation, init=cfg.init, generator=gen)
    if cfg.kind == "python":
        from reglab.models._python import python_model

        model = python_model(cfg.factory or "", n_features, n_out, seed=seed)
        return model if cfg.init == "default" else initialize(model, cfg.init, gen)
    if cfg.kind == "mlp":
        return mlp([n_features, *cfg.hidden, n_out], cfg.activation, bias=cfg.bias, features=cfg.features,
                   poly_degree=cfg.poly_degree, generator=gen, init=cfg.init, feature_names=cfg.feature_names)
    return linear_model(n_features, n_out, bias=cfg.bias, features=cfg.features, poly_degree=cfg.poly_degree,
                        generator=gen, init=cfg.init, feature_names=cfg.feature_names)


def _image_shape(shape: tuple[int, ...]) -> tuple[int, int, int]:
    """(C, H, W) of one example for a CNN; a flat size must be a square one-channel image."""
    if len(shape) == 3:
        return shape  # type: ignore[return-value]
    side = math.isqrt(shape[0]) if len(shape) == 1 else 0
    if len(shape) == 1 and side >= 2 and side * side == shape[0]:
        return (1, side, side)
    raise ConfigError(f"model.kind = 'cnn' needs an image data set (digits, mnist, mnist-full); "
                      f"these inputs have shape {shape}", field="model.kind")
