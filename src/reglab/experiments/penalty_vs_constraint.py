"""Norm penalties are norm constraints (Bischl, seed 002; Goodfellow et al. §7.2).

The notes: argmin C₀(w) + λJ(w) is argmin C₀(w) subject to J(w) ≤ k "for some k
that depends on λ and the nature of C₀". For the L2 penalty the KKT conditions
make it concrete: the constrained minimizer on the ball ‖w‖₂ ≤ k satisfies
∇C₀(w) + μw = 0 with a multiplier μ ≥ 0 — the stationarity condition of the
penalty (μ/2)‖w‖² — so with k(λ) = ‖w̃(λ)‖ the two problems have the same
solution, and μ = λ.

The experiment, on least squares with a rotated Hessian (``linear``, 8
coordinates, H = XᵀX/n with eigenvalues from 10^-0.5 to 10^0.5, no bias,
C₀ = (1/2n)‖Xw − y‖²), for a grid of λ:

* the penalized solution w̃(λ) = (H + λI)⁻¹Xᵀy/n in closed form, and its norm
  k(λ) (also from ``reglab.theory.constraint_radius``);
* the solution on the ball of radius k(λ) by projected gradient descent on the
  flat objective (``reglab.curvature.Objective``), and by reglab's ``l2_ball``
  regularizer trained through ``ctx.train`` with full-batch gradient steps
  (no momentum), each projection coming after the step;
* their distance to w̃(λ), the multiplier μ̂ = −⟨∇C₀(w), w⟩/‖w‖² read off each
  constrained solution, and the reverse map λ(k) from
  ``reglab.theory.alpha_for_radius``.

Convention: the notes' λ here is reglab's α: it multiplies (λ/2)‖w‖² added to the
*mean* training loss (torch SGD's ``weight_decay``; Nielsen's λ would be λ·n).

Reference: Goodfellow, Bengio & Courville, *Deep Learning*, 2016, §7.2;
Boyd & Vandenberghe, *Convex Optimization*, 2004, §5.5.3 (KKT conditions).
"""

from __future__ import annotations

import numpy as np
import torch

from reglab.experiments._base import ExperimentContext, Table, full_batch_linear_config, register
from reglab.experiments._common import linear_weight, stat
from reglab.experiments._plot import PALETTE, new_figure
from reglab.regularize.ops import project_l2_ball
from reglab.theory import alpha_for_radius, constraint_radius

DIM = 8
SPECTRUM = np.logspace(-0.5, 0.5, DIM).round(6).tolist()
LR = 2.0 / (max(SPECTRUM) + min(SPECTRUM))  # the fastest constant step for this quadratic


def _data_config(seed: int) -> dict:
    return {"name": "linear", "dim": DIM, "n": 200, "spectrum": SPECTRUM, "noise_std": 0.1, "seed": seed}


def _ball_config(seed: int, radius: float, lam: float, quick: bool) -> dict:
    return full_batch_linear_config(f"penalty-vs-constraint ball k={radius:.4g} (λ={lam:.3g}) seed={seed}",
                                    _data_config(seed), n=200, epochs=70 if quick else 120, seed=seed, lr=LR,
                                    regularizer=[{"kind": "l2_ball", "radius": radius}])


def _projected_gradient(obj, radius: float, steps: int = 20_000, tol: float = 1e-14) -> tuple[torch.Tensor, int]:
    """w ← Π(w − η∇C₀(w)) with Π the projection onto ‖w‖₂ ≤ radius, from w = 0."""
    w = torch.zeros(obj.size, dtype=torch.float64)
    for step in range(1, steps + 1):
        new = project_l2_ball([w - LR * obj.grad(w)], radius)[0]
        if float((new - w).norm()) <= tol * max(float(new.norm()), 1.0):
            return new, step
        w = new
    return w, steps


