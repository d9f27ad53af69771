"""The Hessian spectrum and the L2 shrink factors λᵢ/(λᵢ+α) (seeds 002/003/004; Goodfellow et al. §7.1.1).

The notes' result: with H = QΛQᵀ the Hessian of the mean loss C₀ at its
minimizer w*, the minimizer of C₀ + (α/2)‖w‖² in the quadratic model is
w̃ = Q(Λ + αI)⁻¹ΛQᵀw*, i.e. the component of w* along eigenvector i is scaled by
λᵢ/(λᵢ+α). Directions with λᵢ ≫ α survive, those with λᵢ ≪ α are decayed away,
and γ(α) = Σᵢ λᵢ/(λᵢ+α) counts the directions that survive ("effective
parameters"; Bishop 2006, eq. 3.91; MacKay 1992).

What is measured:

1. **The spectrum of a trained MLP.** A small tanh MLP on scikit-learn's 8×8
   digits is trained by SGD through ``ctx.train``; the dense Hessian of its mean
   cross-entropy with respect to the *weights* (biases held at their trained
   values) is built with :func:`reglab.curvature.dense_hessian` on a float64
   :class:`reglab.curvature.Objective` (the data and loss ``ctx.train`` used) and fully
   diagonalized with :func:`reglab.curvature.eigen`. The histogram of the
   eigenvalues (log-x) is overlaid with the shrink curves λ/(λ+α) for several α,
   and γ(α) is drawn against α. SGD stops near, not at, a minimum, so some
   eigenvalues are negative; γ uses max(λᵢ, 0).
2. **Predicted vs observed shrink** per eigen-direction with :func:`reglab.verify.verify`
   (full-batch L-BFGS minimizers, not SGD): least squares (the quadratic model is
   exact), logistic regression on a noisy Playground circle (the quadratic model
   is an approximation that holds for small α), and a tiny tanh MLP on a 1-D
   polynomial (shown honestly: its unregularized minimum is flat and far out, so
   the quadratic model taken there describes the regularized minimizers poorly).

Convention: α (the notes' λ in seed 002) multiplies the penalty added to the
*mean* training loss, C = C₀ + (α/2)‖w‖² — torch SGD's ``weight_decay``; Nielsen's
λ (seed 003) is α·n. H is the Hessian of the same mean loss C₀, so no n appears.

References: Goodfellow, Bengio & Courville, *Deep Learning*, 2016, §7.1.1;
Bishop, *Pattern Recognition and Machine Learning*, 2006, §3.5.3; MacKay,
"Bayesian interpolation", Neural Computation 4 (1992).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from reglab.config import parse_config
from reglab.curvature import Objective, dense_hessian, eigen
from reglab.experiments._base import ExperimentContext, ExperimentRun, Table, register
from reglab.experiments._plot import PALETTE, new_figure
from reglab.regularize import select_parameters
from reglab.theory import effective_parameters, shrink_factors
from reglab.verify import verify

CONVENTION = ("α multiplies the penalty on the mean training loss: C = C₀ + (α/2)‖w‖² (torch SGD weight_decay; "
              "the notes' λ in seed 002); Nielsen's λ = α·n. H is the Hessian of the same mean loss C₀ with "
              "respect to the weights (biases held fixed for the MLP spectrum; optimized jointly in verify, "
              "which uses the Schur complement).")
OVERLAY_ALPHAS = [1e-4, 1e-3, 1e-2, 1e-1]
GAMMA_ALPHAS = np.logspace(-7, 1, 81).tolist()
PER_SEED_KEYS = ("seed", "n_weights", "n_negative", "most_negative", "trace", "train_error", "test_error")
CLIP = (-0.25, 1.5)  # y-range of the predicted-vs-observed panels; points beyond are drawn on the edge


def _mlp_config(seed: int, quick: bool) -> dict:
    return {
        "name": f"spectrum-shrinkage digits MLP seed={seed}",
        "data": {"name": "digits", **({"n_train": 300} if quick else {})},
        "model": {"kind": "mlp", "hidden": [8] if quick else [16], "activation": "tanh"},
        "train": {"epochs": 10 if quick else 60, "seed": seed, "batch_size": 32, "lr": 0.1, "momentum": 0.9},
    }


def _verify_problems(quick: bool) -> dict[str, dict]:
    """The three verify settings: config, strengths and minimizer options."""
    exact = [1e-3, 1e-2, 1e-1, 1.0]
    return {
        "least squares": {
            "what": "linear data (d = 12, H spectrum 1e-3…10), no bias, ½·MSE",
            "config": {"name": "spectrum-shrinkage least squares",
                       "data": {"name": "linear", "dim": 12, "n": 200,
                                "spectrum": np.logspace(-3, 1, 12).tolist(), "seed": 0},
                       "model": {"kind": "linear", "bias": False},
                       "train": {"loss": "half_mse", "dtype": "float64"}},
            "alphas": exact, "options": {"tol": 1e-10},
        },
        "logistic regression": {
            "what": "Playground circle, 50% noise, Playground features, cross-entropy",
            "config": {"name": "spectrum-shrinkage logistic",
                       "data": {"name": "circle", "noise": 50.0, "n_points": 400, "seed": 0},
                       "model": {"kind": "logistic", "features": "playground"},
                       "train": {"dtype": "float64"}},
            "alphas": exact, "options": {"tol": 1e-10},
        },
        "MLP": {
            "what": "tanh MLP 1-3-1 on a noisy cubic (n = 200), ½·MSE",
            "config": {"name": "spectrum-shrinkage MLP verify",
                       "data": {"name": "polynomial", "degree": 3, "n": 200, "noise_std": 0.1, "seed": 0},
                       "model": {"kind": "mlp", "hidden": [3], "activation": "tanh"},
                       "train": {"loss": "half_mse", "dtype": "float64", "seed": 0}},
            "alphas": [1e-4, 1e-3, 1e-2, 1e-1], "options": {"tol": 1e-8, "max_iter": 500 if quick else 1000},
        },
    }


def _mlp_spectrum(result: ExperimentRun, seed: int) -> dict:
    """The trained MLP's dense float64 Hessian of the mean loss w.r.t. its weights, diagonalized."""
    cfg, splits, loss_fn = result.config, result.splits, result.loss_fn
    names = [n for n, _ in select_parameters(result.model, "weights")]
    # w = the weights; the biases are held at their trained values
    H = dense_hessian(Objective(result.model, loss_fn, (splits.train.x, splits.train.y), names, dtype=torch.float64))
    values = eigen(H, H.shape[0], method="dense").eigenvalues
    positive = values.clamp(min=0.0)
    return {
        "seed": seed, "n_weights": int(H.shape[0]), "parameters": names,
        "architecture": "-".join(str(k) for k in [splits.input_dim, *cfg.model.hidden, splits.output_dim]),
        "eigenvalues": values.tolist(),
        "n_negative": int((values < 0).sum()),
        "most_negative": float(values.min()),
        "trace": float(torch.trace(H)),
        "effective_parameters": effective_parameters(positive, GAMMA_ALPHAS).tolist(),
        "train_error": result.final["train_error"], "test_error": result.final["test_error"],
    }


