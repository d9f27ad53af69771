"""Activations σ with their derivatives σ', and the two costs of Nielsen ch. 2-3.

Arrays are in the notes' column layout: one column per example, shape
(units, batch). A cost returns the MEAN over the batch of the per-example cost
C_x, and ``output_error`` returns δᴸ = ∂C_x/∂zᴸ for every column (BP1).
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np
from scipy.special import expit

Array = np.ndarray
ArrayFn = Callable[[Array], Array]


class Activation(NamedTuple):
    """An activation σ and its derivative σ', both elementwise on arrays."""

    name: str
    f: ArrayFn
    prime: ArrayFn


def _sigmoid_prime(z: Array) -> Array:
    s = expit(z)
    return s * (1.0 - s)


def _tanh_prime(z: Array) -> Array:
    return 1.0 - np.tanh(z) ** 2


def _relu(z: Array) -> Array:
    return np.maximum(z, 0.0)


def _relu_prime(z: Array) -> Array:
    # σ'(0) = 0, as in torch; z = 0 has probability zero for continuous data
    return (z > 0.0).astype(z.dtype)


def _identity(z: Array) -> Array:
    return z


def _ones(z: Array) -> Array:
    return np.ones_like(z)


ACTIVATIONS: dict[str, Activation] = {
    "sigmoid": Activation("sigmoid", expit, _sigmoid_prime),
    "tanh": Activation("tanh", np.tanh, _tanh_prime),
    "relu": Activation("relu", _relu, _relu_prime),
    "linear": Activation("linear", _identity, _ones),
}

COSTS = ("quadratic", "cross_entropy")


def resolve_activation(spec: str | tuple[ArrayFn, ArrayFn]) -> Activation:
    """A named activation, or a custom ``(f, f')`` pair (named "custom")."""
    if isinstance(spec, str):
        if spec not in ACTIVATIONS:
            allowed = sorted(ACTIVATIONS)
            raise ValueError(f"unknown activation {spec!r}; choose one of {allowed} or an (f, f') pair")
        return ACTIVATIONS[spec]
    if isinstance(spec, tuple) and len(spec) == 2 and all(callable(g) for g in spec):
        return Activation("custom", spec[0], spec[1])
    raise ValueError(f"activation must be a name or an (f, f') pair of callables, got {spec!r}")


def cost_value(cost: str, a: Array, y: Array) -> float:
    """Mean over the batch (columns) of C_x.

    quadratic: C_x = ½‖y − aᴸ‖²;
    cross_entropy: C_x = −Σⱼ[yⱼ ln aⱼᴸ + (1 − yⱼ) ln(1 − aⱼᴸ)].
    """
    if cost == "quadratic":
        per_example = 0.5 * np.sum((a - y) ** 2, axis=0)
    else:
        per_example = -np.sum(y * np.log(a) + (1.0 - y) * np.log1p(-a), axis=0)
    return float(np.mean(per_example))


def output_error(cost: str, a: Array, z: Array, y: Array, act: Activation) -> Array:
    """BP1: δᴸ = ∇ₐC_x ⊙ σ'(zᴸ), one column per example.

    quadratic: ∇ₐC_x = aᴸ − y. cross_entropy: ∇ₐC_x = (aᴸ − y)/(aᴸ(1 − aᴸ)), which
    for a sigmoid output cancels σ'(zᴸ) = aᴸ(1 − aᴸ) exactly, leaving δᴸ = aᴸ − y
    (Nielsen ch. 3, "The cross-entropy cost function").
    """
    if cost == "quadratic":
        return (a - y) * act.prime(z)
    if act.name == "sigmoid":
        return a - y
    return (a - y) / (a * (1.0 - a)) * act.prime(z)