def _multiplier(obj, w: torch.Tensor) -> float:
    """μ̂ with ∇C₀(w) + μ̂w ≈ 0 (least squares in μ): the constraint's Lagrange multiplier."""
    return float(-(obj.grad(w) @ w) / (w @ w))


def _case(ctx: ExperimentContext, seed: int, lambdas: np.ndarray, train_idx: list[int]) -> dict:
    from reglab.curvature import Objective
    from reglab.data import load_dataset
    from reglab.models import build_model
    from reglab.train import half_mse

    cfg = ctx.config({"data": _data_config(seed), "model": {"kind": "linear", "bias": False}})
    splits = load_dataset(cfg.data)
    X, y = splits.train.x.double(), splits.train.y.double()
    n = X.shape[0]
    H, b = X.T @ X / n, X.T @ y[:, 0] / n
    w_star = torch.linalg.solve(H, b)
    eye = torch.eye(DIM, dtype=torch.float64)
    penalized = torch.stack([torch.linalg.solve(H + float(lam) * eye, b) for lam in lambdas])
    radii = penalized.norm(dim=1)
    radii_theory = constraint_radius(H, w_star, torch.from_numpy(lambdas))

    model = build_model(cfg.model, splits.example_shape, splits.output_dim, seed=seed)
    obj = Objective(model, half_mse, (X, y), dtype=torch.float64)  # C₀ only: no penalty term is asked of it
    pgd, steps = zip(*[_projected_gradient(obj, float(k)) for k in radii])
    pgd = torch.stack(pgd)
    runs = ctx.train_many([_ball_config(seed, float(radii[i]), float(lambdas[i]), ctx.quick) for i in train_idx])
    trained = {i: (linear_weight(result.model), result.run_id) for i, result in zip(train_idx, runs)}

    k_fine = np.linspace(0.02, 1.0, 80) * float(w_star.norm())
    lam_fine = np.logspace(np.log10(lambdas[0]) - 0.5, np.log10(lambdas[-1]) + 0.5, 120)
    return {
        "seed": seed, "eigenvalues": torch.linalg.eigvalsh(H).tolist(), "w_star": w_star.tolist(),
        "w_star_norm": float(w_star.norm()), "lambdas": lambdas.tolist(),
        "w_penalized": penalized.tolist(), "radius": radii.tolist(), "radius_theory": radii_theory.tolist(),
        "w_projected": pgd.tolist(), "projected_steps": list(steps),
        "distance_projected": (pgd - penalized).norm(dim=1).tolist(),
        "distance_w_star_to_penalized": (penalized - w_star).norm(dim=1).tolist(),
        "multiplier_projected": [_multiplier(obj, w) for w in pgd],
        "lambda_for_radius": [alpha_for_radius(H, w_star, float(k)) for k in radii],
        "trained": [{"index": i, "lambda": float(lambdas[i]), "radius": float(radii[i]), "run_id": rid,
                     "w": w.tolist(), "norm": float(w.norm()),
                     "distance": float((w - penalized[i]).norm()), "multiplier": _multiplier(obj, w)}
                    for i, (w, rid) in trained.items()],
        "curve_lambda": lam_fine.tolist(),
        "curve_radius": constraint_radius(H, w_star, lam_fine).tolist(),
        "curve_k": k_fine.tolist(), "curve_lambda_of_k": [alpha_for_radius(H, w_star, float(k)) for k in k_fine],
    }


def compute(ctx: ExperimentContext) -> dict:
    lambdas = np.logspace(-2, 1.5, 8 if ctx.quick else 15)
    train_idx = [2, 5] if ctx.quick else list(range(0, len(lambdas), 2))
    cases = []
    for seed in range(ctx.seeds):
        ctx.log(f"seed {seed}")
        cases.append(_case(ctx, seed, lambdas, train_idx))
    c0 = cases[0]
    ctx.configs["ball run"] = _ball_config(0, c0["radius"][train_idx[0]], c0["lambdas"][train_idx[0]], ctx.quick)
    return {
        "convention": "λ (the notes' symbol) is reglab's α: (λ/2)‖w‖² added to the MEAN loss (torch weight_decay); "
                      "Nielsen's λ = α·n; C₀ = (1/2n)‖Xw − y‖², H = XᵀX/n",
        "spectrum": SPECTRUM, "lr": LR, "cases": cases,
        "max_distance_projected": max(max(c["distance_projected"]) for c in cases),
        "max_distance_trained": max(t["distance"] for c in cases for t in c["trained"]),
        "stats": _stats(cases),
    }


