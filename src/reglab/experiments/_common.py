"""Small numeric helpers for experiments: the one mean ± sd over seeds, its formats, and a split as arrays.

>>> stat([1.0, 2.0, 3.0])
{'mean': 2.0, 'sd': 1.0}
>>> fmt_pm([1.0, 2.0, 3.0], 2)
'2.00 ± 1.00'
>>> fmt_stat({'mean': 2.0, 'sd': 1.0}, 2) == fmt_pm([1.0, 2.0, 3.0], 2)
True
"""

from __future__ import annotations

import statistics
from typing import Sequence

import numpy as np
import torch

__all__ = ["mean_sd", "stat", "mean_sd_lists", "fmt_pm", "fmt_stat", "fmt_sci", "summarize_histories",
           "final_error_rows", "flat_arrays", "linear_weight"]


def mean_sd(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value)."""
    values = [float(v) for v in values]
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def stat(values: Sequence[float], *, keep: bool = False) -> dict:
    """``{"mean", "sd"}`` of ``values`` (plus the ``values`` themselves with ``keep=True``)."""
    mean, sd = mean_sd(values)
    return {"mean": mean, "sd": sd, **({"values": [float(v) for v in values]} if keep else {})}


def mean_sd_lists(groups: Sequence[Sequence[float]]) -> tuple[list[float], list[float]]:
    """Means and sds of each group: one mean ± sd per grid point (a degree, a strength, a size)."""
    pairs = [mean_sd(g) for g in groups]
    return [m for m, _ in pairs], [s for _, s in pairs]


def fmt_stat(value: dict, digits: int = 4) -> str:
    """``"m ± s"`` of a :func:`stat` dict, ``digits`` decimals."""
    return f"{value['mean']:.{digits}f} ± {value['sd']:.{digits}f}"


def fmt_pm(values: Sequence[float], digits: int = 4) -> str:
    """``"m ± s"`` of ``values`` over seeds, ``digits`` decimals."""
    return fmt_stat(stat(values), digits)


def fmt_sci(values: Sequence[float]) -> str:
    """``"m ± s"`` of ``values`` in scientific notation (for errors spanning orders of magnitude)."""
    mean, sd = mean_sd(values)
    return f"{mean:.1e} ± {sd:.1e}"


def summarize_histories(runs: Sequence[Sequence[dict]], keys: Sequence[str] = ("train_error", "test_error")) -> dict:
    """Mean ± sd over seeds of the final value and of each epoch's value of ``keys``, plus best test error.

    ``runs`` holds one history (list of per-epoch metric dicts) per seed, all of equal length.
    """
    epochs = len(runs[0])
    out: dict = {}
    for key in keys:
        out[f"final_{key}"] = stat([h[-1][key] for h in runs])
        out[f"curve_{key}"], out[f"curve_{key}_sd"] = mean_sd_lists([[h[e][key] for h in runs]
                                                                    for e in range(epochs)])
    out["best_test_error"] = stat([min(e["test_error"] for e in h) for h in runs])
    out["final_gap"] = stat([h[-1]["test_error"] - h[-1]["train_error"] for h in runs])
    return out


def final_error_rows(per_variant: dict, *, gap: bool = False) -> list[list]:
    """Table rows ``[variant, train error, test error, best test error (, test − train)]`` as ``m ± s``.

    ``per_variant`` maps a label to :func:`summarize_histories` output.
    """
    keys = ("final_train_error", "final_test_error", "best_test_error") + (("final_gap",) if gap else ())
    return [[variant, *[fmt_stat(row[k]) for k in keys]] for variant, row in per_variant.items()]



def flat_arrays(split) -> tuple[np.ndarray, np.ndarray]:
    """A :class:`reglab.data.Split` as scikit-learn rows: the inputs flattened (as the MLP's first layer does), float64.

    >>> import torch
    >>> from reglab.data import Split
    >>> x, y = flat_arrays(Split(torch.zeros(3, 2, 2), torch.tensor([0, 1, 0])))
    >>> x.shape, x.dtype, y.tolist()
    ((3, 4), dtype('float64'), [0, 1, 0])
    """
    return split.x.reshape(len(split), -1).double().numpy(), split.y.numpy()


def linear_weight(model: torch.nn.Module) -> torch.Tensor:
    """The weights of reglab's one-layer linear model (one output), as a float64 CPU vector (a copy).

    >>> net = torch.nn.Sequential(torch.nn.Linear(3, 1))
    >>> linear_weight(net).shape, linear_weight(net).dtype
    (torch.Size([3]), torch.float64)
    """
    (weight,) = [p for name, p in model.named_parameters() if name.endswith("weight")]
    return weight.detach().cpu().double().reshape(-1).clone()
