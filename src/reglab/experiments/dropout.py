"""Dropout on MNIST: none vs inverted dropout vs the notes' halving procedure (seed 003; Nielsen ch. 3).

The notes' procedure (seed 003, "Dropout"): for each mini-batch randomly delete
half of the hidden units (inputs and outputs kept), train the thinned network on
the mini-batch, and use the full network with its outgoing hidden weights halved
at test time. reglab's ``dropout`` regularizer has two modes:

* ``"halving"`` — the notes' procedure: one mask per mini-batch, shared by its
  examples, no rescaling while training; at evaluation the hidden activations are
  multiplied by (1 − p) = ½, which is the same network as halving the weights that
  leave them (W·(½h) + b = (½W)·h + b). The experiment checks this on the trained
  model by building the weight-halved network explicitly and comparing its test
  error and logits.
* ``"inverted"`` — today's default (torch ``nn.Dropout``): a mask per example, kept
  units scaled by 1/(1 − p) during training, the plain network at evaluation.

All three runs share data (the first 1,000 images of the bundled MNIST sample, a
training set small enough for a 784-512-512-10 net to overfit, as in Nielsen's
demonstrations), architecture, optimizer and seed; errors are measured in
evaluation mode after every epoch. Convention of the other experiments: α
multiplies a penalty on the *mean* loss (C = C₀ + (α/2)‖w‖², torch's
``weight_decay``; Nielsen's λ = α·n) — no penalty is used here, dropout is the
only regularizer.

References: Nielsen, *Neural Networks and Deep Learning*, ch. 3 ("Dropout");
Hinton et al., arXiv:1207.0580 (2012); Srivastava et al., JMLR 15 (2014);
Goodfellow et al., *Deep Learning*, 2016, §7.12.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from reglab.experiments._base import ExperimentContext, Table, register
from reglab.experiments._common import final_error_rows, summarize_histories
from reglab.experiments._plot import error_curves_figure, seeds_label
from reglab.regularize import DropoutLayer

CONVENTION = ("dropout probability p = 0.5 of each hidden unit (inputs kept); errors measured in eval mode. "
              "Penalty convention of reglab (not used here): α on the mean loss, C = C₀ + (α/2)‖w‖² "
              "(torch weight_decay); Nielsen's λ = α·n.")
P = 0.5
VARIANTS = {"no dropout": None, "inverted dropout": "inverted", "halving (notes)": "halving"}


def _config(variant: str, seed: int, quick: bool) -> dict:
    mode = VARIANTS[variant]
    return {
        "name": f"dropout {variant} seed={seed}",
        "data": {"name": "mnist", "n_train": 500 if quick else 1000},
        "model": {"kind": "mlp", "hidden": [128] if quick else [512, 512], "activation": "relu"},
        "train": {"epochs": 3 if quick else 60, "seed": seed, "batch_size": 64, "lr": 0.05, "momentum": 0.9},
        "regularizer": [] if mode is None else [{"kind": "dropout", "p": P, "mode": mode}],
    }


def compute(ctx: ExperimentContext) -> dict:
    histories: dict[str, list[list[dict]]] = {v: [] for v in VARIANTS}
    halving_checks = []
    grid = [(variant, seed) for seed in range(ctx.seeds) for variant in VARIANTS]
    for (variant, seed), result in zip(grid, ctx.train_many([_config(v, s, ctx.quick) for v, s in grid])):
        histories[variant].append(result.history)
        if VARIANTS[variant] == "halving":
            halving_checks.append(_halved_weights_check(result, seed))
    ctx.configs.update({v: _config(v, 0, ctx.quick) for v in VARIANTS})
    return {"convention": CONVENTION, "p": P,
            "per_variant": {v: summarize_histories(runs) for v, runs in histories.items()},
            "halving_check": halving_checks, "seeds": ctx.seeds,
            "n_train": _config("no dropout", 0, ctx.quick)["data"]["n_train"]}


def figures(summary: dict) -> dict:
    return {"error_curves": _figure(summary["per_variant"], summary["seeds"], summary["n_train"])}


def tables(summary: dict) -> list[Table]:
    return [Table("final errors (mean ± sd over seeds)", ["variant", "train error", "test error", "best test error",
                                                          "test − train"],
                  final_error_rows(summary["per_variant"], gap=True))]


def reading(summary: dict) -> str:
    return _reading(summary["per_variant"], summary["halving_check"])


def _weight_halved_network(model: nn.Sequential) -> nn.Sequential:
    """The notes' test-time network: dropout layers removed, each Linear after one scaled by (1 − p)."""
    layers, factor = [], 1.0
    for module in model:
        if isinstance(module, DropoutLayer):
            factor *= 1.0 - module.p
            continue
        module = copy.deepcopy(module)
        if isinstance(module, nn.Linear) and factor != 1.0:
            with torch.no_grad():
                module.weight.mul_(factor)  # the bias is not scaled: it does not leave a dropped unit
            factor = 1.0
        layers.append(module)
    return nn.Sequential(*layers).eval()