def tables(summary: dict) -> list[Table]:
    c0 = summary["cases"][0]
    trained = {t["index"]: t for t in c0["trained"]}
    rows = [[f"{lam:.3g}", f"{k:.4f}", f"{d:.1e}", f"{trained[i]['distance']:.1e}" if i in trained else "—",
             f"{mu:.4g}", f"{lk:.4g}"]
            for i, (lam, k, d, mu, lk) in enumerate(zip(c0["lambdas"], c0["radius"], c0["distance_projected"],
                                                        c0["multiplier_projected"], c0["lambda_for_radius"]))]
    table = Table("seed 0: penalty λ vs the ball of radius k(λ) = ‖w̃(λ)‖",
                  ["λ (α on mean loss)", "k(λ)", "‖w_PGD − w̃‖", "‖w_l2_ball − w̃‖ (ctx.train)", "KKT μ̂", "λ(k)"],
                  rows)
    seeds_table = Table("over seeds (mean ± sd)", ["quantity", "value"],
                        [[name, f"{v['mean']:.1e} ± {v['sd']:.1e}"] for name, v in summary["stats"].items()])
    return [table, seeds_table]


def figures(summary: dict) -> dict:
    return {"penalty_vs_constraint": _figure(summary["cases"][0])}


def reading(summary: dict) -> str:
    return _reading(summary["cases"], summary["stats"])


def _stats(cases: list[dict]) -> dict[str, dict]:
    def rel(a: list[float], b: list[float]) -> float:
        return max(abs(x - y) / y for x, y in zip(a, b))

    return {
        "max ‖w_PGD − w̃‖": stat([max(c["distance_projected"]) for c in cases]),
        "max ‖w_l2_ball − w̃‖ (ctx.train)": stat([max(t["distance"] for t in c["trained"]) for c in cases]),
        "max |μ̂ − λ|/λ (PGD)": stat([rel(c["multiplier_projected"], c["lambdas"]) for c in cases]),
        "max |λ(k(λ)) − λ|/λ": stat([rel(c["lambda_for_radius"], c["lambdas"]) for c in cases]),
        "max |k_theory − ‖w̃‖|": stat([max(abs(a - b) for a, b in zip(c["radius_theory"], c["radius"]))
                                          for c in cases]),
    }


