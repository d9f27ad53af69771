"""The Machine Learning Crash Course's L2 exercise in TensorFlow Playground (Bischl, seed 002).

The exercise: a small, noisy training set and a model on the Playground's seven
inputs — the features x1, x2 and the crosses x1², x2², x1·x2, sin x1, sin x2 —
connected straight to the output. Task 1 trains it for at least 500 epochs with
regularization rate 0 and notes the test loss, the gap between test and training
loss, and the learned weight of every feature and cross; Task 2 repeats it with
L2 rate 0.3. Google's expected answer: the test loss falls, the gap shrinks and
every weight shrinks — a simpler model.

Here: the ``xor`` set with 40 % noise, 160 points of which 30 % (48) are for
training; logistic regression (a linear layer, two logits, cross-entropy) on the
Playground feature map; mini-batches of 10; 500 epochs (``quick``: 80).

Convention: TensorFlow Playground's "regularization rate" is reglab's α
(``reglab.regularize.conventions``, ``"playground"``: its update is
w ← w − η·(mean gradient) − η·rate·w, i.e. coupled L2 on the mean loss), and α
multiplies (α/2)‖w‖² added to the *mean* training loss — torch SGD's
``weight_decay``; Nielsen's λ would be α·n = 48·α. Biases are not penalized.
Two differences from the Playground remain and are stated in the summary: the
loss is cross-entropy (the Playground uses ½(tanh output − y)²), and the model
has two logits; the weight shown per feature is the difference
vⱼ = W[1, j] − W[0, j], the weight into the log-odds of class 1 — the Playground's
single output line. At the penalized optimum W[0] = −W[1], so the penalty on v
is (α/4)‖v‖².

References: Google, Machine Learning Crash Course, "Regularization for
Simplicity: Playground Exercise (L2 Regularization)"; Smilkov & Carter,
TensorFlow Playground (playground.tensorflow.org); Goodfellow et al. 2016, §7.1.1.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from reglab.experiments._base import FINAL_ONLY, ExperimentContext, ExperimentRun, Table, register
from reglab.experiments._common import fmt_pm, stat
from reglab.experiments._plot import PALETTE, new_figure
from reglab.models import PLAYGROUND_FEATURE_NAMES
from reglab.regularize.conventions import convert

RATES = (0.0, 0.3)
DATA = {"name": "xor", "n_points": 160, "noise": 40.0, "train_ratio": 30.0}
GRID = 51  # decision-boundary grid per axis
CLASS_COLORS = {0: "#f59322", 1: "#0877bd"}  # the Playground's orange (negative) and blue (positive)


def _config(rate: float, seed: int, quick: bool) -> dict:
    alpha = convert(rate, "playground", "reglab")
    return {
        "name": f"playground-l2 rate={rate:g} seed={seed}",
        "data": {**DATA, "seed": seed},
        "model": {"kind": "logistic", "features": "playground"},
        "train": {"epochs": 80 if quick else 500, "seed": seed, "batch_size": 10, "lr": 0.01,
                  "checkpoint_every": FINAL_ONLY},
        "regularizer": [{"kind": "l2", "alpha": alpha}],  # rate 0 too: a seed's rates share one pass
    }


def _linear(model: nn.Module) -> nn.Linear:
    return next(m for m in model.modules() if isinstance(m, nn.Linear))


def _boundary(model: nn.Module, lim: float) -> list[list[float]]:
    """P(class 1 | x) on a GRID × GRID lattice of [−lim, lim]² (rows: x2, columns: x1)."""
    axis = torch.linspace(-lim, lim, GRID, dtype=torch.float64)
    x2, x1 = torch.meshgrid(axis, axis, indexing="ij")
    points = torch.stack([x1.reshape(-1), x2.reshape(-1)], dim=1)
    model = model.cpu().double().eval()
    with torch.no_grad():
        prob = torch.softmax(model(points), dim=1)[:, 1]
    return np.round(prob.reshape(GRID, GRID).numpy(), 5).tolist()


def _one_run(result: ExperimentRun) -> dict:
    layer = _linear(result.model)
    W = layer.weight.detach().cpu().double()
    b = layer.bias.detach().cpu().double()
    final = result.final
    return {
        "train_loss": final["train_loss"], "test_loss": final["test_loss"],
        "gap": final["test_loss"] - final["train_loss"],
        "train_error": final["train_error"], "test_error": final["test_error"],
        "weight_matrix": W.tolist(), "bias": b.tolist(),
        "feature_weights": (W[1] - W[0]).tolist(), "feature_bias": float(b[1] - b[0]),
        "curve_train_loss": [h["train_loss"] for h in result.history],
        "curve_test_loss": [h["test_loss"] for h in result.history],
        "model": result.model, "splits": result.splits,
    }


def compute(ctx: ExperimentContext) -> dict:
    runs: dict[float, list[dict]] = {rate: [] for rate in RATES}
    grid = [(rate, seed) for seed in range(ctx.seeds) for rate in RATES]
    for (rate, _), result in zip(grid, ctx.train_many([_config(rate, seed, ctx.quick) for rate, seed in grid])):
        runs[rate].append(_one_run(result))

    splits = runs[RATES[0]][0]["splits"]  # seed 0's data, as the trainer loaded it
    everything = torch.cat([splits.train.x, splits.test.x])
    lim = float(math.ceil(float(everything.abs().max()) + 0.5))
    per_rate = {f"{rate:g}": _aggregate(rate, rows, lim) for rate, rows in runs.items()}
    points = {name: {"x": getattr(splits, name).x.tolist(), "y": getattr(splits, name).y.tolist()}
              for name in ("train", "test")}

    summary = {
        "convention": "Playground's regularization rate = reglab α (conventions.convert(rate, 'playground', "
                      "'reglab')); α multiplies (α/2)‖W‖² added to the MEAN cross-entropy (torch weight_decay); "
                      f"Nielsen's λ = α·n = α·{len(splits.train)}; biases not penalized",
        "differences_from_playground": "cross-entropy with two logits instead of ½(tanh − y)²; the weight of "
                                       "feature j is v_j = W[1,j] − W[0,j] (log-odds of class 1); at the "
                                       "penalized optimum the penalty on v is (α/4)‖v‖²",
        "data": {**DATA, "sizes": splits.sizes()},
        "features": list(PLAYGROUND_FEATURE_NAMES),
        "epochs": _config(0.0, 0, ctx.quick)["train"]["epochs"],
        "per_rate": per_rate,
        "boundary_extent": [-lim, lim],
        "boundary_grid": GRID,
        "points_seed0": points,
    }
    ctx.configs.update({f"rate {r:g}": _config(r, 0, ctx.quick) for r in RATES})
    return summary


def figures(summary: dict) -> dict:
    per_rate, lim = summary["per_rate"], summary["boundary_extent"][1]
    return {"feature_weights": _weights_figure(per_rate),
            "decision_boundaries": _boundary_figure(per_rate, summary["points_seed0"], lim),
            "losses": _loss_figure(per_rate)}


def tables(summary: dict) -> list[Table]:
    per_rate = summary["per_rate"]
    table = Table("Task 1 (rate 0) vs Task 2 (rate 0.3), mean ± sd over seeds",
                  ["rate = α", "train loss", "test loss", "gap (test − train)", "test error", "‖v‖₂"],
                  [[key, fmt_pm(row["train_loss"]["values"]), fmt_pm(row["test_loss"]["values"]),
                    fmt_pm(row["gap"]["values"]), fmt_pm(row["test_error"]["values"], 3),
                    fmt_pm(row["weight_norm"]["values"], 3)] for key, row in per_rate.items()])
    weights_table = Table("learned weight vⱼ = W[1,j] − W[0,j] of each feature and cross (mean over seeds)",
                          ["feature", *[f"rate {k}" for k in per_rate]],
                          [[name, *[f"{per_rate[k]['feature_weights']['mean'][j]:+.3f}" for k in per_rate]]
                           for j, name in enumerate(PLAYGROUND_FEATURE_NAMES)])
    return [table, weights_table]


def reading(summary: dict) -> str:
    return _reading(summary["per_rate"])


def _aggregate(rate: float, rows: list[dict], lim: float) -> dict:
    def over_seeds(key: str) -> dict:
        return stat([r[key] for r in rows], keep=True)

    weights = np.array([r["feature_weights"] for r in rows])
    norms = [float(np.linalg.norm(w)) for w in weights]
    epochs = len(rows[0]["curve_train_loss"])
    return {
        "rate": rate, "alpha": convert(rate, "playground", "reglab"),
        "train_loss": over_seeds("train_loss"), "test_loss": over_seeds("test_loss"), "gap": over_seeds("gap"),
        "train_error": over_seeds("train_error"), "test_error": over_seeds("test_error"),
        "weight_norm": stat(norms, keep=True),
        "feature_weights": {"mean": weights.mean(0).tolist(),
                            "sd": (weights.std(0, ddof=1) if len(rows) > 1 else 0 * weights[0]).tolist()},
        "per_seed": [{k: v for k, v in r.items() if k not in ("model", "splits", "curve_train_loss", "curve_test_loss")}
                     for r in rows],
        "curve_train_loss": [float(np.mean([r["curve_train_loss"][e] for r in rows])) for e in range(epochs)],
        "curve_test_loss": [float(np.mean([r["curve_test_loss"][e] for r in rows])) for e in range(epochs)],
        "boundary_seed0": _boundary(rows[0]["model"], lim),
    }


def _weights_figure(per_rate: dict):
    fig, axes = new_figure(1, 1, width=7.5, height=3.8)
    ax = axes[0, 0]
    names = list(PLAYGROUND_FEATURE_NAMES)
    x = np.arange(len(names))
    width = 0.38
    for i, (key, row) in enumerate(per_rate.items()):
        fw = row["feature_weights"]
        ax.bar(x + (i - 0.5) * width, fw["mean"], width, yerr=fw["sd"] if any(fw["sd"]) else None,
               color=PALETTE[i], label=f"rate {key} (‖v‖₂ = {row['weight_norm']['mean']:.2f})", capsize=3)
    ax.axhline(0.0, color="black", lw=0.8)
    ax.set_xticks(x, [n.replace("^2", "²").replace("*", "·") for n in names])
    ax.set(xlabel="feature / feature cross", ylabel="learned weight vⱼ (log-odds of class 1)",
           title="Learned weight of each feature and cross: L2 rate 0 vs 0.3")
    ax.legend(fontsize=8)
    return fig


def _boundary_figure(per_rate: dict, points: dict, lim: float):
    from matplotlib.colors import LinearSegmentedColormap

    cmap = LinearSegmentedColormap.from_list("playground", [CLASS_COLORS[0], "#ffffff", CLASS_COLORS[1]])
    fig, axes = new_figure(len(per_rate), 1, width=4.6, height=4.4)
    axis = np.linspace(-lim, lim, GRID)
    for ax, (key, row) in zip(axes[0], per_rate.items()):
        prob = np.array(row["boundary_seed0"])
        ax.contourf(axis, axis, prob, levels=np.linspace(0, 1, 21), cmap=cmap, alpha=0.75)
        ax.contour(axis, axis, prob, levels=[0.5], colors="black", linewidths=1.2)
        for name, marker, edge in (("train", "o", "white"), ("test", "s", "black")):
            xy, y = np.array(points[name]["x"]), np.array(points[name]["y"])
            for label in (0, 1):
                sel = y == label
                ax.scatter(xy[sel, 0], xy[sel, 1], c=CLASS_COLORS[label], marker=marker, s=22, edgecolors=edge,
                           linewidths=0.7, label=f"{name}, class {label}")
        seed0 = row["per_seed"][0]
        ax.set(xlim=(-lim, lim), ylim=(-lim, lim), xlabel="x1", ylabel="x2", aspect="equal",
               title=f"rate {key}: train loss {seed0['train_loss']:.3f}, test loss {seed0['test_loss']:.3f}")
        ax.title.set_fontsize(9)
        ax.grid(False)
    axes[0, -1].legend(fontsize=7, loc="lower right", framealpha=0.8)
    fig.suptitle("Decision boundary P(class 1) = ½ (black), seed 0: circles train, squares test", y=1.0)
    return fig


def _loss_figure(per_rate: dict):
    fig, axes = new_figure(2, 1, width=5.0)
    for i, (key, row) in enumerate(per_rate.items()):
        epochs = np.arange(1, len(row["curve_train_loss"]) + 1)
        axes[0, 0].plot(epochs, row["curve_train_loss"], color=PALETTE[i], ls="--", label=f"train, rate {key}")
        axes[0, 0].plot(epochs, row["curve_test_loss"], color=PALETTE[i], label=f"test, rate {key}")
    axes[0, 0].set(xlabel="epoch", ylabel="cross-entropy (mean over examples)", title="loss curves (mean over seeds)")
    axes[0, 0].legend(fontsize=8)
    keys = list(per_rate)
    x = np.arange(3)
    for i, key in enumerate(keys):
        row = per_rate[key]
        means = [row[k]["mean"] for k in ("train_loss", "test_loss", "gap")]
        sds = [row[k]["sd"] for k in ("train_loss", "test_loss", "gap")]
        bars = axes[0, 1].bar(x + (i - 0.5) * 0.38, means, 0.38, yerr=sds if any(sds) else None, capsize=3,
                              color=PALETTE[i], label=f"rate {key}")
        axes[0, 1].bar_label(bars, fmt="%.3f", fontsize=7, label_type="center", color="white")
    axes[0, 1].set_xticks(x, ["train loss", "test loss", "gap (test − train)"])
    axes[0, 1].set(ylabel="cross-entropy", title="after the last epoch")
    axes[0, 1].legend(fontsize=8)
    fig.suptitle("Playground L2 exercise: noisy xor, features + crosses, rate 0 vs 0.3", y=1.02)
    return fig


def _reading(per_rate: dict) -> str:
    a, b = per_rate["0"], per_rate["0.3"]
    t0, t3 = a["test_loss"]["mean"], b["test_loss"]["mean"]
    g0, g3 = a["gap"]["mean"], b["gap"]["mean"]
    n0, n3 = a["weight_norm"]["mean"], b["weight_norm"]["mean"]
    w0, w3 = np.abs(a["feature_weights"]["mean"]), np.abs(b["feature_weights"]["mean"])
    shrunk = int((w3 < w0).sum())
    parts = [f"With rate 0.3 the test loss is {t3:.3f} against {t0:.3f} at rate 0 — "
             f"{'lower, as the exercise expects' if t3 < t0 else 'not lower, unlike what the exercise expects'}."]
    parts.append(f"The gap between test and training loss is {g3:.3f} against {g0:.3f} "
                 f"({'smaller' if g3 < g0 else 'not smaller'} with L2).")
    parts.append(f"{shrunk} of the {len(w0)} feature weights are smaller in magnitude with L2 and their norm "
                 f"falls from {n0:.2f} to {n3:.2f}; the largest weight is on "
                 f"{PLAYGROUND_FEATURE_NAMES[int(w0.argmax())]} at rate 0 and on "
                 f"{PLAYGROUND_FEATURE_NAMES[int(w3.argmax())]} at rate 0.3.")
    if n3 < n0:
        every = "every input" if shrunk == len(w0) else f"{shrunk} of {len(w0)} inputs"
        parts.append(f"In the exercise's words the L2 model is the simpler one: smaller weights on {every}.")
    return " ".join(parts)


register("playground-l2", "Playground L2 exercise: rate 0 vs 0.3 on feature crosses", "seed 002 (Bischl)",
         "Logistic regression on the Playground features and crosses of a small noisy xor set, "
         "L2 rate 0 vs 0.3, 500 epochs: test loss, train–test gap, learned weights, decision boundaries.",
         compute=compute, figures=figures, tables=tables, reading=reading)
