"""A stored, checkpointed, resumable run: the ``reglab train`` command's library half."""

from __future__ import annotations

import math
import os
import platform
import secrets
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch

from reglab._version import __version__
from reglab.config import RunConfig, config_hash, config_to_toml
from reglab.errors import RunError
from reglab.store import RunStore
from reglab.train._trainer import Trainer

__all__ = ["train", "RunResult", "FINAL_KEYS"]

FINAL_KEYS = ("train_loss", "val_loss", "test_loss", "train_error", "val_error", "test_error", "penalty",
              "weight_norm", "sparsity", "gap")
CHECKPOINT = "checkpoint.pt"


@dataclass
class RunResult:
    """The outcome of a run: status (completed | diverged | failed), final metrics and history."""

    run_id: str | None
    status: str
    reason: str | None
    final: dict[str, float | None]
    history: list[dict[str, float]]
    penalized: list[str]
    config_hash: str
    run_dir: str | None = None
    regularizers: dict[str, Any] = field(default_factory=dict)
    model: Any = field(default=None, repr=False)

    def to_json(self) -> dict[str, Any]:
        return _clean({
            "run_id": self.run_id, "status": self.status, "reason": self.reason, "final": self.final,
            "history": self.history, "penalized": self.penalized, "regularizers": self.regularizers,
            "config_hash": self.config_hash, "run_dir": self.run_dir,
        })


def _clean(value: Any) -> Any:
    """NaN/Inf → None so the document is strict JSON."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def versions() -> dict[str, str]:
    return {"reglab": __version__, "torch": torch.__version__, "python": platform.python_version()}


def _save_atomic(state: dict[str, Any], path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        torch.save(state, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _final(history: list[dict[str, float]]) -> dict[str, float | None]:
    last = history[-1] if history else {}
    return {k: last.get(k) for k in FINAL_KEYS}


ProgressFn = Callable[[int, int, dict[str, float] | None], None]


def train(cfg: RunConfig, *, out: str | os.PathLike | None = None, resume: bool = False,
          progress: ProgressFn | None = None, trainer: Trainer | None = None) -> RunResult:
    """Train ``cfg``; with ``out``, store the run in ``out/runs.db`` and checkpoint every epoch.

    ``resume=True`` continues the newest unfinished run with the same resolved
    config from its last checkpoint, and ends with the numbers an uninterrupted
    run would give. Without ``out`` nothing is written (handy in notebooks).

    >>> from reglab.config import parse_config
    >>> result = train(parse_config({"train": {"epochs": 2}}))
    >>> result.status
    'completed'
    """
    chash = config_hash(cfg)
    trainer = trainer or Trainer(cfg)
    store = RunStore(out) if out is not None else None
    run_id, run_dir = None, None
    if store is not None:
        run_id, run_dir = _open_run(store, cfg, chash, resume, trainer)
        store.mark_running(run_id, trainer.penalized)
        store.record_epochs(run_id, trainer.history, len(trainer.history))
    status, reason = "completed", None
    start = time.perf_counter()
    try:
        while trainer.epoch < cfg.train.epochs:
            result = trainer.run_epoch()
            if result.diverged:
                status, reason = "diverged", result.diverged
                break
            due = trainer.epoch % cfg.train.checkpoint_every == 0 or trainer.epoch == cfg.train.epochs or result.stop
            if store is not None and cfg.train.checkpoint and due:
                _save_atomic(trainer.state_dict(), run_dir / CHECKPOINT)
            if store is not None:
                # metrics past the last checkpoint are replaced on resume (record_epochs drops them)
                store.record_epochs(run_id, trainer.history[-1:], trainer.epoch)
            if progress:
                progress(trainer.epoch, cfg.train.epochs, result.metrics)
            if result.stop:
                reason = result.stop
                break
    except KeyboardInterrupt:
        if store is not None:
            store.finish(run_id, "killed", "interrupted; continue with --resume", _final(trainer.history),
                         time.perf_counter() - start)
        raise
    except Exception as exc:
        if store is not None:
            store.finish(run_id, "failed", f"{type(exc).__name__}: {exc}", _final(trainer.history),
                         time.perf_counter() - start)
        raise
    note = trainer.finish() if status == "completed" else None
    final = _final([trainer.final_override] if trainer.final_override else trainer.history)
    if note:
        final.update({k: v for k, v in note.items() if k not in final})
    if store is not None:
        store.finish(run_id, status, reason, final, time.perf_counter() - start)
    return RunResult(run_id, status, reason, final, trainer.history, trainer.penalized, chash,
                     str(run_dir) if run_dir else None, trainer.reg.describe(), trainer.model)


def _open_run(store: RunStore, cfg: RunConfig, chash: str, resume: bool, trainer: Trainer) -> tuple[str, Path]:
    if resume:
        record = store.find_resumable(chash)
        if record is None:
            raise RunError(f"nothing to resume: no unfinished run with this config in {store.root}")
        run_id = record["id"]
        run_dir = store.run_dir(run_id)
        ckpt = run_dir / CHECKPOINT
        if ckpt.exists():
            trainer.load_state_dict(torch.load(ckpt, map_location=trainer.device, weights_only=False))
        return run_id, run_dir
    run_id = f"{chash[:8]}-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}-{secrets.token_hex(2)}"
    run_dir = store.create_run(run_id, config=cfg.model_dump(mode="json"), config_hash=chash, name=cfg.name,
                               versions=versions(), device=str(trainer.device),
                               tags={"argv": sys.argv[1:]})
    (run_dir / "config.toml").write_text(config_to_toml(cfg), encoding="utf-8")
    return run_id, run_dir
