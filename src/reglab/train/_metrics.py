"""Per-epoch measurements: loss, error rate, weight norm, sparsity."""

from __future__ import annotations

import torch
from torch import nn

from reglab.data import Split

__all__ = ["evaluate", "weight_stats"]


@torch.no_grad()
def evaluate(model: nn.Module, split: Split, loss_fn, *, classification: bool,
             chunk: int = 8192) -> tuple[float, float]:
    """Mean data loss and error rate (fraction misclassified; NaN for regression) over a split.

    The model is evaluated in eval mode; chunks are weighted by their size so the
    result is the exact mean over all examples.
    """
    n = len(split)
    if n == 0:
        return float("nan"), float("nan")
    total_loss = torch.zeros((), dtype=torch.float64, device=split.x.device)
    wrong = torch.zeros((), dtype=torch.int64, device=split.x.device)
    for start in range(0, n, chunk):
        x, y = split.x[start : start + chunk], split.y[start : start + chunk]
        out = model(x)
        total_loss += loss_fn(out, y).double() * len(x)
        if classification:
            wrong += (out.argmax(dim=1) != y).sum()
    error = wrong.item() / n if classification else float("nan")
    return total_loss.item() / n, error


@torch.no_grad()
def weight_stats(weights: list[torch.Tensor]) -> tuple[float, float]:
    """‖w‖₂ over the given tensors and the fraction of entries that are exactly zero."""
    if not weights:
        return 0.0, 0.0
    sq = sum(w.double().pow(2).sum() for w in weights)
    zeros = sum(int((w == 0).sum()) for w in weights)
    count = sum(w.numel() for w in weights)
    return float(sq.sqrt()), zeros / count
