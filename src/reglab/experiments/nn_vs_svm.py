"""A neural net against an SVM as the training set grows (seed 003; Nielsen, ch. 3).

Nielsen's "NN versus SVM on the same training data": test accuracy against the
training-set size n for an MLP and a support vector machine, both trained on the
same first n images of the bundled MNIST sample (flattened pixels in [0, 1]) and
both measured on the same 1,000 test images. The notes' point: "don't miss easy
wins by generating more and/or better training data" — the gain from more data can
exceed the gain from a better algorithm.

- MLP: trained with reglab (``ctx.train``, ``data.n_train = n``), mini-batch SGD
  with batch 10 as in Nielsen, plus a light L2 penalty α = 1e-4. Convention: α
  multiplies the penalty added to the *mean* loss, C = C₀ + (α/2)‖w‖² (torch's
  ``weight_decay``); Nielsen's λ = α·n, so α = 1e-4 is his λ = 5 on 50,000 images.
  Epochs shrink as n grows (fewer passes over more data).
- SVM: scikit-learn's ``SVC`` with the RBF kernel and its defaults (C = 1,
  γ = "scale"), the "default settings" SVM Nielsen compares with. It solves
  ½‖w‖² + C·Σξᵢ in the kernel's feature space and is deterministic, so only the MLP
  varies over ``ctx.seeds`` (its initialisation and shuffling); the training subset
  is the same for every seed.

Reference: M. Nielsen, *Neural Networks and Deep Learning*, ch. 3, "Other
techniques for regularization: artificially expanding the training data" (the NN
vs SVM figure); Cortes & Vapnik (1995) for the SVM.
"""

from __future__ import annotations

import math


from reglab.data import Splits
from reglab.experiments._base import FINAL_ONLY, ExperimentContext, Table, register
from reglab.experiments._common import flat_arrays, fmt_pm, mean_sd_lists
from reglab.experiments._plot import PALETTE, new_figure

SIZES = [100, 250, 500, 1000, 2500, 5000]
QUICK_SIZES = [100, 250, 500]
ALPHA = 1e-4
SVM_PARAMS = {"kernel": "rbf", "C": 1.0, "gamma": "scale"}
CONVENTION = ("α multiplies the penalty added to the mean training loss, C = C₀ + (α/2)‖w‖² (torch's weight_decay); "
              "Nielsen's λ = α·n. The SVM (scikit-learn SVC, RBF kernel) minimizes ½‖w‖² + C·Σξ with C = 1, "
              "an inverse strength.")


def _epochs(n: int, quick: bool) -> int:
    """Fewer passes over more data: ≈ 600/√n epochs (300/√n quick), clipped."""
    scale, low, high = (300, 10, 30) if quick else (600, 20, 60)
    return int(min(high, max(low, round(scale / math.sqrt(n)))))


def _config(n: int, seed: int, quick: bool) -> dict:
    return {
        "name": f"nn-vs-svm n={n} seed={seed}",
        "data": {"name": "mnist", "n_train": n},
        "model": {"kind": "mlp", "hidden": [30] if quick else [100], "activation": "relu"},
        "train": {"epochs": _epochs(n, quick), "seed": seed, "batch_size": 10, "lr": 0.1, "checkpoint_every": FINAL_ONLY},
        "regularizer": [{"kind": "l2", "alpha": ALPHA}],
    }


def svm_accuracy(n: int, splits: Splits | None = None) -> tuple[float, float, int]:
    """Train and test accuracy of the default RBF SVC on the first n training images, and its support vectors.

    ``splits`` is the MNIST sample with ``n_train = n`` (what the MLP of that size trained on); by
    default it is loaded.
    """
    from sklearn.svm import SVC

    if splits is None:
        from reglab.data import load_dataset

        splits = load_dataset("mnist", n_train=n)
    (x, y), (x_test, y_test) = flat_arrays(splits.train), flat_arrays(splits.test)
    svc = SVC(**SVM_PARAMS).fit(x, y)
    return float(svc.score(x, y)), float(svc.score(x_test, y_test)), int(svc.n_support_.sum())


def compute(ctx: ExperimentContext) -> dict:
    sizes = QUICK_SIZES if ctx.quick else SIZES
    mlp_test: dict[int, list[float]] = {n: [] for n in sizes}
    mlp_train: dict[int, list[float]] = {n: [] for n in sizes}
    trained_on = {}  # n → the splits ctx.train loaded (the same for every seed)
    grid = [(n, seed) for seed in range(ctx.seeds) for n in sizes]  # one pass per size: its seeds together
    for (n, _), result in zip(grid, ctx.train_many([_config(n, seed, ctx.quick) for n, seed in grid])):
        final, trained_on[n] = result.final, result.splits
        mlp_test[n].append(1.0 - final["test_error"])
        mlp_train[n].append(1.0 - final["train_error"])
    svm = {}
    for n in sizes:
        ctx.log(f"SVM n = {n}")
        svm[n] = svm_accuracy(n, trained_on[n])

    mlp_mean, mlp_sd = mean_sd_lists([mlp_test[n] for n in sizes])
    svm_test = [svm[n][1] for n in sizes]
    summary = {
        "convention": CONVENTION,
        "data": "bundled MNIST sample: first n of 5,000 training images, the same 1,000 test images for both methods",
        "sizes": sizes,
        "mlp": {"hidden": _config(sizes[0], 0, ctx.quick)["model"]["hidden"], "alpha": ALPHA,
                "nielsen_lambda": {str(n): ALPHA * n for n in sizes},
                "epochs": {str(n): _epochs(n, ctx.quick) for n in sizes},
                "test_accuracy_mean": mlp_mean, "test_accuracy_sd": mlp_sd,
                "test_accuracy_per_seed": [mlp_test[n] for n in sizes],
                "train_accuracy_mean": mean_sd_lists([mlp_train[n] for n in sizes])[0]},
        "svm": {"params": SVM_PARAMS, "test_accuracy": svm_test, "train_accuracy": [svm[n][0] for n in sizes],
                "support_vectors": [svm[n][2] for n in sizes]},
    }
    ctx.configs["example"] = _config(sizes[-1], 0, ctx.quick)
    return summary


