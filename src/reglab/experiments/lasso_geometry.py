"""The geometry of L1 regularization: soft thresholding with a diagonal Hessian (seeds 001, 002).

With the quadratic model C₀(w) ≈ C₀(w*) + ½Σᵢ Hᵢᵢ(wᵢ − w*ᵢ)² (a diagonal Hessian,
as after PCA whitening of the inputs of a linear model), the minimizer of
C₀ + α‖w‖₁ separates by coordinate:

    w̃ᵢ = sign(w*ᵢ)·max(|w*ᵢ| − α/Hᵢᵢ, 0),

so coordinate i is exactly 0 once α ≥ |w*ᵢ|·Hᵢᵢ (Goodfellow et al. §7.1.2;
Bischl, seed 002; the handwritten notes, seed 001). The first coordinate to
vanish is the one with the smallest |w*ᵢ|·Hᵢᵢ — not necessarily the smallest
|w*ᵢ|: a weight the loss barely cares about (small Hᵢᵢ) goes first.

(a) Two parameters, H = diag(0.5, 2), w* = (1, 0.6): the ellipses of C₀, the
diamonds of ‖w‖₁ and the path w̃(α), which runs diagonally until w₁ hits 0 at
α = 0.5 (although |w*₁| > |w*₂|), then along the w₂ axis to 0 at α = 1.2.

(b) The whitened least-squares problem ``linear`` with ``whiten = true`` (H = XᵀX/n
exactly diagonal, 10 coordinates, no bias, C₀ = (1/2n)‖Xw − y‖²): the predicted
coefficient path against the L1 minimizer from ``reglab.verify.minimize_fista``,
scikit-learn's ``Lasso(alpha=α)`` (its objective is the same (1/2n)‖y − Xw‖² +
α‖w‖₁), and one run of reglab's ``l1_prox`` regularizer trained with full-batch
gradient steps through ``ctx.train`` (proximal gradient descent, ISTA). Each
predicted zero α = |w*ᵢ|Hᵢᵢ is bracketed by grid points at 0.99 and 1.01 times it.

Convention: α multiplies ‖w‖₁ added to the *mean* training loss (C₀ + α‖w‖₁;
Nielsen's λ is α·n), and H is the Hessian of that mean loss.

Reference: Goodfellow, Bengio & Courville, *Deep Learning*, 2016, §7.1.2;
Tibshirani, "Regression shrinkage and selection via the lasso", JRSS B 1996.
"""

from __future__ import annotations

import numpy as np
import torch

from reglab.experiments._base import ExperimentContext, Table, full_batch_linear_config, register
from reglab.experiments._common import fmt_sci, linear_weight
from reglab.experiments._plot import PALETTE, new_figure, plot_penalty_geometry
from reglab.theory import soft_threshold

# (a) two parameters
H_DIAG_2D = (0.5, 2.0)
W_STAR_2D = (1.0, 0.6)
MARKED_2D = (0.25, 0.5, 0.8, 1.2)
SHOWN_2D = 0.8

# (b) the whitened least-squares problem
DIM = 10
SPECTRUM = np.logspace(-1, 0.5, DIM).round(6).tolist()  # Hᵢᵢ from 0.1 to 3.16


def _two_d() -> dict:
    h, w_star = np.array(H_DIAG_2D), np.array(W_STAR_2D)
    alphas = np.linspace(0.0, 1.4, 141)
    zeros_at = np.abs(w_star) * h
    return {
        "h_diag": h.tolist(), "w_star": w_star.tolist(),
        "path_alphas": alphas.tolist(), "path": soft_threshold(w_star, h, alphas).tolist(),
        "zero_alpha": zeros_at.tolist(), "first_zero": int(np.argmin(zeros_at)),
        "marked_alphas": list(MARKED_2D), "marked_w_tilde": soft_threshold(w_star, h, np.array(MARKED_2D)).tolist(),
        "shown_alpha": SHOWN_2D, "shown_w_tilde": soft_threshold(w_star, h, SHOWN_2D).tolist(),
    }


def _data_config(seed: int) -> dict:
    return {"name": "linear", "dim": DIM, "n": 200, "spectrum": SPECTRUM, "whiten": True, "noise_std": 0.1,
            "seed": seed}


def _prox_config(seed: int, alpha: float, quick: bool) -> dict:
    lr = 2.0 / (max(SPECTRUM) + min(SPECTRUM))  # the fastest constant step for a diagonal quadratic
    return full_batch_linear_config(f"lasso-geometry l1_prox α={alpha:.4g} seed={seed}", _data_config(seed), n=200,
                                    epochs=100 if quick else 300, seed=seed, lr=lr,
                                    regularizer=[{"kind": "l1_prox", "alpha": alpha}])