def _verify_summary(problem: dict) -> dict:
    report = verify(parse_config(problem["config"]), problem["alphas"], **problem["options"])
    cases = [{"alpha": c.alpha, "rel_err": c.rel_err, "holds": c.holds, "converged": c.converged,
              "shrink_predicted": c.shrink_predicted, "shrink_observed": c.shrink_observed,
              "shrink_max_abs_diff": c.shrink_max_abs_diff, "effective_parameters": c.effective_parameters,
              "norm_trained": c.norm_trained, "norm_predicted": c.norm_predicted}
             for c in report.cases]
    return {"what": problem["what"], "minimizer": report.minimizer, "n_parameters": report.n_parameters,
            "n_penalized": report.n_penalized, "eigenvalues": report.eigenvalues, "verdict": report.verdict,
            "notes": report.notes, "threshold": report.threshold, "cases": cases}


def compute(ctx: ExperimentContext) -> dict:
    ctx.log(f"MLP on digits, {ctx.seeds} seed(s): train (the seeds in one pass)")
    runs = ctx.train_many([_mlp_config(seed, ctx.quick) for seed in range(ctx.seeds)])
    spectra = []
    for seed, result in enumerate(runs):
        ctx.log(f"MLP on digits, seed {seed}: dense Hessian, eigenvalues")
        spectra.append(_mlp_spectrum(result, seed))
    checks = {}
    for name, problem in _verify_problems(ctx.quick).items():
        ctx.log(f"verify: {name}")
        checks[name] = _verify_summary(problem)
    ctx.configs.update({"mlp": _mlp_config(0, ctx.quick),
                        **{k: v["config"] for k, v in _verify_problems(ctx.quick).items()}})
    return {"convention": CONVENTION, "mlp": _mlp_block(spectra, ctx.quick), "verify": checks}


