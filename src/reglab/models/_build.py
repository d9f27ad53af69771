"""Model builders: MLP, linear regression and logistic regression."""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from reglab.config import ModelConfig
from reglab.models._features import PlaygroundFeatures, PolynomialFeatures

__all__ = ["mlp", "linear_model", "build_model", "ACTIVATIONS"]

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
    "linear": nn.Identity,
}


def _feature_layer(features: str, poly_degree: int) -> tuple[list[nn.Module], int | None]:
    if features == "playground":
        return [PlaygroundFeatures()], PlaygroundFeatures.out_features
    if features == "poly":
        return [PolynomialFeatures(poly_degree)], poly_degree
    return [], None


def mlp(
    sizes: Sequence[int], activation: str = "relu", *, bias: bool = True, features: str = "raw",
    poly_degree: int = 1, generator: torch.Generator | None = None,
) -> nn.Sequential:
    """A multilayer perceptron with layer sizes ``sizes`` = [inputs, hidden…, outputs].

    Inputs are flattened first, so images work as they are. The last layer has no
    activation (logits or regression outputs). Weights use PyTorch's default
    (Kaiming-uniform) initialisation drawn from ``generator`` when given.

    >>> net = mlp([64, 32, 10], "tanh")
    >>> net(torch.zeros(5, 1, 8, 8)).shape
    torch.Size([5, 10])
    """
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
    if len(sizes) < 2:
        raise ValueError("sizes needs at least the input and output sizes")
    layers: list[nn.Module] = [nn.Flatten()]
    extra, width = _feature_layer(features, poly_degree)
    layers += extra
    sizes = [width or sizes[0], *sizes[1:]]
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(n_in, n_out, bias=bias))
        if i < len(sizes) - 2:
            layers.append(ACTIVATIONS[activation]())
    net = nn.Sequential(*layers)
    if generator is not None:
        _reinit(net, generator)
    return net


def _reinit(net: nn.Module, generator: torch.Generator) -> None:
    """Re-draw PyTorch's default Linear init, U(−1/√fan_in, 1/√fan_in), from an explicit generator."""
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, nn.Linear):
                bound = 1.0 / module.in_features**0.5
                module.weight.uniform_(-bound, bound, generator=generator)
                if module.bias is not None:
                    module.bias.uniform_(-bound, bound, generator=generator)


def linear_model(n_in: int, n_out: int, *, bias: bool = True, features: str = "raw", poly_degree: int = 1,
                 generator: torch.Generator | None = None) -> nn.Sequential:
    """Linear (or, with cross-entropy, multinomial logistic) regression: one Linear layer."""
    return mlp([n_in, n_out], "linear", bias=bias, features=features, poly_degree=poly_degree, generator=generator)


def build_model(cfg: ModelConfig, n_in: int, n_out: int, *, seed: int = 0) -> nn.Sequential:
    """Build the model a :class:`ModelConfig` describes, initialised from ``cfg.init_seed`` or ``seed``."""
    gen = torch.Generator().manual_seed(cfg.init_seed if cfg.init_seed is not None else seed)
    if cfg.kind == "mlp":
        return mlp([n_in, *cfg.hidden, n_out], cfg.activation, bias=cfg.bias, features=cfg.features,
                   poly_degree=cfg.poly_degree, generator=gen)
    return linear_model(n_in, n_out, bias=cfg.bias, features=cfg.features, poly_degree=cfg.poly_degree,
                        generator=gen)
