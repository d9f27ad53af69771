"""``export_tensorboard``: stored runs as TensorBoard event files (needs ``reglab[tensorboard]``).

Each run goes to ``DIR/RUN_ID/``: one scalar per stored metric per epoch (``step = epoch``,
TensorBoard keeps 32-bit floats), and an hparams entry (the sweep axes' values, or the flat
config for a run outside a sweep, against the final metrics as ``final/METRIC``) for the
HParams dashboard. A run whose folder already holds event files is skipped, so exporting twice
doubles nothing. View with ``tensorboard --logdir DIR``.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

from reglab.results._export import ExportResult, finite_history, flatten_config, need_extra, param_text, stored_runs

__all__ = ["export_tensorboard", "hparams_of"]


def hparams_of(run: dict[str, Any]) -> dict[str, bool | int | float | str]:
    """The run's sweep axes (or its whole flat config), as TensorBoard's hparams take them (lists as text).

    >>> hparams_of({"tags": {"axes": {"regularizer.0.alpha": 0.01, "model.hidden": [8]}}, "config": {}})
    {'regularizer.0.alpha': 0.01, 'model.hidden': '[8]'}
    """
    values = (run.get("tags") or {}).get("axes") or flatten_config(run["config"])
    return {k: v if isinstance(v, bool | int | float | str) else param_text(v) for k, v in values.items()}


def _final_metrics(run: dict[str, Any]) -> dict[str, float]:
    return {f"final/{k}": float(v) for k, v in (run.get("final") or {}).items()
            if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)}


def export_tensorboard(out: str | os.PathLike, ident: str, directory: str | os.PathLike) -> ExportResult:
    """Write run or sweep ``ident`` from the store in ``out`` as event files under ``directory``."""
    store, name, runs = stored_runs(out, ident)
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as exc:
        raise need_extra("tensorboard", "--tensorboard", exc) from None
    root = Path(directory)
    result = ExportResult(str(root), name)
    for run in runs:
        folder = root / run["id"]
        if any(folder.glob("events.out.tfevents.*")):
            result.skipped.append(run["id"])
            continue
        with SummaryWriter(log_dir=str(folder)) as writer:
            for epoch, metric, value in finite_history(store, run["id"]):
                writer.add_scalar(metric, value, epoch)
            writer.add_hparams(hparams_of(run), _final_metrics(run), run_name=".")
        result.exported[run["id"]] = str(folder)
    return result