def _whitened(ctx: ExperimentContext, seed: int, quick: bool) -> dict:
    from sklearn.linear_model import Lasso

    from reglab.curvature import Objective
    from reglab.data import load_dataset
    from reglab.models import build_model
    from reglab.regularize import select_parameters
    from reglab.train import half_mse
    from reglab.verify import minimize_fista

    cfg = ctx.config({"data": _data_config(seed), "model": {"kind": "linear", "bias": False}})
    splits = load_dataset(cfg.data)
    X, y = splits.train.x.double(), splits.train.y.double()
    n = X.shape[0]
    H = X.T @ X / n
    h = torch.diagonal(H)
    offdiag = float((H - torch.diag(h)).norm() / h.norm())
    w_star = torch.linalg.lstsq(X, y).solution[:, 0]
    zero_alpha = (w_star.abs() * h).numpy()

    base = np.logspace(np.log10(0.05 * zero_alpha.min()), np.log10(1.3 * zero_alpha.max()), 12 if quick else 30)
    brackets = np.concatenate([0.99 * zero_alpha, 1.01 * zero_alpha])
    alphas = np.unique(np.concatenate([base, brackets]))
    predicted = soft_threshold(w_star.numpy(), h.numpy(), alphas)

    model = build_model(cfg.model, splits.example_shape, splits.output_dim, seed=seed)
    penalized = [name for name, _ in select_parameters(model, "weights")]
    obj = Objective(model, half_mse, (X, y), dtype=torch.float64, penalized=penalized)
    fista, sk, w_prev = [], [], w_star.clone()
    for alpha in alphas:
        fit = minimize_fista(obj, w_prev, float(alpha), tol=1e-12)
        w_prev = fit.w
        fista.append(fit.w.numpy())
        lasso = Lasso(alpha=float(alpha), fit_intercept=False, tol=1e-12, max_iter=100_000)
        sk.append(lasso.fit(X.numpy(), y[:, 0].numpy()).coef_)
    fista_a, sk_a = np.array(fista), np.array(sk)

    # One run of reglab's l1_prox through the trainer (full batch: proximal gradient descent).
    alpha_demo = float(np.median(zero_alpha))
    run = ctx.train(_prox_config(seed, alpha_demo, quick))
    w_ista = linear_weight(run.model)
    pred_demo = soft_threshold(w_star.numpy(), h.numpy(), alpha_demo)

    below = [int(np.argmin(np.abs(alphas - 0.99 * z))) for z in zero_alpha]
    above = [int(np.argmin(np.abs(alphas - 1.01 * z))) for z in zero_alpha]
    nonzero_below = [bool(fista_a[i, j] != 0) for j, i in enumerate(below)]
    zero_above = [bool(fista_a[i, j] == 0) for j, i in enumerate(above)]
    return {
        "seed": seed, "n": n, "h_diag": h.tolist(), "hessian_offdiag_ratio": offdiag, "w_star": w_star.tolist(),
        "zero_alpha": zero_alpha.tolist(), "zero_order": np.argsort(zero_alpha).tolist(),
        "alphas": alphas.tolist(), "predicted": predicted.tolist(), "fista": fista_a.tolist(), "sklearn": sk_a.tolist(),
        "zeros_predicted": (predicted == 0).sum(1).tolist(), "zeros_fista": (fista_a == 0).sum(1).tolist(),
        "zeros_sklearn": (sk_a == 0).sum(1).tolist(),
        "zero_pattern_match_fista": int(((predicted == 0) == (fista_a == 0)).all(1).sum()),
        "zero_pattern_match_sklearn": int(((predicted == 0) == (sk_a == 0)).all(1).sum()),
        "max_abs_fista_vs_predicted": float(np.abs(fista_a - predicted).max()),
        "max_abs_sklearn_vs_predicted": float(np.abs(sk_a - predicted).max()),
        "nonzero_at_0.99_zero_alpha": nonzero_below, "zero_at_1.01_zero_alpha": zero_above,
        "brackets_hold": all(nonzero_below) and all(zero_above),
        "prox_run": {"run_id": run.run_id, "alpha": alpha_demo, "epochs": len(run.history),
                     "w": w_ista.tolist(), "predicted": pred_demo.tolist(),
                     "max_abs_vs_predicted": float(np.abs(w_ista.numpy() - pred_demo).max()),
                     "zeros": int((w_ista == 0).sum()), "zeros_predicted": int((pred_demo == 0).sum()),
                     "zero_pattern_match": bool(((w_ista.numpy() == 0) == (pred_demo == 0)).all())},
    }


