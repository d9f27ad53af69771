"""Training: the loop (:class:`Trainer`), stored and resumable runs (:func:`train`), losses."""

from reglab.train._load import CHECKPOINT, load_run
from reglab.train._losses import LOSSES, get_loss, half_mse, mse, quadratic, sigmoid_cross_entropy
from reglab.train._run import FINAL_KEYS, RunResult, save_checkpoint, train
from reglab.train._trainer import EpochResult, Trainer, resolve_device

__all__ = ["train", "load_run", "CHECKPOINT", "save_checkpoint", "Trainer", "RunResult", "EpochResult", "FINAL_KEYS", "LOSSES", "get_loss", "half_mse",
           "mse", "quadratic", "sigmoid_cross_entropy", "resolve_device"]
