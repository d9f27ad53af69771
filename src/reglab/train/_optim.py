"""Optimizers from the config: SGD (with momentum / Nesterov), Adam, and AdamW.

``adamw`` is Adam plus the decoupled ``weight_decay`` regularizer, which the
config requires; reglab applies the decay itself (before the step, as torch's
AdamW does), so the same piece works with any optimizer.
"""

from __future__ import annotations

import torch
from torch import nn

from reglab.config import TrainConfig

__all__ = ["make_optimizer"]


def make_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov)
    return torch.optim.Adam(params, lr=cfg.lr, betas=tuple(cfg.betas))