def _figure(case: dict):
    fig, axes = new_figure(3, 1, width=4.7, height=4.0)
    lam = np.array(case["lambdas"])
    trained = case["trained"]
    ax = axes[0, 0]
    ax.plot(case["curve_lambda"], case["curve_radius"], color=PALETTE[0], label="constraint_radius(H, w*, λ)")
    ax.plot(lam, case["radius"], "o", color=PALETTE[1], mfc="none", label="‖w̃(λ)‖, closed form")
    ax.axhline(case["w_star_norm"], color="gray", ls="--", lw=0.8, label=f"‖w*‖ = {case['w_star_norm']:.3f} (λ = 0)")
    ax.set(xscale="log", xlabel="λ", ylabel="k(λ) = ‖w̃(λ)‖", title="the radius that matches λ")
    ax.legend(fontsize=7)
    ax2 = axes[0, 1]
    floor = 1e-17  # exact agreement would vanish on a log axis
    ax2.plot(lam, np.maximum(case["distance_w_star_to_penalized"], floor), "-", color="gray",
             label="‖w* − w̃(λ)‖ (for scale)")
    ax2.plot(lam, np.maximum(case["distance_projected"], floor), "o", color=PALETTE[2],
             label="projected gradient on the ball")
    ax2.plot([t["lambda"] for t in trained], [max(t["distance"], floor) for t in trained], "x", color="black", ms=8,
             mew=1.6, label="l2_ball via ctx.train")
    ax2.set(xscale="log", yscale="log", xlabel="λ", ylabel="‖w_ball(k(λ)) − w̃(λ)‖",
            title="distance between the two solutions")
    ax2.legend(fontsize=7)
    ax3 = axes[0, 2]
    ax3.plot(case["curve_k"], case["curve_lambda_of_k"], color=PALETTE[0], label="alpha_for_radius(H, w*, k)")
    ax3.plot(case["radius"], lam, "o", color=PALETTE[1], mfc="none", ms=7, label="grid λ at k(λ)")
    ax3.plot(case["radius"], case["multiplier_projected"], ".", color=PALETTE[2], ms=7,
             label="KKT multiplier μ̂ of the ball solution")
    ax3.plot([t["radius"] for t in trained], [t["multiplier"] for t in trained], "x", color="black", ms=8, mew=1.6,
             label="μ̂ of the ctx.train l2_ball run")
    ax3.axvline(case["w_star_norm"], color="gray", ls="--", lw=0.8)
    ax3.annotate("k ≥ ‖w*‖: inactive, λ = 0", (case["w_star_norm"], lam.max()), textcoords="offset points",
                 xytext=(-4, 0), ha="right", fontsize=7, color="gray")
    ax3.set(yscale="log", xlabel="radius k", ylabel="λ(k)", title="the reverse map λ(k)")
    ax3.legend(fontsize=7, loc="lower left")
    fig.subplots_adjust(wspace=0.32)
    fig.suptitle(f"Penalty (λ/2)‖w‖² = constraint ‖w‖₂ ≤ k(λ): least squares, {DIM} coordinates, seed {case['seed']}",
                 y=1.02)
    return fig


def _reading(cases: list[dict], stats: dict) -> str:
    c = cases[0]
    d_pgd = max(max(k["distance_projected"]) for k in cases)
    d_train = max(t["distance"] for k in cases for t in k["trained"])
    moved = min(min(k["distance_w_star_to_penalized"]) for k in cases)
    parts = [f"Over λ from {c['lambdas'][0]:.3g} to {c['lambdas'][-1]:.3g} the radius k(λ) = ‖w̃(λ)‖ falls from "
             f"{c['radius'][0]:.3f} to {c['radius'][-1]:.3f} (‖w*‖ = {c['w_star_norm']:.3f})."]
    same = d_pgd < 1e-6 * moved
    parts.append(f"Projected gradient on the ball of that radius lands within {d_pgd:.1e} of the penalized solution "
                 f"(the penalty itself moves w* by at least {moved:.2e}), "
                 + ("so the two problems have the same solution, as the notes say;" if same else
                    "which is not negligible, unlike what the notes say;")
                 + f" reglab's l2_ball trained through ctx.train comes within {d_train:.1e}.")
    parts.append(f"The KKT multiplier read off the ball solution recovers λ to a relative "
                 f"{stats['max |μ̂ − λ|/λ (PGD)']['mean']:.1e}, and alpha_for_radius inverts k(λ) to "
                 f"{stats['max |λ(k(λ)) − λ|/λ']['mean']:.1e}.")
    return " ".join(parts)


register("penalty-vs-constraint", "Norm penalties are norm constraints: ‖w̃(λ)‖ = k and the same solution",
         "seed 002 (Bischl; Goodfellow §7.2)",
         "For a grid of λ on least squares: k(λ) = ‖w̃(λ)‖, the projected solution on the L2 ball of radius k "
         "(projected gradient and reglab's l2_ball through ctx.train) coincides with w̃(λ); λ(k) and the KKT "
         "multiplier recover λ.", compute=compute, figures=figures, tables=tables, reading=reading)