@torch.no_grad()
def _halved_weights_check(result, seed: int) -> dict:
    """Test error of the explicitly weight-halved network vs the error the trainer measured."""
    test = result.splits.test
    model = result.model.eval()
    x = test.x.to(next(model.parameters()).dtype)
    logits_layer, logits_halved = model(x), _weight_halved_network(model)(x)
    error = float((logits_halved.argmax(1) != test.y).double().mean())
    return {"seed": seed, "test_error_trainer": result.final["test_error"],
            "test_error_weights_halved": error,
            "max_abs_logit_difference": float((logits_layer - logits_halved).abs().max())}


def _figure(per_variant: dict, seeds: int, n_train: int):
    # the late epochs are where the variants differ: cut the first epochs' large errors off
    top = min(1.0, 2.5 * min(row["final_test_error"]["mean"] for row in per_variant.values()))
    return error_curves_figure(per_variant, seeds, train_title="training error (eval mode)", ylim=(0, top),
                               suptitle=f"MLP on {n_train:,} MNIST training images, dropout p = {P:g} on hidden "
                                        f"units ({seeds_label(seeds)}{', mean ± sd' if seeds > 1 else ''})")


def _reading(per_variant: dict, checks: list[dict]) -> str:
    test = {v: r["final_test_error"]["mean"] for v, r in per_variant.items()}
    gap = {v: r["final_gap"]["mean"] for v, r in per_variant.items()}
    best = min(test, key=test.get)
    base = test["no dropout"]
    parts = ["Final test error: " + ", ".join(f"{v} {e:.4f}" for v, e in test.items()) + f"; the lowest is {best}."]
    for variant in ("inverted dropout", "halving (notes)"):
        verdict = "lowers" if test[variant] < base else "does not lower"
        parts.append(f"{variant.capitalize()} {verdict} the test error relative to no dropout ({test[variant] - base:+.4f}) and "
                     f"its test − train gap is {gap[variant]:.4f} vs {gap['no dropout']:.4f}.")
    same = all(c["test_error_weights_halved"] == c["test_error_trainer"] for c in checks)
    worst = max(c["max_abs_logit_difference"] for c in checks)
    parts.append("Evaluating the halving-trained net with its outgoing hidden weights explicitly halved gives "
                 + ("the same" if same else "a different") + f" test error as the trainer's (1 − p)-scaled "
                 f"activations (logits agree to {worst:.1e}).")
    return " ".join(parts)


register("dropout", "Dropout on MNIST: none vs inverted vs the notes' halving procedure", "seed 003 (Nielsen ch. 3)",
         "An MLP on the MNIST sample without dropout, with inverted dropout and with the notes' procedure "
         "(one mask per mini-batch, halved weights at test time), p = 0.5.",
         compute=compute, figures=figures, tables=tables, reading=reading)

__all__ = ["compute", "figures", "tables", "reading"]
