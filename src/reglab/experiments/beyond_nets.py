"""The same trade-off outside neural networks: a linear SVM and a pruned decision tree (seed 001).

The notes list regularization beyond networks: (2) SVMs, whose objective
min ½wᵀw + C·Σξᵢ is "regularizer + loss" with the L2 norm, and (3) decision trees,
"a penalty on the number of nodes in the tree". This experiment sweeps the strength
of each on scikit-learn's 8×8 digits (reglab's ``digits`` split, pixels in [0, 1])
and sets the MLP's curve vs the L2 strength α beside them, all on the same data:

- **Linear SVM** (``sklearn.svm.SVC(kernel="linear")``, exact libsvm solver).
  C multiplies the loss, so it is an *inverse* strength: the x-axis is 1/C. For a
  binary problem on m points ½‖w‖² + C·Σξᵢ = C·m·(mean ξ + (1/(2Cm))‖w‖²), i.e.
  reglab's α = 1/(C·m) on the mean hinge loss (multi-class SVC solves one such problem
  per pair of classes, each on its own m).
- **Decision tree** (``DecisionTreeClassifier(ccp_alpha=…)``): minimal cost-complexity
  pruning, R_α(T) = R(T) + α·|leaves(T)| with R the weighted impurity of the leaves
  (Breiman et al. 1984); the notes' "number of nodes" is CART's number of terminal
  nodes. Leaves are reported beside the errors.
- **MLP** trained with reglab (``ctx.train``) with L2 strength α. Convention: α
  multiplies the penalty added to the *mean* loss, C = C₀ + (α/2)‖w‖² (torch's
  ``weight_decay``); Nielsen's λ = α·n.

``ctx.seeds`` repeats everything over seeds s: the digits split, the tree's tie-breaking
and the MLP's initialisation all use s. ``ctx.quick`` uses fewer training points and
a shorter grid.

References: Cortes & Vapnik, "Support-vector networks" (1995); Breiman, Friedman,
Olshen & Stone, *Classification and Regression Trees* (1984), ch. 3; Hastie, Tibshirani &
Friedman, *The Elements of Statistical Learning*, §9.2.2 and §12.2.
"""

from __future__ import annotations

import numpy as np

from reglab.experiments._base import FINAL_ONLY, ExperimentContext, Table, register
from reglab.experiments._common import flat_arrays, fmt_pm, mean_sd_lists
from reglab.experiments._plot import PALETTE, new_figure, seeds_label

CONVENTION = ("MLP: α multiplies the penalty added to the mean training loss, C = C₀ + (α/2)‖w‖² (torch's "
              "weight_decay); Nielsen's λ = α·n. Linear SVM: ½‖w‖² + C·Σξ, C an inverse strength, plotted as 1/C "
              "(α = 1/(C·m) on the mean hinge loss of a binary problem on m points). Tree: cost-complexity "
              "R(T) + ccp_alpha·|leaves|.")

# Each data set: its [data] table (quick and full), the MLP trained on it, and a one-line description.
DATASETS = {
    "digits": {
        "title": "digits (8×8, clean labels)", "short": "digits",
        "data": lambda seed, quick: {"name": "digits", "seed": seed, **({"n_train": 300} if quick else {})},
        "hidden": [64], "epochs": (15, 60),
    },
    "gauss": {
        "title": "noisy 2-D Gaussians (Playground gauss, noise 40%)", "short": "noisy 2-D Gaussians",
        "data": lambda seed, quick: {"name": "gauss", "noise": 40.0, "n_points": 400 if quick else 1000,
                                     "seed": seed},
        "hidden": [64, 64], "epochs": (30, 100),
    },
}


def _grids(quick: bool) -> dict[str, list[float]]:
    if quick:
        return {"svm_inv_c": np.geomspace(1e-2, 1e2, 5).tolist(), "ccp_alpha": [0.0, *np.geomspace(1e-3, 3e-2, 4)],
                "alpha": [0.0, 1e-2, 1e-1]}
    return {"svm_inv_c": np.geomspace(1e-2, 1e2, 9).tolist(), "ccp_alpha": [0.0, *np.geomspace(1e-4, 3e-2, 9)],
            "alpha": [0.0, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1]}


