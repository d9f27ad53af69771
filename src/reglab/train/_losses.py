"""Data losses, each the *mean over examples* C₀ the strength α is defined against.

Classification losses take the network's raw outputs z (logits, one per class)
and integer class labels; the target of example x is the one-hot vector y(x).

- ``cross_entropy``: softmax outputs, C₀ = −(1/n)·Σₓ ln softmax(z)_{label(x)}.
- ``sigmoid_cross_entropy``: sigmoid output units aⱼ = σ(zⱼ) and the cost of the
  notes' eq. (21) (Nielsen ch. 3), C₀ = −(1/n)·Σₓ Σⱼ [yⱼ ln aⱼ + (1 − yⱼ) ln(1 − aⱼ)],
  computed from the logits as Σⱼ [softplus(zⱼ) − yⱼ zⱼ], which never takes the log of 0.
- ``quadratic``: sigmoid output units and C₀ = (1/2n)·Σₓ ‖y(x) − a(x)‖² (Nielsen ch. 1).

The predicted class is argmax z, which is also argmax σ(z) and argmax softmax(z),
so the error rate means the same under every loss. Regression losses:
``half_mse`` C₀ = (1/2n)·Σₓ ‖f(x) − y‖² and ``mse`` (no ½).
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from reglab.errors import ConfigError

__all__ = ["LOSSES", "CLASSIFICATION_LOSSES", "REGRESSION_LOSSES", "get_loss", "half_mse", "mse",
           "sigmoid_cross_entropy", "quadratic"]

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def half_mse(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """C₀ = (1/n)·Σᵢ ½‖f(xᵢ) − yᵢ‖²: its Hessian for a linear model is XᵀX/n."""
    return 0.5 * (outputs - targets).pow(2).sum(dim=-1).mean()


def mse(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """C₀ = (1/n)·Σᵢ ‖f(xᵢ) − yᵢ‖² (no ½)."""
    return (outputs - targets).pow(2).sum(dim=-1).mean()


def _one_hot(labels: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    return F.one_hot(labels, logits.shape[-1]).to(logits.dtype)


def sigmoid_cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Eq. (21) of the notes on sigmoid outputs aⱼ = σ(zⱼ): −(1/n)·Σₓ Σⱼ [yⱼ ln aⱼ + (1 − yⱼ) ln(1 − aⱼ)].

    ``logits`` z is (n, classes), ``labels`` the (n,) class indices (y one-hot).
    Since ln σ(z) = −softplus(−z) and ln(1 − σ(z)) = −softplus(z), the summand is
    softplus(zⱼ) − yⱼ zⱼ, evaluated stably for any z.

    >>> z = torch.tensor([[0.0, 0.0]])
    >>> round(float(sigmoid_cross_entropy(z, torch.tensor([1]))), 4)  # 2·ln 2
    1.3863
    """
    y = _one_hot(labels, logits)
    return (F.softplus(logits) - y * logits).sum(dim=-1).mean()


def quadratic(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The quadratic cost on sigmoid outputs: C₀ = (1/2n)·Σₓ ‖y(x) − σ(z(x))‖², y one-hot.

    >>> round(float(quadratic(torch.tensor([[0.0, 0.0]]), torch.tensor([1]))), 4)  # ½(0.5² + 0.5²)
    0.25
    """
    return 0.5 * (_one_hot(labels, logits) - torch.sigmoid(logits)).pow(2).sum(dim=-1).mean()


CLASSIFICATION_LOSSES: dict[str, LossFn] = {
    "cross_entropy": F.cross_entropy, "sigmoid_cross_entropy": sigmoid_cross_entropy, "quadratic": quadratic}
REGRESSION_LOSSES: dict[str, LossFn] = {"half_mse": half_mse, "mse": mse}
LOSSES: dict[str, LossFn] = {**CLASSIFICATION_LOSSES, **REGRESSION_LOSSES}


def get_loss(name: str, task: str) -> tuple[str, LossFn]:
    """Resolve ``auto`` by task and return (name, function).

    A loss that does not fit the task raises :class:`ConfigError` naming ``train.loss``.

    >>> get_loss("auto", "regression")[0]
    'half_mse'
    """
    if name == "auto":
        name = "cross_entropy" if task == "classification" else "half_mse"
    allowed = CLASSIFICATION_LOSSES if task == "classification" else REGRESSION_LOSSES
    if name not in allowed:
        raise ConfigError(f"train.loss = {name!r} does not fit a {task} data set; use one of {sorted(allowed)}",
                          field="train.loss")
    return name, allowed[name]
