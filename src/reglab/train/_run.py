"""A stored, checkpointed, resumable run: the ``reglab train`` command's library half.

Lifecycle of a stored run (``out`` given): the process that trains it holds the
run folder's lock (:class:`reglab.store.RunLock`) from creation to the end, so a
second process cannot ``--resume`` it while it lives, and a run whose process
died is shown as ``interrupted``. States: created → running → completed |
diverged | failed | interrupted (Ctrl-C/SIGTERM, or a checkpoint that could not be
written); ``--resume`` continues an interrupted run from its last checkpoint.
"""

from __future__ import annotations

import copy
import os
import platform
import secrets
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch

from reglab._json import strict_json
from reglab._version import __version__
from reglab.config import RunConfig, config_hash, config_to_toml
from reglab.errors import ReglabError, RunError, RunLockedError, StoreError
from reglab.store import RunLock, RunStore, owner_pid
from reglab.store._folder import RunFolder, atomic_open, write_atomic
from reglab.train._load import CHECKPOINT
from reglab.train._trainer import Trainer

__all__ = ["train", "RunResult", "FINAL_KEYS"]

FINAL_KEYS = ("train_loss", "val_loss", "test_loss", "train_error", "val_error", "test_error", "penalty",
              "weight_norm", "sparsity", "gap")


@dataclass
class RunResult:
    """The outcome of a run: status (completed | diverged), final metrics and history."""

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
    resumed_from: int = 0  # the epoch of the checkpoint the run continued from (0: trained from the start)

    def to_json(self) -> dict[str, Any]:
        return strict_json({
            "run_id": self.run_id, "status": self.status, "reason": self.reason, "final": self.final,
            "history": self.history, "penalized": self.penalized, "regularizers": self.regularizers,
            "config_hash": self.config_hash, "run_dir": self.run_dir,
        })


def versions() -> dict[str, str]:
    return {"reglab": __version__, "torch": torch.__version__, "python": platform.python_version()}


def save_checkpoint(state: dict[str, Any], path: Path) -> None:
    """Write the checkpoint beside ``path`` and rename it over: the previous one survives any failure."""
    with atomic_open(path, "wb") as fh:
        torch.save(state, fh)


def _final(history: list[dict[str, float]]) -> dict[str, float | None]:
    last = history[-1] if history else {}
    return {k: last.get(k) for k in FINAL_KEYS}


ProgressFn = Callable[[int, int, dict[str, float] | None], None]


def train(cfg: RunConfig, *, out: str | os.PathLike | None = None, resume: bool = False,
          progress: ProgressFn | None = None, trainer: Trainer | None = None,
          log: Callable[[str], None] | None = None, folder: str | os.PathLike | None = None) -> RunResult:
    """Train ``cfg``; with ``out``, store the run in ``out/runs.db`` and checkpoint every epoch.

    ``folder`` (without ``out``): a run folder that someone else stores, as a sweep's
    worker trains a point its driver opened (the caller holds the folder's lock). The
    run continues from the folder's checkpoint when it holds a readable one (else it
    starts over), writes ``checkpoint.pt`` when due and appends each epoch to the
    folder's ``metrics.jsonl``, as a stored run does.

    ``resume=True`` continues the newest unfinished run with the same resolved
    config from its last checkpoint, and ends with the numbers an uninterrupted
    run would give; a run another live process is training is refused
    (:class:`~reglab.errors.RunLockedError`, naming its PID). Without ``out``
    nothing is written (handy in notebooks). ``log`` receives one line saying what
    is trained where; ``progress(epoch, epochs, metrics)`` is called after each epoch.

    Ctrl-C (KeyboardInterrupt) stores the run as ``interrupted`` and re-raises.

    >>> from reglab.config import parse_config
    >>> result = train(parse_config({"train": {"epochs": 2}}))
    >>> result.status
    'completed'
    """
    chash = config_hash(cfg)
    trainer = trainer or Trainer(cfg)
    store = RunStore(out) if out is not None else None
    run_id, run_dir, lock = None, None, None
    if store is not None:
        run_id, run_dir, lock = _open_run(store, cfg, chash, resume, trainer)
    elif folder is not None:
        run_dir = Path(folder)
        _continue_in_folder(trainer, run_dir)
    try:
        if log is not None:
            log(f"training on {trainer.splits.name} ({len(trainer.splits.train)} examples), device "
                f"{trainer.device}; penalized: {', '.join(trainer.penalized) or 'nothing'}"
                + (f"; resuming {run_id} at epoch {trainer.epoch}" if resume else ""))
        return _loop(cfg, chash, trainer, store, run_id, run_dir, progress, resumed_from=trainer.epoch)
    finally:
        if lock is not None:
            lock.release()