def _mlp_config(dataset: str, alpha: float, seed: int, quick: bool) -> dict:
    spec = DATASETS[dataset]
    return {
        "name": f"beyond-nets {dataset} MLP α={alpha:g} seed={seed}",
        "data": spec["data"](seed, quick),
        "model": {"kind": "mlp", "hidden": spec["hidden"], "activation": "relu"},
        "train": {"epochs": spec["epochs"][0 if quick else 1], "seed": seed, "batch_size": 32, "lr": 0.05,
                  "momentum": 0.9, "checkpoint_every": FINAL_ONLY},
        "regularizer": [{"kind": "l2", "alpha": alpha}],  # α = 0 too: every α of a seed shares one pass
    }


def arrays(dataset: str, seed: int, quick: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The reglab split as flat float64 rows for scikit-learn: the inputs the MLP sees."""
    from reglab.data import load_dataset

    splits = load_dataset(**DATASETS[dataset]["data"](seed, quick))
    (x, y), (x_test, y_test) = flat_arrays(splits.train), flat_arrays(splits.test)
    return x, y, x_test, y_test


def svm_errors(x, y, x_test, y_test, inv_c: float) -> tuple[float, float, int]:
    """Train and test error of a linear SVC with C = 1/inv_c, and its number of support vectors."""
    from sklearn.svm import SVC

    svm = SVC(kernel="linear", C=1.0 / inv_c).fit(x, y)
    return 1.0 - float(svm.score(x, y)), 1.0 - float(svm.score(x_test, y_test)), int(svm.n_support_.sum())


def tree_errors(x, y, x_test, y_test, ccp_alpha: float, seed: int) -> tuple[float, float, int]:
    """Train and test error of a cost-complexity-pruned tree, and its number of leaves."""
    from sklearn.tree import DecisionTreeClassifier

    tree = DecisionTreeClassifier(ccp_alpha=ccp_alpha, random_state=seed).fit(x, y)
    return 1.0 - float(tree.score(x, y)), 1.0 - float(tree.score(x_test, y_test)), int(tree.get_n_leaves())


def _aggregate(strengths: list[float], per_seed: list[list[tuple[float, float, int]]], extra: str) -> dict:
    """Per strength: mean and sd over seeds of train error, test error and the size measure ``extra``."""
    out: dict = {"strength": strengths}
    for i, key in enumerate(("train_error", "test_error", extra)):
        values = [[run[j][i] for run in per_seed] for j in range(len(strengths))]
        out[f"{key}_mean"], out[f"{key}_sd"] = mean_sd_lists(values)
        out[f"{key}_per_seed"] = values
    return out


def _sweep(ctx: ExperimentContext, dataset: str, grids: dict) -> dict:
    """All three methods over their strength grids on one data set, for every seed."""
    svm_runs, tree_runs, mlp_runs = [], [], []
    ctx.log(f"{dataset}: MLP over α × seeds")
    trained = iter(ctx.train_many([_mlp_config(dataset, alpha, seed, ctx.quick)
                                   for seed in range(ctx.seeds) for alpha in grids["alpha"]]))
    for seed in range(ctx.seeds):
        x, y, x_test, y_test = arrays(dataset, seed, ctx.quick)
        ctx.log(f"{dataset}: SVM and tree, seed {seed}")
        svm_runs.append([svm_errors(x, y, x_test, y_test, s) for s in grids["svm_inv_c"]])
        tree_runs.append([tree_errors(x, y, x_test, y_test, a, seed) for a in grids["ccp_alpha"]])
        finals = [next(trained).final for _ in grids["alpha"]]
        mlp_runs.append([(f["train_error"], f["test_error"], f["weight_norm"]) for f in finals])
    methods = {
        "svm": {"name": "linear SVM", "axis": "1/C", **_aggregate(grids["svm_inv_c"], svm_runs, "support_vectors")},
        "tree": {"name": "decision tree", "axis": "ccp_alpha", **_aggregate(grids["ccp_alpha"], tree_runs, "leaves")},
        "mlp": {"name": "MLP with L2", "axis": "α", **_aggregate(grids["alpha"], mlp_runs, "weight_norm")},
    }
    for row in methods.values():
        best = int(np.argmin(row["test_error_mean"]))
        row["best_strength"], row["best_test_error"] = row["strength"][best], row["test_error_mean"][best]
    return {"title": DATASETS[dataset]["title"], "short": DATASETS[dataset]["short"], "n_train": len(y),
            "n_test": len(y_test), "methods": methods}


def compute(ctx: ExperimentContext) -> dict:
    grids = _grids(ctx.quick)
    results = {name: _sweep(ctx, name, grids) for name in DATASETS}
    ctx.configs.update({name: _mlp_config(name, 1e-2, 0, ctx.quick) for name in DATASETS})
    return {"convention": CONVENTION, "svm_C": [1.0 / s for s in grids["svm_inv_c"]], "datasets": results}


def _seeds(results: dict) -> int:
    return len(next(iter(results.values()))["methods"]["mlp"]["train_error_per_seed"][0])


def figures(summary: dict) -> dict:
    return {"error_vs_strength": _figure(summary["datasets"])}


def tables(summary: dict) -> list[Table]:
    results = summary["datasets"]
    return [_table(res, row, _seeds(results), extra) for res in results.values() for row, extra in
            ((res["methods"]["svm"], "support_vectors"), (res["methods"]["tree"], "leaves"),
             (res["methods"]["mlp"], "weight_norm"))]


def reading(summary: dict) -> str:
    return _reading(summary["datasets"])


def _table(res: dict, row: dict, seeds: int, extra: str) -> Table:
    body = [[f"{s:.3g}", fmt_pm(tr, 3), fmt_pm(te, 3), f"{m:.4g}"] for s, tr, te, m in
            zip(row["strength"], row["train_error_per_seed"], row["test_error_per_seed"], row[f"{extra}_mean"])]
    return Table(f"{res['title']}, n = {res['n_train']}: {row['name']}, error vs {row['axis']} "
                 f"(mean ± sd over {seeds} seed(s))", [row["axis"], "train error", "test error",
                                                        extra.replace("_", " ")], body)


def _panel(ax, row: dict, xlabel: str, title: str) -> None:
    """Train/test error vs strength on a log axis; a strength of 0 is drawn as horizontal dotted lines."""
    s = np.asarray(row["strength"])
    pos = s > 0
    for key, color, style in (("train_error", PALETTE[0], "--"), ("test_error", PALETTE[1], "-")):
        mean, sd = np.asarray(row[f"{key}_mean"]), np.asarray(row[f"{key}_sd"])
        ax.plot(s[pos], mean[pos], color=color, ls=style, marker="o", ms=4)
        if sd.any():
            ax.fill_between(s[pos], (mean - sd)[pos], (mean + sd)[pos], color=color, alpha=0.15, lw=0)
        if not pos.all():
            ax.axhline(mean[~pos][0], color=color, ls=":", lw=1.0)
    best = int(np.argmin(row["test_error_mean"]))
    if s[best] > 0:
        ax.axvline(s[best], color="0.5", lw=0.8, ls="-.")
        ax.plot([s[best]], [row["test_error_mean"][best]], marker="*", ms=12, color=PALETTE[1], mec="black", mew=0.6)
    ax.set_xscale("log")
    ax.set(xlabel=xlabel, ylabel="error rate", title=title)


_LEGEND = [
    ("train error", {"color": PALETTE[0], "ls": "--", "marker": "o", "ms": 4}),
    ("test error", {"color": PALETTE[1], "ls": "-", "marker": "o", "ms": 4}),
    ("strength 0 (unpruned tree, α = 0), dotted", {"color": "0.3", "ls": ":"}),
    ("lowest test error", {"color": "0.5", "ls": "-.", "marker": "*", "ms": 10, "mfc": PALETTE[1], "mec": "black"}),
    ("number of leaves (right axis)", {"color": PALETTE[2], "marker": "^", "ms": 4}),
]


def _figure(results: dict):
    from matplotlib.lines import Line2D

    seeds = _seeds(results)
    fig, axes = new_figure(3, len(results), width=4.6, height=3.6)
    for r, res in enumerate(results.values()):
        svm, tree, mlp = res["methods"]["svm"], res["methods"]["tree"], res["methods"]["mlp"]
        where = f"{res['short']}, n = {res['n_train']}"
        _panel(axes[r, 0], svm, "1/C  (C in ½‖w‖² + C·Σξ; stronger →)", f"linear SVM — {where}")
        _panel(axes[r, 1], tree, "ccp_alpha  (penalty per leaf; stronger →)", f"pruned tree — {where}")
        _panel(axes[r, 2], mlp, "α  (L2 on the mean loss; stronger →)", f"MLP with L2 (reglab) — {where}")
        twin = axes[r, 1].twinx()
        pos = np.asarray(tree["strength"]) > 0
        twin.plot(np.asarray(tree["strength"])[pos], np.asarray(tree["leaves_mean"])[pos], color=PALETTE[2],
                  marker="^", ms=4, lw=1.2)
        twin.set_ylim(bottom=0)
        twin.set_ylabel("number of leaves", color=PALETTE[2])
        twin.tick_params(axis="y", colors=PALETTE[2])
    fig.suptitle(f"The regularization trade-off beyond neural networks: train and test error vs strength "
                 f"({seeds_label(seeds)}{', ± sd shaded' if seeds > 1 else ''})")
    fig.tight_layout()
    handles = [Line2D([], [], **style) for _, style in _LEGEND]
    fig.legend(handles, [label for label, _ in _LEGEND], loc="upper center", ncol=len(_LEGEND), fontsize=8.5,
               bbox_to_anchor=(0.5, 0.0), frameon=False)
    return fig


def _best(row: dict) -> str:
    te = row["test_error_mean"]
    best = int(np.argmin(te))
    ties = sum(abs(v - te[best]) < 1e-12 for v in te)
    where = ("at the weakest setting" if best == 0 else "at the strongest setting" if best == len(te) - 1
             else "at an intermediate strength")
    tied = f", tied with {ties - 1} other setting{'s' * (ties > 2)}" if ties > 1 else ""
    weakest = f"; {te[0]:.3f} at the weakest" if best > 0 else ""
    return f"{row['name']} {te[best]:.3f} {where} ({row['axis']} = {row['strength'][best]:.3g}{tied}{weakest})"


def _reading(results: dict) -> str:
    parts = []
    for res in results.values():
        methods = res["methods"]
        rises = all(m["train_error_mean"][-1] > m["train_error_mean"][0] for m in methods.values())
        trend = "rises with strength for all three methods" if rises else "does not rise with strength for every method"
        best = "; ".join(_best(m) for m in methods.values())
        parts.append(f"On {res['title']} training error {trend}; the lowest test error is: {best}.")
    gains = {name: res["methods"]["tree"]["test_error_mean"][0] - res["methods"]["tree"]["best_test_error"]
             for name, res in results.items()}
    leaves = {name: (res["methods"]["tree"]["leaves_mean"][0],
                     res["methods"]["tree"]["leaves_mean"][int(np.argmin(res["methods"]["tree"]["test_error_mean"]))])
              for name, res in results.items()}
    names = list(results)
    clean, noisy = gains[names[0]], gains[names[1]]
    verdict = (f"pruning paid more on the noisy {names[1]} set, where the unpruned tree fits the noise"
               if noisy > clean + 1e-9 else f"pruning did not pay more on the noisy {names[1]} set than on "
               f"{names[0]} in this run")
    parts.append("Pruning lowers the tree's best test error below the unpruned one by " + " and by ".join(
        f"{gains[n]:.3f} on {n} ({leaves[n][0]:.0f} → {leaves[n][1]:.0f} leaves)" for n in names) + f": {verdict}.")
    return " ".join(parts)


register("beyond-nets", "Beyond neural networks: SVM margin and tree pruning vs the MLP's L2",
         "seed 001 (SVMs; decision trees)",
         "Train and test error vs regularization strength for a linear SVM (1/C), a cost-complexity pruned "
         "decision tree (ccp_alpha, leaves) and an MLP with L2 (α), on digits and on noisy 2-D Gaussians.",
         compute=compute, figures=figures, tables=tables, reading=reading)