def compute(ctx: ExperimentContext) -> dict:
    two = _two_d()
    cases = []
    for seed in range(ctx.seeds):
        ctx.log(f"whitened least squares, seed {seed}")
        cases.append(_whitened(ctx, seed, ctx.quick))
    ctx.configs.update({"data": _data_config(0),
                        "l1_prox run": _prox_config(0, cases[0]["prox_run"]["alpha"], ctx.quick)})
    return {
        "convention": "α multiplies ‖w‖₁ added to the MEAN training loss, C = C₀ + α‖w‖₁ (Nielsen's λ = α·n); "
                      "H is the Hessian of the mean loss; sklearn Lasso's alpha is the same α for "
                      "C₀ = (1/2n)‖y − Xw‖²",
        "two_d": two, "whitened": cases, "spectrum": SPECTRUM,
    }


def figures(summary: dict) -> dict:
    return {"lasso_quadratic": _two_d_figure(summary["two_d"]), "lasso_path": _path_figure(summary["whitened"][0])}


def tables(summary: dict) -> list[Table]:
    cases = summary["whitened"]
    c0 = cases[0]
    coord_rows = [[i + 1, f"{c0['h_diag'][i]:.3f}", f"{c0['w_star'][i]:+.3f}", f"{c0['zero_alpha'][i]:.4f}",
                   c0["zero_order"].index(i) + 1] for i in range(DIM)]
    coord_table = Table("seed 0: predicted zero α = |w*ᵢ|·Hᵢᵢ of each coordinate",
                        ["i", "Hᵢᵢ", "w*ᵢ", "zero from α", "order"], coord_rows)
    check_table = Table("trained L1 solutions vs the soft-threshold prediction (mean ± sd over seeds)",
                        ["check", "value"],
                        [["grid α with the predicted zero pattern (FISTA)",
                          " / ".join(f"{c['zero_pattern_match_fista']}/{len(c['alphas'])}" for c in cases)],
                         ["grid α with the predicted zero pattern (sklearn Lasso)",
                          " / ".join(f"{c['zero_pattern_match_sklearn']}/{len(c['alphas'])}" for c in cases)],
                         ["max |w_FISTA − w_pred|", fmt_sci([c["max_abs_fista_vs_predicted"] for c in cases])],
                         ["max |w_sklearn − w_pred|", fmt_sci([c["max_abs_sklearn_vs_predicted"] for c in cases])],
                         ["l1_prox (ctx.train) max |w − w_pred|",
                          fmt_sci([c["prox_run"]["max_abs_vs_predicted"] for c in cases])],
                         ["‖offdiag H‖/‖diag H‖", fmt_sci([c["hessian_offdiag_ratio"] for c in cases])]])
    return [coord_table, check_table]


def reading(summary: dict) -> str:
    return _reading(summary["two_d"], summary["whitened"])


def _two_d_figure(two: dict):
    fig, axes = new_figure(2, 1, width=5.2, height=4.6)
    ax = axes[0, 0]
    h, path = np.array(two["h_diag"]), np.array(two["path"])
    g = np.linspace(-0.45, 1.45, 241)
    l1 = lambda w1, w2: np.abs(w1) + np.abs(w2)  # noqa: E731
    plot_penalty_geometry(ax, np.diag(h), two["w_star"], g, l1, path=path,
                          marked_alphas=two["marked_alphas"], marked_w=two["marked_w_tilde"],
                          shown=two["shown_w_tilde"], loss_scales=[0.05, 0.3, 2.2, 4.0],
                          penalty_levels=[0.5, 1.0, 1.5, 2.0], path_label="path w̃(α), α: 0 → 1.4",
                          shown_label=f"w̃ at α = {two['shown_alpha']:g}: w₁ = 0", label_offset=(6, -4), path_lw=2.2)
    ax.axhline(0, color="black", lw=0.6)
    ax.axvline(0, color="black", lw=0.6)
    ax.set(title=f"H = diag({h[0]:g}, {h[1]:g}): solid C₀, dashed ‖w‖₁")
    ax.legend(fontsize=7, loc="lower right")
    ax2 = axes[0, 1]
    alphas = np.array(two["path_alphas"])
    for i, color in ((0, PALETTE[2]), (1, PALETTE[3])):
        ax2.plot(alphas, path[:, i], color=color, lw=2,
                 label=f"w̃{i + 1} = sign(w*{i + 1})·max(|w*{i + 1}| − α/H{i + 1}{i + 1}, 0)")
        z = two["zero_alpha"][i]
        ax2.axvline(z, color=color, ls=":", lw=1)
        ax2.annotate(f"α = |w*{i + 1}|·H{i + 1}{i + 1} = {z:g}", (z, 0), textcoords="offset points",
                     xytext=(3, 8 + 14 * i), fontsize=7, color=color)
    ax2.axhline(0, color="black", lw=0.6)
    ax2.set(xlabel="α", ylabel="w̃ᵢ(α)", title="soft thresholding: w₁ reaches 0 first")
    ax2.legend(fontsize=7)
    fig.suptitle("(a) L1 on a diagonal quadratic: w̃ᵢ = sign(w*ᵢ)·max(|w*ᵢ| − α/Hᵢᵢ, 0)", y=1.02)
    return fig