def _loop(cfg: RunConfig, chash: str, trainer: Trainer, store: RunStore | None, run_id: str | None,
          run_dir: Path | None, progress: ProgressFn | None, *, resumed_from: int = 0) -> RunResult:
    if store is not None:
        store.mark_running(run_id, trainer.penalized)
        store.record_epochs(run_id, trainer.history, len(trainer.history))
    status, reason = "completed", None
    start = time.perf_counter()

    def stop_as(state: str, why: str) -> None:
        if store is not None:
            _best_effort(lambda: store.finish(run_id, state, why, _final(trainer.history), time.perf_counter() - start))

    try:
        while trainer.epoch < cfg.train.epochs:
            result = trainer.run_epoch()
            if result.diverged:
                status, reason = "diverged", result.diverged
                break
            due = trainer.epoch % cfg.train.checkpoint_every == 0 or trainer.epoch == cfg.train.epochs or result.stop
            if run_dir is not None and cfg.train.checkpoint and due:
                _checkpoint(trainer, run_dir / CHECKPOINT)
            if store is not None:
                # metrics past the last checkpoint are replaced on resume (record_epochs drops them)
                store.record_epochs(run_id, trainer.history[-1:], trainer.epoch)
            elif run_dir is not None:
                RunFolder(run_dir).append_metrics(trainer.history[-1:])
            if progress:
                progress(trainer.epoch, cfg.train.epochs, result.metrics)
            if result.stop:
                reason = result.stop
                break
    except KeyboardInterrupt:
        stop_as("interrupted", "interrupted (Ctrl-C or SIGTERM); continue with --resume")
        raise
    except StoreError as exc:
        stop_as("interrupted", f"{exc}; continue with --resume once that is fixed")
        raise
    except ReglabError as exc:
        stop_as("failed", str(exc))
        raise
    except Exception as exc:
        stop_as("failed", f"internal error {type(exc).__name__}: {exc}")
        raise
    note = trainer.finish() if status == "completed" else None
    final = _final([trainer.final_override] if trainer.final_override else trainer.history)
    if note:
        final.update({k: v for k, v in note.items() if k not in final})
    if store is not None:
        store.finish(run_id, status, reason, final, time.perf_counter() - start)
    return RunResult(run_id, status, reason, final, trainer.history, trainer.penalized, chash,
                     str(run_dir) if run_dir else None, trainer.reg.describe(), trainer.model, resumed_from)


def _best_effort(write: Callable[[], None]) -> None:
    """Record a failure if the store can still be written; the original error is what the user must see."""
    try:
        write()
    except (OSError, StoreError):
        pass


def _checkpoint(trainer: Trainer, path: Path) -> None:
    try:
        save_checkpoint(trainer.state_dict(), path)
    except OSError as exc:
        previous = "the previous checkpoint is intact" if path.exists() else "no earlier checkpoint exists"
        raise StoreError(f"could not write the checkpoint {path} at epoch {trainer.epoch}: "
                         f"{exc.strerror or exc}; {previous}", field="--out") from None


def _open_run(store: RunStore, cfg: RunConfig, chash: str, resume: bool,
              trainer: Trainer) -> tuple[str, Path, RunLock]:
    if resume:
        return _resume_run(store, cfg, chash, trainer)
    run_id = f"{chash[:8]}-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}-{secrets.token_hex(2)}"
    run_dir = store.run_dir(run_id)
    try:
        run_dir.mkdir(parents=True)
        lock = RunLock(run_dir)
        lock.acquire()  # a fresh folder: nobody else can hold it; taken before the run is visible in the store
    except OSError as exc:
        raise StoreError(f"cannot create the run folder {run_dir}: {exc.strerror or exc}", field="--out") from None
    try:
        store.create_run(run_id, config=cfg.model_dump(mode="json"), config_hash=chash, name=cfg.name,
                         versions=versions(), device=str(trainer.device), tags={"argv": sys.argv[1:]})
        write_atomic(run_dir / "config.toml", config_to_toml(cfg))
    except BaseException:
        lock.release()
        shutil.rmtree(run_dir, ignore_errors=True)  # nothing was trained: leave no half-made run behind
        raise
    return run_id, run_dir, lock


def _resume_run(store: RunStore, cfg: RunConfig, chash: str, trainer: Trainer) -> tuple[str, Path, RunLock]:
    record = store.find_resumable(chash)
    if record is None:
        raise RunError(f"nothing to resume: no unfinished run with this config in {store.root}", field="--resume")
    run_id = record["id"]
    run_dir = store.run_dir(run_id)
    lock = RunLock(run_dir)
    if not lock.acquire():
        pid = owner_pid(run_dir)
        raise RunLockedError(f"run {run_id} is being trained by another process (PID {pid}); wait for it to "
                             f"finish, or stop it (kill {pid}) and then resume", field="--resume")
    try:
        ckpt = run_dir / CHECKPOINT
        if ckpt.exists():
            _load_checkpoint(trainer, ckpt, run_id)
        elif record.get("epochs_done"):
            why = ("its config has train.checkpoint = false" if not cfg.train.checkpoint
                   else f"its checkpoint {ckpt} is missing")
            raise RunError(f"cannot resume run {run_id} after {record['epochs_done']} epochs: {why}; "
                           "train it again without --resume", field="--resume")
    except BaseException:
        lock.release()
        raise
    return run_id, run_dir, lock


def _continue_in_folder(trainer: Trainer, run_dir: Path) -> None:
    """``train(folder=...)``: load the folder's checkpoint if it is readable, and make its ``metrics.jsonl``
    hold exactly the epochs the trainer has (what a killed run wrote after its checkpoint is dropped)."""
    path = run_dir / CHECKPOINT
    if path.exists():
        fresh = copy.deepcopy(trainer.state_dict())
        try:
            trainer.load_state_dict(torch.load(path, map_location=trainer.device, weights_only=False))
        except Exception:  # a damaged file: the point trains from the start, as a vectorized member does
            trainer.load_state_dict(fresh)
    RunFolder(run_dir).reset_metrics(trainer.history)


def _load_checkpoint(trainer: Trainer, path: Path, run_id: str) -> None:
    try:
        state = torch.load(path, map_location=trainer.device, weights_only=False)
        trainer.load_state_dict(state)
    except Exception as exc:  # a damaged file raises whatever the unpickler or zip reader hits
        raise RunError(f"cannot resume run {run_id}: its checkpoint {path} is damaged or does not match the "
                       f"config ({type(exc).__name__}: {exc}); train it again without --resume",
                       field="--resume") from None