def figures(summary: dict) -> dict:
    mlp = summary["mlp"]
    return {"mlp_spectrum": _spectrum_figure(mlp),
            "shrink_predicted_vs_observed": _shrink_figure(summary["verify"])}


def tables(summary: dict) -> list[Table]:
    return _tables(summary["mlp"], summary["verify"])


def reading(summary: dict) -> str:
    return _reading(summary["mlp"], summary["verify"])


def _mlp_block(spectra: list[dict], quick: bool) -> dict:
    """The MLP part of the summary: seed 0's spectrum, and γ(α) as mean ± sd over seeds."""
    first = spectra[0]
    values = np.asarray(first["eigenvalues"])
    grid = _lambda_grid(values)
    gammas = np.asarray([s["effective_parameters"] for s in spectra])
    return {
        "config": _mlp_config(0, quick), "architecture": first["architecture"],
        "n_weights": first["n_weights"], "eigenvalues": first["eigenvalues"], "n_negative": first["n_negative"],
        "most_negative": first["most_negative"], "trace": first["trace"],
        "histogram": _histogram(values),
        "overlay_alphas": OVERLAY_ALPHAS, "lambda_grid": grid.tolist(),
        "shrink_curves": {f"{a:g}": shrink_factors(grid, a).tolist() for a in OVERLAY_ALPHAS},
        "gamma_alphas": GAMMA_ALPHAS,
        "effective_parameters_mean": gammas.mean(axis=0).tolist(),
        "effective_parameters_sd": (gammas.std(axis=0, ddof=1) if len(spectra) > 1 else 0 * gammas[0]).tolist(),
        "effective_parameters_at_overlay": {f"{a:g}": float(effective_parameters(np.clip(values, 0, None), a))
                                            for a in OVERLAY_ALPHAS},
        "per_seed": [{k: s[k] for k in PER_SEED_KEYS} for s in spectra],
    }


def _lambda_grid(values: np.ndarray) -> np.ndarray:
    top = float(values.max())
    return np.logspace(math.log10(top) - 9, math.log10(top) + 0.5, 200)


def _histogram(values: np.ndarray) -> dict:
    """Counts of λ > 0 and of |λ| for λ < 0 in the same log-spaced bins (9 decades below the largest)."""
    top = float(np.abs(values).max())
    edges = np.logspace(math.log10(top) - 9, math.log10(top) + 0.05, 46)
    pos, neg = values[values > 0], -values[values < 0]
    return {"edges": edges.tolist(), "positive": np.histogram(pos, edges)[0].tolist(),
            "negative_abs": np.histogram(neg, edges)[0].tolist(),
            "below_range": int(np.sum(np.abs(values) < edges[0]))}


