"""Data losses, each the *mean over examples* C₀ the strength α is defined against."""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

__all__ = ["LOSSES", "get_loss", "half_mse", "mse"]

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def half_mse(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """C₀ = (1/n)·Σᵢ ½‖f(xᵢ) − yᵢ‖²: its Hessian for a linear model is XᵀX/n."""
    return 0.5 * (outputs - targets).pow(2).sum(dim=-1).mean()


def mse(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """C₀ = (1/n)·Σᵢ ‖f(xᵢ) − yᵢ‖² (no ½)."""
    return (outputs - targets).pow(2).sum(dim=-1).mean()


LOSSES: dict[str, LossFn] = {"cross_entropy": F.cross_entropy, "half_mse": half_mse, "mse": mse}


def get_loss(name: str, task: str) -> tuple[str, LossFn]:
    """Resolve ``auto`` by task and return (name, function)."""
    if name == "auto":
        name = "cross_entropy" if task == "classification" else "half_mse"
    if task == "classification" and name != "cross_entropy":
        raise ValueError(f"train.loss = {name!r} does not fit a classification data set; use 'cross_entropy'")
    if task == "regression" and name == "cross_entropy":
        raise ValueError("train.loss = 'cross_entropy' does not fit a regression data set; use 'half_mse' or 'mse'")
    return name, LOSSES[name]
