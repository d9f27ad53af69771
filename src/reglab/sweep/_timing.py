"""``--engine auto``: time a few steps of both engines on the unit's own data and keep the faster.

The vectorized step of all M members is compared with M times one step of a
separate run (a :class:`reglab.train.Trainer` of the member with the most
regularizer work: forward, loss and penalty, backward, the regularizer steps, the
optimizer step), on the same mini-batch size, timed alternately (median of each).
A vectorized pass pays off when one batched step beats M small ones: on a CPU at
small batches (Python and dispatch overhead shared by the members; for MLPs with
SGD the members side by side on the cores, each network in its core's cache), on a GPU
nearly always. The vectorized side is timed in the formulation its pass would use.
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import torch

from reglab.config import RunConfig
from reglab.data import Splits
from reglab.sweep._engine import PROBE_STEPS, VectorizedTrainer
from reglab.sweep._parallel import MemberThreads
from reglab.train import Trainer

__all__ = ["EngineTiming", "time_engines", "separate_step_seconds"]


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


def _timer(fn: Callable[[], Any], device: torch.device) -> Callable[[], float]:
    def once() -> float:
        begin = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return time.perf_counter() - begin

    return once


def _separate_step(cfg: RunConfig, splits: Splits, idx: torch.Tensor) -> Callable[[], None]:
    """One mini-batch step of a separate run of ``cfg``: :class:`reglab.train.Trainer`'s model, optimizer and
    regularizer steps, in the order of its loop (penalty, backward, penalty gradient, pre-step, step, post-step)."""
    trainer = Trainer(cfg, splits=splits)
    x, y = trainer.fit_split.x[idx], trainer.fit_split.y[idx]
    lr = cfg.train.lr

    def step() -> None:
        trainer.optimizer.zero_grad(set_to_none=True)
        loss = trainer.loss_fn(trainer.model(x), y)
        penalty = trainer.steps.loss_penalty()
        (loss if penalty is None else loss + penalty).backward()
        trainer.steps.add_penalty_grad()
        trainer.steps.pre_step(lr)
        trainer.optimizer.step()
        trainer.steps.post_step(lr)

    return step


def _busiest(configs: Sequence[RunConfig]) -> RunConfig:
    """The member with the most regularizer work per step (non-zero strengths): the separate side is not flattered."""
    def work(cfg: RunConfig) -> int:
        return sum(1 for e in cfg.regularizer if any(getattr(e, k, 0.0) not in (0.0, math.inf)
                                                     for k in ("alpha", "wd", "radius", "max_norm")))
    return max(configs, key=work)


def separate_step_seconds(configs: Sequence[RunConfig], splits: Splits | None = None, *,
                          steps: int = PROBE_STEPS) -> float:
    """M times the median time of one separate run's step (after a warm-up step): what the members cost apart."""
    cfg = _busiest(configs)
    trainer = Trainer(cfg, splits=splits)
    idx = torch.arange(min(cfg.train.batch_size, len(trainer.fit_split)))
    separate = _timer(_separate_step(cfg, trainer.splits, idx), trainer.device)
    separate()
    return statistics.median(separate() for _ in range(steps)) * len(configs)


def time_engines(configs: Sequence[RunConfig], splits: Splits | None = None, *, steps: int = 7) -> EngineTiming:
    """Time ``steps`` mini-batch steps of the vectorized engine and of one separate member (times M).

    The two are timed alternately, after a warm-up step each, and each side keeps its
    median, so a burst of load on a shared machine hits both alike. (A sweep's ``auto``
    times the pass's own first steps instead: see :func:`reglab.sweep.run_unit`.)
    """
    trainer = VectorizedTrainer(configs, splits=splits)
    bs = configs[0].train.batch_size
    n = len(trainer.data["train"][0])
    idx = torch.arange(min(bs, n), device=trainer.device).expand(len(configs), -1)
    if trainer.threads:  # the members side by side: one step of each, on the pass's threads
        member_steps = trainer.side_by_side_steps(torch.arange(n).expand(len(configs), -1),
                                                  torch.empty((len(configs), PROBE_STEPS), dtype=trainer.dtype))
        runner, rows = MemberThreads(trainer.threads), range(len(configs))
        per_call = min(PROBE_STEPS, math.ceil(n / bs))  # a few steps per call, as in a pass (thread start-up spread)
        timed = _timer(lambda: runner.run(member_steps, rows, 0, per_call, segment=per_call), trainer.device)

        def vectorized() -> float:
            return timed() / per_call
    else:
        l1_alpha = trainer._l1_alphas()
        vectorized = _timer(lambda: trainer._step(idx, l1_alpha), trainer.device)
    separate = _timer(_separate_step(_busiest(configs), trainer.splits, idx[0].cpu()), trainer.device)
    vectorized(), separate()  # first calls build kernels and caches
    v_times, s_times = [], []
    for _ in range(steps):
        v_times.append(vectorized())
        s_times.append(separate())
    return EngineTiming(statistics.median(v_times), statistics.median(s_times) * len(configs), steps)
