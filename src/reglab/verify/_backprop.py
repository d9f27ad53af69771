"""The notes' backprop (``reglab.reference``) against reglab's torch training path.

``backprop-check`` asks two questions: do BP1–BP4 give autograd's gradients
(``reference.backprop_check``), and does one epoch of the notes' mini-batch SGD
with the L2 rule w ← (1 − ηα)w − η∇C₀ end where reglab's :class:`Trainer` ends,
with the same weights, the same mini-batches in the same order and the same α?
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from reglab.config import parse_config
from reglab.data import Split, Splits
from reglab.reference import Network, backprop_check
from reglab.train import Trainer

__all__ = ["epoch_vs_reglab", "full_backprop_check"]


def epoch_vs_reglab(seed: int = 0, *, sizes: tuple[int, ...] = (5, 7, 4, 3), n: int = 37, batch_size: int = 8,
                    lr: float = 0.3, alpha: float = 0.05, activation: str = "sigmoid") -> float:
    """Max |difference| of all parameters after one epoch: reference vs reglab (float64).

    Quadratic cost C₀ = (1/2n)Σ‖a − y‖² with a linear output layer on both sides
    (reglab's ``half_mse``), L2 on the weights only.
    """
    rng = np.random.default_rng(seed)
    x, y = rng.normal(size=(n, sizes[0])), rng.normal(size=(n, sizes[-1]))
    ref = Network(list(sizes), activation=activation, cost="quadratic", output_activation="linear", seed=seed)
    split = Split(torch.from_numpy(x), torch.from_numpy(y))
    splits = Splits("backprop-check", "regression", split, split, split)
    cfg = parse_config({
        "model": {"kind": "mlp", "hidden": list(sizes[1:-1]), "activation": activation},
        "train": {"epochs": 1, "batch_size": batch_size, "lr": lr, "seed": seed, "dtype": "float64",
                  "loss": "half_mse"},
        "regularizer": [{"kind": "l2", "alpha": alpha}],
    })
    trainer = Trainer(cfg, splits=splits)
    linears = [m for m in trainer.model if isinstance(m, torch.nn.Linear)]
    with torch.no_grad():
        for layer, w, b in zip(linears, ref.weights, ref.biases):
            layer.weight.copy_(torch.from_numpy(w))
            layer.bias.copy_(torch.from_numpy(b))
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).numpy()  # the trainer's first draw
    trainer.run_epoch()
    for i in range(0, n, batch_size):
        idx = order[i : i + batch_size]
        ref.update_mini_batch(x[idx], y[idx], lr, l2=alpha)
    diffs = [np.abs(layer.weight.detach().numpy() - w).max() for layer, w in zip(linears, ref.weights)]
    diffs += [np.abs(layer.bias.detach().numpy() - b).max() for layer, b in zip(linears, ref.biases)]
    return float(max(diffs))


def full_backprop_check(seed: int = 0, n_networks: int = 8) -> dict[str, Any]:
    """Gradients (BP1–BP4 vs autograd) and one training epoch (reference vs reglab)."""
    grads = backprop_check(seed=seed, n_networks=n_networks)
    epochs = {act: epoch_vs_reglab(seed, activation=act) for act in ("sigmoid", "tanh")}
    return {
        "max_rel_diff": grads["max_rel_diff"],
        "cases": grads["cases"],
        "epoch_max_abs_diff": max(epochs.values()),
        "epoch_cases": epochs,
        "passed": grads["max_rel_diff"] <= 1e-10 and max(epochs.values()) <= 1e-10,
    }