def _spectrum_figure(mlp: dict):
    fig, axes = new_figure(2, 1, width=5.6, height=4.0)
    ax = axes[0, 0]
    hist = mlp["histogram"]
    edges = np.asarray(hist["edges"])
    widths = np.diff(edges)
    ax.bar(edges[:-1], hist["positive"], width=widths, align="edge", color="#9ecae1", edgecolor="#3182bd",
           label=f"λ > 0 ({mlp['n_weights'] - mlp['n_negative']})")
    ax.bar(edges[:-1], hist["negative_abs"], width=widths, align="edge", color="none", edgecolor="#7f7f7f",
           hatch="///", label=f"|λ| of λ < 0 ({mlp['n_negative']})")
    ax.set_xscale("log")
    ax.set(xlabel="Hessian eigenvalue λ (log scale)", ylabel="number of eigenvalues",
           title=f"spectrum of H ({mlp['n_weights']} weights) and λ/(λ+α)")
    twin = ax.twinx()
    grid = np.asarray(mlp["lambda_grid"])
    for color, (key, curve) in zip(PALETTE[1:], mlp["shrink_curves"].items()):
        twin.plot(grid, curve, color=color, lw=1.8, label=f"λ/(λ+α), α = {key}")
        twin.axvline(float(key), color=color, lw=0.7, ls=":")
    twin.set(ylim=(0, 1.05), ylabel="shrink factor λ/(λ+α)")
    lines = ax.get_legend_handles_labels()
    extra = twin.get_legend_handles_labels()
    ax.legend(lines[0] + extra[0], lines[1] + extra[1], fontsize=7, loc="upper left")

    ax = axes[0, 1]
    alphas = np.asarray(mlp["gamma_alphas"])
    mean, sd = np.asarray(mlp["effective_parameters_mean"]), np.asarray(mlp["effective_parameters_sd"])
    ax.plot(alphas, mean, color=PALETTE[0], lw=2, label="γ(α) = Σ λᵢ⁺/(λᵢ⁺+α)")
    if len(mlp["per_seed"]) > 1:
        ax.fill_between(alphas, mean - sd, mean + sd, color=PALETTE[0], alpha=0.2, label="± sd over seeds")
    n_pos = mlp["n_weights"] - mlp["n_negative"]
    ax.axhline(n_pos, color="#7f7f7f", ls="--", lw=1, label=f"eigenvalues > 0: {n_pos}")
    for color, (key, value) in zip(PALETTE[1:], mlp["effective_parameters_at_overlay"].items()):
        ax.plot([float(key)], [value], "o", color=color, label=f"γ({key}) = {value:.1f}")
    ax.set_xscale("log")
    ax.set(xlabel="α (L2 strength on the mean loss, log scale)", ylabel="effective number of parameters γ(α)",
           title="effective parameters vs α")
    ax.legend(fontsize=7)
    first = mlp["per_seed"][0]
    fig.suptitle(f"tanh MLP {mlp['architecture']} on digits (seed 0): Hessian of the mean cross-entropy "
                 f"(train error {first['train_error']:.3f}, test error {first['test_error']:.3f})")
    fig.tight_layout()
    return fig


def _shrink_figure(checks: dict):
    fig, axes = new_figure(len(checks), 1, width=4.4, height=4.2)
    for ax, (name, check) in zip(axes[0], checks.items()):
        ax.plot([0, 1], [0, 1], color="black", lw=1, ls="--", label="observed = predicted")
        clipped = 0
        for color, case in zip(PALETTE, check["cases"]):
            pred = np.asarray(case["shrink_predicted"], dtype=float)
            obs = np.asarray([np.nan if v is None else v for v in case["shrink_observed"]], dtype=float)
            keep = np.isfinite(obs)
            inside = keep & (obs >= CLIP[0]) & (obs <= CLIP[1])
            outside = keep & ~inside
            clipped += int(outside.sum())
            ax.plot(pred[inside], obs[inside], "o", color=color, ms=5, alpha=0.8,
                    label=f"α = {case['alpha']:g} (rel. err {case['rel_err']:.1e})")
            ax.plot(pred[outside], np.clip(obs[outside], *CLIP), "^", color=color, ms=6,
                    mfc="none")
        ax.set(xlim=(-0.05, 1.05), ylim=(CLIP[0] - 0.05, CLIP[1] + 0.05), xlabel="predicted shrink λᵢ/(λᵢ+α)",
               ylabel="observed shrink (Qᵀw̃)ᵢ / (Qᵀw*)ᵢ",
               title=f"{name}\n{check['what']}" + (f"\n({clipped} points beyond the axis, ▵)" if clipped else ""))
        ax.title.set_fontsize(8)
        ax.legend(fontsize=6.5, loc="upper left")
    fig.suptitle("L2 shrink per eigen-direction of H: prediction at the unregularized minimum vs trained minimizer")
    fig.tight_layout()
    return fig