def figures(summary: dict) -> dict:
    mlp = summary["mlp"]
    seeds = len(mlp["test_accuracy_per_seed"][0])
    return {"accuracy_vs_n": _figure(summary["sizes"], mlp["test_accuracy_mean"],
                                     mlp["test_accuracy_sd"] if seeds > 1 else None, summary["svm"]["test_accuracy"])}


def tables(summary: dict) -> list[Table]:
    mlp, svm = summary["mlp"], summary["svm"]
    seeds = len(mlp["test_accuracy_per_seed"][0])
    rows = [[n, fmt_pm(mlp["test_accuracy_per_seed"][i], 3), f"{svm['test_accuracy'][i]:.3f}",
             f"{mlp['train_accuracy_mean'][i]:.3f}", f"{svm['train_accuracy'][i]:.3f}", svm["support_vectors"][i]]
            for i, n in enumerate(summary["sizes"])]
    return [Table(f"accuracy vs training-set size (MLP mean ± sd over {seeds} seed(s); SVM deterministic)",
                  ["n", "MLP test", "SVM test", "MLP train", "SVM train", "support vectors"], rows)]


def reading(summary: dict) -> str:
    return _reading(summary["sizes"], summary["mlp"]["test_accuracy_mean"], summary["svm"]["test_accuracy"])


def _figure(sizes: list[int], mlp_mean: list[float], mlp_sd: list[float] | None, svm_test: list[float]):
    fig, axes = new_figure(1, 1, width=6.0, height=4.2)
    ax = axes[0, 0]
    ax.errorbar(sizes, mlp_mean, yerr=mlp_sd, color=PALETTE[0], marker="o",
                capsize=3, label="neural net (MLP, reglab)")
    ax.plot(sizes, svm_test, color=PALETTE[1], marker="s", label="SVM (RBF, scikit-learn)")
    ax.set_xscale("log")
    ax.set_xticks(sizes, [f"{n:,}" for n in sizes])
    ax.minorticks_off()
    ax.set(xlabel="training-set size n (log scale)", ylabel="test accuracy",
           title="NN versus SVM on the same training data (MNIST sample)")
    ax.legend(loc="lower right")
    return fig


def _reading(sizes: list[int], mlp: list[float], svm: list[float]) -> str:
    n_min, n_max = sizes[0], sizes[-1]
    mlp_wins = [n for n, a, b in zip(sizes, mlp, svm) if a > b]
    if len(mlp_wins) == len(sizes):
        who = "The neural net is more accurate than the SVM at every size"
    elif not mlp_wins:
        who = "The SVM is more accurate than the neural net at every size"
    else:
        who = f"The neural net is ahead at n = {', '.join(map(str, mlp_wins))} and the SVM at the other sizes"
    parts = [f"{who}; at n = {n_max} the accuracies are {mlp[-1]:.3f} (MLP) and {svm[-1]:.3f} (SVM)."]
    parts.append(f"Going from n = {n_min} to n = {n_max} raises the MLP by {mlp[-1] - mlp[0]:+.3f} and the SVM by "
                 f"{svm[-1] - svm[0]:+.3f}.")
    gaps = [abs(a - b) for a, b in zip(mlp, svm)]
    worse_big = min(mlp[-1], svm[-1])
    better_small = max(mlp[-2], svm[-2])
    data_wins = worse_big > better_small
    verdict = "beats" if data_wins else "does not beat"
    moral = ("as the notes say, more data was the bigger win here" if data_wins
             else "here the data gain did not outweigh the choice of method, unlike the notes")
    parts.append(f"The weaker method at n = {n_max} ({worse_big:.3f}) {verdict} the stronger one at n = {sizes[-2]} "
                 f"({better_small:.3f}), while the method gap at a fixed size is at most {max(gaps):.3f}: {moral}.")
    return " ".join(parts)


register("nn-vs-svm", "A neural net vs an SVM as the training set grows", "seed 003 (Nielsen ch. 3)",
         "Test accuracy vs training-set size on the MNIST sample for an MLP (reglab) and an RBF SVM (scikit-learn).",
         compute=compute, figures=figures, tables=tables, reading=reading)
