"""Epoch time of reglab's training loop vs a hand-written PyTorch loop on the same model and data.

Both loops do the same work per epoch: shuffle with a seeded generator, mini-batch
SGD (momentum 0.9) with L2 on the weights only, then evaluate loss and error on the
train, validation and test splits. The hand loop uses torch SGD's ``weight_decay``
on a weights-only parameter group (what people write today); reglab adds (α/2)‖w‖²
to the loss. Both are timed in the same process, interleaved, and the ratio of the
medians is printed (goal: at most 1.05).

    python benchmarks/bench_train_loop.py [--quick] [--repeats N]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from reglab.config import parse_config
from reglab.models import build_model
from reglab.train import Trainer


def config(dataset: str, hidden: list[int]) -> object:
    return parse_config({
        "data": {"name": dataset},
        "model": {"kind": "mlp", "hidden": hidden, "activation": "relu"},
        "train": {"epochs": 1, "seed": 0, "batch_size": 64, "lr": 0.05, "momentum": 0.9},
        "regularizer": [{"kind": "l2", "alpha": 1e-4}],
    })


class HandLoop:
    """The loop a PyTorch user writes by hand."""

    def __init__(self, cfg, splits) -> None:
        self.splits = splits
        self.model = build_model(cfg.model, splits.input_dim, splits.output_dim, seed=0)
        weights = [p for n, p in self.model.named_parameters() if n.endswith("weight")]
        biases = [p for n, p in self.model.named_parameters() if n.endswith("bias")]
        self.opt = torch.optim.SGD([{"params": weights, "weight_decay": 1e-4}, {"params": biases}],
                                   lr=0.05, momentum=0.9)
        self.gen = torch.Generator().manual_seed(0)

    def epoch(self) -> None:
        x, y = self.splits.train.x, self.splits.train.y
        self.model.train()
        order = torch.randperm(len(x), generator=self.gen)
        for i in range(0, len(x), 64):
            idx = order[i : i + 64]
            self.opt.zero_grad(set_to_none=True)
            F.cross_entropy(self.model(x[idx]), y[idx]).backward()
            self.opt.step()
        self.model.eval()
        with torch.no_grad():
            for split in (self.splits.train, self.splits.val, self.splits.test):
                out = self.model(split.x)
                F.cross_entropy(out, split.y).item()
                (out.argmax(1) != split.y).float().mean().item()


def bench(dataset: str, hidden: list[int], repeats: int) -> tuple[float, float]:
    cfg = config(dataset, hidden)
    trainer = Trainer(cfg)
    hand = HandLoop(cfg, trainer.splits)
    trainer.run_epoch(), hand.epoch()  # warm-up
    times_reglab, times_hand = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        hand.epoch()
        t1 = time.perf_counter()
        trainer.run_epoch()
        t2 = time.perf_counter()
        times_hand.append(t1 - t0)
        times_reglab.append(t2 - t1)
    return statistics.median(times_reglab), statistics.median(times_hand)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="digits only, 3 repeats")
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    cases = [("digits", [64])] if args.quick else [("digits", [64]), ("digits", [256, 256]), ("mnist", [512, 512])]
    repeats = 3 if args.quick else args.repeats
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; median of {repeats} epochs each")
    print(f"{'data':8} {'hidden':12} {'reglab s':>9} {'hand s':>9} {'ratio':>7}")
    for dataset, hidden in cases:
        ours, hand = bench(dataset, hidden, repeats)
        print(f"{dataset:8} {str(hidden):12} {ours:9.4f} {hand:9.4f} {ours / hand:7.3f}")


if __name__ == "__main__":
    main()