def _tables(mlp: dict, checks: dict) -> list[Table]:
    rows = [[f"{row['seed']}", row["n_negative"], f"{row['most_negative']:.2e}", f"{row['trace']:.3f}",
             f"{row['train_error']:.3f}", f"{row['test_error']:.3f}"] for row in mlp["per_seed"]]
    spectrum = Table("MLP Hessian (weights) per seed", ["seed", "λ < 0", "min λ", "trace H", "train error",
                                                         "test error"], rows)
    gamma = Table("effective parameters γ(α) of the MLP (seed 0)", ["α", "γ(α)", "of P"],
                  [[k, f"{v:.2f}", mlp["n_weights"]] for k, v in mlp["effective_parameters_at_overlay"].items()])
    vrows = [[name, f"{c['alpha']:g}", f"{c['rel_err']:.2e}",
              "—" if c["shrink_max_abs_diff"] is None else f"{c['shrink_max_abs_diff']:.2e}",
              "yes" if c["holds"] else "no"] for name, check in checks.items() for c in check["cases"]]
    check_table = Table("predicted vs trained minimizer (reglab.verify)",
                        ["problem", "α", "‖w̃_pred − w̃‖/max(‖w̃_pred‖, ‖w̃‖)", "max |obs − pred| shrink", "holds"], vrows)
    return [spectrum, gamma, check_table]


def _reading(mlp: dict, checks: dict) -> str:
    n, neg = mlp["n_weights"], mlp["n_negative"]
    values = np.asarray(mlp["eigenvalues"])
    gam = mlp["effective_parameters_at_overlay"]
    a_mid = f"{OVERLAY_ALPHAS[1]:g}"
    parts = [f"The MLP's {n}×{n} weight Hessian has its largest eigenvalue at {values.max():.3g}, and "
             f"{int(np.sum(values > float(a_mid)))} eigenvalues above α = {a_mid}; γ({a_mid}) = {gam[a_mid]:.1f} "
             f"of {n} directions survive L2 at that strength, γ({OVERLAY_ALPHAS[-1]:g}) = "
             f"{gam[f'{OVERLAY_ALPHAS[-1]:g}']:.1f}"
             + (", so most directions are flat and would be decayed away." if gam[a_mid] < n / 2 else
                ", so most directions would survive it.")]
    if neg:
        parts.append(f"{neg} eigenvalues are negative (down to {mlp['most_negative']:.2e}): SGD stopped near, "
                     "not at, a minimum.")
    for name, check in checks.items():
        worst = max(c["rel_err"] for c in check["cases"])
        diffs = [c["shrink_max_abs_diff"] for c in check["cases"] if c["shrink_max_abs_diff"] is not None]
        parts.append(f"{name[0].upper() + name[1:]}: {check['verdict']} (largest relative error {worst:.2g}"
                     + (f", largest shrink mismatch {max(diffs):.2g})." if diffs else ")."))
        collapsed = [c for c in check["cases"] if c["norm_trained"] < 1e-3 * c["norm_predicted"]]
        if collapsed:
            c = collapsed[0]
            parts.append(f"From α = {c['alpha']:g} the trained {name}'s weights collapse to ‖w̃‖ = "
                         f"{c['norm_trained']:.1e} (predicted {c['norm_predicted']:.2g}): another minimizer, near "
                         "w = 0, that the quadratic model around w* cannot see.")
    return " ".join(parts)


register("spectrum-shrinkage", "Hessian spectrum and the shrink factors λᵢ/(λᵢ+α)", "seeds 002, 003, 004 "
         "(Goodfellow et al. §7.1.1)",
         "The eigenvalues of a trained MLP's Hessian with λ/(λ+α) overlaid, the effective number of parameters "
         "Σλᵢ/(λᵢ+α) against α, and predicted vs observed shrink per eigen-direction on least squares, logistic "
         "regression and an MLP.", compute=compute, figures=figures, tables=tables, reading=reading)

__all__ = ["compute", "figures", "tables", "reading"]
