"""Checkpoints of a vectorized pass, one per member, in the format a separate run writes.

A member's checkpoint is the ``checkpoint.pt`` that :func:`reglab.train.train`
writes for the same config (``Trainer.state_dict()``: model, optimizer,
generator, regularizer state, history), in the member's own run folder, and its
epochs are appended to the folder's ``metrics.jsonl`` as they finish. So an
interrupted sweep point resumes from its last checkpoint, vectorized with the
members that stopped at the same epoch or on its own, and ``reglab train
--resume`` could continue it too.

The conversion goes through a real :class:`reglab.train.Trainer` per member
(built lazily, on the pass's splits): the stacked rows are copied into its model
and optimizer state and its own ``state_dict`` / ``load_state_dict`` write and
read the file, so there is one definition of the format.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from reglab.config import RunConfig
from reglab.data import Splits
from reglab.store._folder import RunFolder
from reglab.train import CHECKPOINT, Trainer, save_checkpoint

__all__ = ["MemberCheckpoints", "checkpoint_epoch"]

# the engine's optimizer state → torch.optim's names for it
_SGD_KEYS = {"momentum": "momentum_buffer"}
_ADAM_KEYS = {"exp_avg": "exp_avg", "exp_avg_sq": "exp_avg_sq"}


def checkpoint_epoch(run_dir: str | Path | None) -> int:
    """The epoch a run folder's checkpoint was written after (0 when it has none or it cannot be read)."""
    if run_dir is None or not Path(run_dir, CHECKPOINT).exists():
        return 0
    try:
        state = torch.load(Path(run_dir, CHECKPOINT), map_location="cpu", weights_only=False)
        return len(state["history"])
    except Exception:  # a damaged file: train the point from the start
        return 0


class MemberCheckpoints:
    """Save and load members of a stacked pass as separate-run checkpoints (see the module docstring)."""

    def __init__(self, configs: list[RunConfig], run_dirs: list[str | None], splits: Splits) -> None:
        self.configs, self.run_dirs, self.splits = configs, run_dirs, splits
        self._trainers: dict[int, Trainer] = {}

    def trainer(self, member: int) -> Trainer:
        if member not in self._trainers:
            self._trainers[member] = Trainer(self.configs[member], splits=self.splits)
        return self._trainers[member]

    def folder(self, member: int) -> RunFolder | None:
        run_dir = self.run_dirs[member]
        return RunFolder(run_dir) if run_dir is not None else None

    def due(self, member: int, epoch: int) -> bool:
        tc = self.configs[member].train
        return (self.run_dirs[member] is not None and tc.checkpoint
                and (epoch % tc.checkpoint_every == 0 or epoch == tc.epochs))

    def save(self, member: int, params: dict[str, torch.Tensor], state: dict[str, dict[str, torch.Tensor]],
             row: int, steps: int, generator: torch.Generator, history: list[dict[str, Any]]) -> None:
        """Write member ``member`` (row ``row`` of the stacks) as its run's checkpoint."""
        trainer = self.trainer(member)
        adam = self.configs[member].train.optimizer != "sgd"
        with torch.no_grad():
            for name, p in trainer.model.named_parameters():
                p.copy_(params[name][row])
                entry = {theirs: state[name][ours][row].clone() for ours, theirs in
                         (_ADAM_KEYS if adam else _SGD_KEYS).items() if ours in state.get(name, {})}
                if entry:  # torch keeps no state for a parameter plain SGD steps
                    trainer.optimizer.state[p] = {"step": torch.tensor(float(steps)), **entry} if adam else entry
        trainer.generator.set_state(generator.get_state())
        trainer.history = list(history)
        save_checkpoint(trainer.state_dict(), Path(self.run_dirs[member], CHECKPOINT))

    def load(self, member: int) -> tuple[dict[str, torch.Tensor], dict[str, dict[str, torch.Tensor]],
                                          list[dict[str, Any]], torch.Tensor]:
        """Member ``member``'s checkpoint, read by ``Trainer.load_state_dict``.

        Returns its parameters by name, its optimizer state by parameter under the
        engine's names (``momentum``; ``exp_avg``, ``exp_avg_sq``), its history and
        its generator's state.
        """
        trainer = self.trainer(member)
        state = torch.load(Path(self.run_dirs[member], CHECKPOINT), map_location=trainer.device, weights_only=False)
        trainer.load_state_dict(state)
        adam = self.configs[member].train.optimizer != "sgd"
        params: dict[str, torch.Tensor] = {}
        opt_state: dict[str, dict[str, torch.Tensor]] = {}
        for name, p in trainer.model.named_parameters():
            params[name] = p.detach().clone()
            entry = trainer.optimizer.state.get(p, {})
            opt_state[name] = {ours: entry[theirs].detach().clone()
                               for ours, theirs in (_ADAM_KEYS if adam else _SGD_KEYS).items() if theirs in entry}
        return params, opt_state, list(trainer.history), trainer.generator.get_state()

    def truncate_metrics(self, member: int, history: list[dict[str, Any]]) -> None:
        """A resumed member's ``metrics.jsonl`` holds exactly the epochs of its checkpoint."""
        folder = self.folder(member)
        if folder is not None:
            folder.reset_metrics(history)

    def reset_metrics(self, member: int) -> None:
        """A member that starts from scratch in a used folder (its checkpoint unreadable) drops the old lines."""
        self.truncate_metrics(member, [])

    def append_metrics(self, member: int, row: dict[str, Any]) -> None:
        folder = self.folder(member)
        if folder is not None:
            folder.append_metrics([row])