def _path_figure(case: dict):
    from matplotlib import colormaps

    fig, axes = new_figure(2, 1, width=5.6, height=4.4)
    ax = axes[0, 0]
    alphas = np.array(case["alphas"])
    pred, fista = np.array(case["predicted"]), np.array(case["fista"])
    colors = colormaps["tab10"](np.arange(DIM))
    for i in range(DIM):
        ax.plot(alphas, pred[:, i], color=colors[i], lw=1.4)
        ax.plot(alphas, fista[:, i], "o", color=colors[i], ms=3, mfc="none")
        ax.plot(case["zero_alpha"][i], 0, "|", color=colors[i], ms=14, mew=2)
        ax.annotate(f"{i + 1}", (alphas[0], pred[0, i]), textcoords="offset points", xytext=(-11, -3), fontsize=7,
                    color=colors[i])
    prox = case["prox_run"]
    ax.plot([prox["alpha"]] * DIM, prox["w"], "D", color="black", ms=4, mfc="none",
            label=f"l1_prox via ctx.train, α = {prox['alpha']:.3g}")
    ax.plot([], [], color="gray", label="predicted soft threshold")
    ax.plot([], [], "o", color="gray", mfc="none", ms=3, label="FISTA minimizer")
    ax.plot([], [], "|", color="gray", ms=10, mew=2, label="predicted zero α = |w*ᵢ|Hᵢᵢ")
    ax.axhline(0, color="black", lw=0.6)
    ax.set(xscale="log", xlabel="α", ylabel="coefficient w̃ᵢ(α)",
           title=f"whitened least squares, {DIM} coordinates (seed {case['seed']})")
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2)
    ax2 = axes[0, 1]
    ax2.step(alphas, case["zeros_predicted"], where="post", color=PALETTE[1], lw=2, label="predicted")
    ax2.plot(alphas, case["zeros_fista"], "o", color=PALETTE[0], ms=4, mfc="none", label="FISTA")
    ax2.plot(alphas, case["zeros_sklearn"], "x", color=PALETTE[2], ms=4, label="scikit-learn Lasso")
    ax2.set(xscale="log", xlabel="α", ylabel="number of exact zeros", ylim=(-0.3, DIM + 0.3),
            title=f"sparsity; max |FISTA − predicted| = {case['max_abs_fista_vs_predicted']:.1e}")
    ax2.title.set_fontsize(9)
    ax2.legend(fontsize=7)
    fig.suptitle("(b) L1 coefficient path on whitened inputs: prediction vs trained", y=1.02)
    return fig


def _reading(two: dict, cases: list[dict]) -> str:
    first = two["first_zero"]
    w_star = two["w_star"]
    bigger = abs(w_star[first]) >= max(abs(v) for v in w_star)
    parts = [f"In 2-D, w{first + 1} reaches exactly 0 first, at α = {two['zero_alpha'][first]:g}"
             + (" although its |w*| is the larger one: the penalty removes the weight of low curvature first."
                if bigger else ".")]
    c = cases[0]
    order = c["zero_order"]
    by_size = np.argsort(np.abs(c["w_star"])).tolist()
    parts.append(f"On whitened least squares (seed 0) the coordinates vanish in the order {[i + 1 for i in order]} "
                 f"predicted by |w*ᵢ|·Hᵢᵢ, "
                 + ("which is also the order of |w*ᵢ|." if order == by_size else
                    f"which differs from the order of |w*ᵢ| ({[i + 1 for i in by_size]})."))
    total = sum(len(k["alphas"]) for k in cases)
    match = sum(k["zero_pattern_match_fista"] for k in cases)
    parts.append(f"FISTA has exactly the predicted zero pattern at {match} of {total} strengths, with coefficients "
                 f"within {max(k['max_abs_fista_vs_predicted'] for k in cases):.1e} of the formula; scikit-learn's "
                 f"Lasso is within {max(k['max_abs_sklearn_vs_predicted'] for k in cases):.1e}, and reglab's l1_prox "
                 f"run gives {c['prox_run']['zeros']} exact zeros where {c['prox_run']['zeros_predicted']} are "
                 f"predicted.")
    return " ".join(parts)


register("lasso-geometry", "Geometry of L1: soft thresholding and exact zeros",
         "seeds 001, 002 (handwritten notes; Bischl; Goodfellow §7.1.2)",
         "Diamonds of ‖w‖₁ over the ellipses of a diagonal quadratic, the soft-threshold path and which weight "
         "hits zero first; the same on whitened least squares against FISTA, scikit-learn Lasso and l1_prox.",
         compute=compute, figures=figures, tables=tables, reading=reading)
