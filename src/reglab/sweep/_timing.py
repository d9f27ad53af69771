"""``--engine auto``: time a few steps of both engines on the unit's own data and keep the faster.

The vectorized step of all M members is compared with M times one plain step of a
single member (forward, loss, backward, optimizer step: what a separate run does
per mini-batch, without the regularizers' small element-wise work). A vectorized
pass only pays off when one batched step beats M small ones; on a CPU with one
thread it often does not, on a GPU it usually does.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Sequence

import torch

from reglab.config import RunConfig
from reglab.data import Splits
from reglab.models import build_model
from reglab.sweep._engine import VectorizedTrainer
from reglab.train import get_loss

__all__ = ["EngineTiming", "time_engines"]


@dataclass(frozen=True)
class EngineTiming:
    vectorized_s: float  # one step of every member together
    separate_s: float  # M single-member steps
    steps: int

    @property
    def choice(self) -> str:
        return "vectorized" if self.vectorized_s < self.separate_s else "separate"

    def describe(self) -> str:
        return (f"timed {self.steps} steps: {self.vectorized_s * 1e3:.2f} ms vectorized vs "
                f"{self.separate_s * 1e3:.2f} ms as separate runs, per step of all members; chose {self.choice}")


def _best(fn, steps: int, device: torch.device) -> float:
    """The fastest of ``steps`` calls after one warm-up call (first calls build kernels and caches)."""
    def synced() -> None:
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    synced()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        synced()
        times.append(time.perf_counter() - start)
    return min(times)


def time_engines(configs: Sequence[RunConfig], splits: Splits, *, steps: int = 3) -> EngineTiming:
    """Time ``steps`` mini-batch steps of the vectorized engine and of one separate member (times M)."""
    trainer = VectorizedTrainer(configs, splits=splits)
    bs = configs[0].train.batch_size
    n = len(trainer.data["train"][0])
    idx = torch.arange(min(bs, n), device=trainer.device).expand(len(configs), -1)
    l1_alpha = trainer._l1_alphas()
    vectorized = _best(lambda: trainer._step(idx, l1_alpha), steps, trainer.device)

    cfg = configs[0]
    model = build_model(cfg.model, splits.example_shape, splits.output_dim, seed=cfg.train.seed).to(
        device=trainer.device, dtype=trainer.dtype)
    optimizer = (torch.optim.SGD(model.parameters(), lr=cfg.train.lr, momentum=cfg.train.momentum)
                 if cfg.train.optimizer == "sgd" else torch.optim.Adam(model.parameters(), lr=cfg.train.lr))
    _, loss_fn = get_loss(cfg.train.loss, splits.task)
    x, y = trainer.data["train"][0][idx[0]], trainer.data["train"][1][idx[0]]

    def single() -> None:
        optimizer.zero_grad(set_to_none=True)
        loss_fn(model(x), y).backward()
        optimizer.step()

    separate = _best(single, steps, trainer.device) * len(configs)
    return EngineTiming(vectorized, separate, steps)
