"""Artificial expansion of the training data (seed 003, "Generating artificial training data"; Nielsen ch. 3).

The notes: "Rotating 5 by 15 degrees to the left yields new training datum"; other
techniques are translating, skewing and "elastic distortions" (Simard, Steinkraus
& Platt 2003). Two parts:

1. **The four transforms** on one MNIST digit of each class, drawn with
   :mod:`reglab.data.augment`: rotation by +15° (counter-clockwise as displayed, the
   notes' "to the left"), a whole-pixel translation, a horizontal shear (skew) and
   Simard's elastic distortion (α = 34, σ = 4 pixels), and finally the
   random combination that training uses. The deterministic ``rotate_by``,
   ``translate_by`` and ``skew_by`` are used, the elastic field from a seeded
   generator, so the figure is reproducible; the pixels are in the summary.
2. **Test error with and without the expanded data** for an MLP on a small part
   of the bundled MNIST sample: the original training set, *online* augmentation
   (every mini-batch transformed afresh, the ``[augment]`` table with
   ``mode = "online"``), and *offline* expansion (``copies`` transformed copies
   appended once, ``mode = "offline"``).

Convention of reglab for penalties (none used here): α multiplies the penalty on
the *mean* loss, C = C₀ + (α/2)‖w‖² (torch's ``weight_decay``); Nielsen's λ = α·n.

References: Nielsen, *Neural Networks and Deep Learning*, ch. 3 ("Artificially
expanding the training data"); P. Simard, D. Steinkraus, J. Platt, "Best Practices
for Convolutional Neural Networks Applied to Visual Document Analysis", ICDAR 2003.
"""

from __future__ import annotations

import numpy as np
import torch

from reglab.data import load_dataset
from reglab.data.augment import Augmenter, elastic, rotate_by, skew_by, translate_by
from reglab.experiments._base import ExperimentContext, Table, register
from reglab.experiments._common import final_error_rows, summarize_histories
from reglab.experiments._plot import error_curves_figure, seeds_label, subplots

CONVENTION = ("Angles in degrees (positive = counter-clockwise as displayed), shifts in whole pixels (right, down), "
              "skew k: x' = x + k·y, elastic α and σ in pixels. Penalty convention of reglab (not used here): α on "
              "the mean loss, C = C₀ + (α/2)‖w‖² (torch weight_decay); Nielsen's λ = α·n.")
ROTATION, SHIFT, SHEAR, ELASTIC_ALPHA, ELASTIC_SIGMA = 15.0, (3, -2), 0.3, 34.0, 4.0
FIGURE_SEED = 3
AUGMENT = {"rotation": 15.0, "translation": 2, "skew": 0.2, "elastic_alpha": 34.0, "elastic_sigma": 4.0}


def _variants(quick: bool) -> dict[str, dict | None]:
    copies = 1 if quick else 4
    return {"original data": None,
            "online augmentation": {"mode": "online", **AUGMENT},
            f"offline expansion (×{copies + 1})": {"mode": "offline", "copies": copies, **AUGMENT}}


def _config(variant: str, augment: dict | None, seed: int, quick: bool) -> dict:
    return {
        "name": f"augmentation {variant} seed={seed}",
        "data": {"name": "mnist", "n_train": 300 if quick else 1000},
        "model": {"kind": "mlp", "hidden": [64] if quick else [256], "activation": "relu"},
        "train": {"epochs": 3 if quick else 40, "seed": seed, "batch_size": 64, "lr": 0.05, "momentum": 0.9},
        **({"augment": augment} if augment is not None else {}),
    }


def compute(ctx: ExperimentContext) -> dict:
    gallery = _gallery()
    variants = _variants(ctx.quick)
    histories: dict[str, list[list[dict]]] = {v: [] for v in variants}
    grid = [(variant, augment, seed) for seed in range(ctx.seeds) for variant, augment in variants.items()]
    for (variant, _, _), run in zip(grid, ctx.train_many([_config(v, a, s, ctx.quick) for v, a, s in grid])):
        histories[variant].append(run.history)
    ctx.configs.update({v: _config(v, a, 0, ctx.quick) for v, a in variants.items()})
    return {"convention": CONVENTION, "gallery": gallery, "augment": AUGMENT,
            "n_train": _config("x", None, 0, ctx.quick)["data"]["n_train"],
            "per_variant": {v: summarize_histories(runs) for v, runs in histories.items()}, "seeds": ctx.seeds}


def figures(summary: dict) -> dict:
    return {"transforms": _gallery_figure(summary["gallery"]),
            "error_curves": _error_figure(summary["per_variant"], summary["seeds"], summary["n_train"])}


def tables(summary: dict) -> list[Table]:
    return [Table("final errors (mean ± sd over seeds)", ["training data", "train error", "test error",
                                                          "best test error"], final_error_rows(summary["per_variant"]))]


def reading(summary: dict) -> str:
    return _reading(summary["per_variant"], summary["gallery"])


# ---------------------------------------------------------------- the transforms


def _gallery() -> dict:
    """One training digit of each class and its transforms.

    The summary keeps the indices, the parameters, ink and centroid of every image,
    the pixels of the digit 5 (the notes' example) in every row to 6 decimals, and
    every image's pixels to 3 decimals (what the figure draws).
    """
    splits = load_dataset("mnist")
    labels = splits.train.y
    index = [int(torch.nonzero(labels == digit)[0]) for digit in range(10)]
    x = splits.train.x[index].double()
    rows = {
        f"rotation +{ROTATION:g}° (to the left)": rotate_by(x, ROTATION),
        f"translation ({SHIFT[0]:+d}, {SHIFT[1]:+d}) px": translate_by(x, float(SHIFT[0]), float(SHIFT[1])),
        f"skew k = {SHEAR:g}": skew_by(x, SHEAR),
        f"elastic α = {ELASTIC_ALPHA:g}, σ = {ELASTIC_SIGMA:g}": elastic(
            x, ELASTIC_ALPHA, ELASTIC_SIGMA, torch.Generator().manual_seed(FIGURE_SEED)),
        "random combination (as in training)": Augmenter(**{k: v for k, v in AUGMENT.items()})(
            x, torch.Generator().manual_seed(FIGURE_SEED)),
    }
    images = {"original": x, **rows}
    return {"train_indices": index, "labels": labels[index].tolist(), "seed": FIGURE_SEED,
            "parameters": {"rotation_deg": ROTATION, "shift_px": list(SHIFT), "skew": SHEAR,
                           "elastic_alpha": ELASTIC_ALPHA, "elastic_sigma": ELASTIC_SIGMA, "combination": AUGMENT},
            "digit5_pixels": {k: np.round(v[5, 0].numpy(), 6).tolist() for k, v in images.items()},
            "ink": {k: v.sum(dim=(1, 2, 3)).tolist() for k, v in images.items()},
            "centroid": {k: _centroids(v).tolist() for k, v in images.items()},
            "pixels": {k: np.round(v[:, 0].numpy(), 3).tolist() for k, v in images.items()}}


def _centroids(images: torch.Tensor) -> torch.Tensor:
    """(x, y) ink centroid of each image in pixels from the image centre (x right, y down)."""
    h, w = images.shape[-2:]
    ys = torch.arange(h, dtype=images.dtype) - (h - 1) / 2
    xs = torch.arange(w, dtype=images.dtype) - (w - 1) / 2
    mass = images[:, 0].sum(dim=(1, 2))
    cx = (images[:, 0].sum(dim=1) * xs).sum(dim=1) / mass
    cy = (images[:, 0].sum(dim=2) * ys).sum(dim=1) / mass
    return torch.stack([cx, cy], dim=1)


def _gallery_figure(gallery: dict):
    rows = gallery["pixels"]
    n_cols = len(gallery["labels"])
    fig, axes = subplots(len(rows), n_cols, figsize=(1.05 * n_cols + 1.8, 1.15 * len(rows)))
    for r, (label, images) in enumerate(rows.items()):
        for c in range(n_cols):
            ax = axes[r][c]
            ax.imshow(np.asarray(images[c]), cmap="gray_r", vmin=0.0, vmax=1.0)
            ax.set_xticks([])
            ax.set_yticks([])
        axes[r][0].set_ylabel(label, rotation=0, ha="right", va="center", fontsize=8)
    for c, digit in enumerate(gallery["labels"]):
        axes[0][c].set_title(f"label {digit}", fontsize=8)
    fig.suptitle("Artificial training data (Simard et al. 2003): each row applies one transform to the originals")
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------- training with and without


def _error_figure(per_variant: dict, seeds: int, n_train: int):
    return error_curves_figure(per_variant, seeds, train_title="training error (original training images)",
                               suptitle=f"MLP on {n_train:,} MNIST training images with and without artificial "
                                        f"expansion ({seeds_label(seeds)})")


def _reading(per_variant: dict, gallery: dict) -> str:
    test = {v: r["final_test_error"]["mean"] for v, r in per_variant.items()}
    train = {v: r["final_train_error"]["mean"] for v, r in per_variant.items()}
    base = test["original data"]
    parts = ["Final test error: " + ", ".join(f"{v} {e:.4f}" for v, e in test.items()) + "."]
    for variant, error in test.items():
        if variant == "original data":
            continue
        parts.append(f"With {variant} the test error is {'lower' if error < base else 'not lower'} than on the "
                     f"original data ({error - base:+.4f}); training error {train[variant]:.4f} vs "
                     f"{train['original data']:.4f}.")
    parts.append("An offline epoch passes over the expanded set, an online or original-data epoch over the "
                 "original number of images, so the offline run also took more gradient steps.")
    ink = gallery["ink"]
    change = {k: abs(np.mean(v) / np.mean(ink["original"]) - 1) for k, v in ink.items() if k != "original"}
    worst = max(change, key=change.get)
    parts.append(f"The transforms keep the digits' ink within {100 * change[worst]:.1f}% ({worst} changes it most).")
    return " ".join(parts)


register("augmentation", "Artificial expansion of MNIST: rotation, translation, skew, elastic distortion",
         "seed 003 (Nielsen ch. 3; Simard et al. 2003)",
         "The four transforms on sample digits, and the test error of an MLP trained on a small MNIST set "
         "without augmentation, with online augmentation and with an offline-expanded training set.",
         compute=compute, figures=figures, tables=tables, reading=reading)

__all__ = ["compute", "figures", "tables", "reading"]
