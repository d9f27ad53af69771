"""Polynomials of increasing degree through n noisy points, with and without L2 (seed 001).

The notes open regularization with y = aₙxⁿ + … + a₀ and the question "what is the
largest n?": a polynomial of degree n − 1 fits n points exactly, so training error
alone cannot choose the degree. Here n = 10 points come from a cubic plus noise
(reglab's ``polynomial`` data, x ~ U[−1, 1]); each degree d = 0 … n − 1 is fitted by
least squares on the features (1, x, …, x^d), without a penalty and with an L2
penalty on the coefficients (not on the constant term):

    C(θ) = (1/2n)·Σᵢ (f(xᵢ) − yᵢ)² + (α/2)·Σ_{k≥1} θₖ².

Convention: α multiplies the penalty added to the *mean* loss (½·MSE, reglab's
``half_mse``), C = C₀ + (α/2)‖w‖², torch's ``weight_decay``; Nielsen's λ = α·n;
scikit-learn's ``Ridge(alpha=n·α)`` minimizes the same objective times 2n.

Why closed form: monomials on [−1, 1] are badly conditioned (at degree 9 the
Hessian ΦᵀΦ/n of ten points has a condition number of order 10¹⁴, and α only lifts
its smallest eigenvalues to about α), so a gradient method needs very many steps to
reach the minimizer. The curves therefore use the exact minimizer,
θ = (ΦᵀΦ/n + α·D)⁻¹Φᵀy/n with D = diag(0, 1, …, 1) (least squares via ``lstsq`` at
α = 0). Two configurations (degree 3 and degree n − 1, with the penalty) are also
trained through ``ctx.train`` so they land in the run store; the summary reports
how close those gradient-descent runs came to the minimizer, and checks the closed
form against reglab's full-batch L-BFGS (``reglab.verify.minimize_lbfgs``).

References: Goodfellow, Bengio & Courville, *Deep Learning*, §5.2 (capacity,
over- and underfitting with polynomials) and §7.1.1; Bishop, *Pattern Recognition
and Machine Learning*, §1.1 (the polynomial curve-fitting example).
"""

from __future__ import annotations

import numpy as np

from reglab.experiments._base import FINAL_ONLY, ExperimentContext, Table, register
from reglab.experiments._common import fmt_pm, mean_sd_lists
from reglab.experiments._plot import PALETTE, new_figure

N_POINTS = 10
TRUE_DEGREE = 3
NOISE_STD = 0.2
N_TEST = 200
ALPHA = 1e-3
CONVENTION = ("α multiplies the penalty added to the mean loss C₀ = (1/2n)Σ(f(x)−y)² (reglab's half_mse): "
              "C = C₀ + (α/2)Σ_{k≥1}θₖ², the constant term unpenalized (torch's weight_decay); Nielsen's λ = α·n; "
              "scikit-learn Ridge(alpha = n·α). Errors reported are mean squared errors (MSE = 2·C₀).")


def _data_config(seed: int) -> dict:
    return {"name": "polynomial", "n": N_POINTS, "degree": TRUE_DEGREE, "noise_std": NOISE_STD, "n_test": N_TEST,
            "seed": seed}


def design(x: np.ndarray, degree: int) -> np.ndarray:
    """Φ with columns 1, x, …, x^degree."""
    return np.vander(np.asarray(x, dtype=np.float64), degree + 1, increasing=True)


def fit_polynomial(x: np.ndarray, y: np.ndarray, degree: int, alpha: float) -> np.ndarray:
    """The minimizer θ (constant first) of (1/2n)‖Φθ − y‖² + (α/2)Σ_{k≥1}θₖ².

    >>> x = np.linspace(-1, 1, 4); (fit_polynomial(x, 2 * x**3 - x, 3, 0.0).round(6) + 0.0).tolist()
    [0.0, -1.0, 0.0, 2.0]
    """
    phi = design(x, degree)
    if alpha == 0.0:
        return np.linalg.lstsq(phi, y, rcond=None)[0]
    n = len(x)
    penalty = alpha * np.diag([0.0] + [1.0] * degree)
    return np.linalg.solve(phi.T @ phi / n + penalty, phi.T @ y / n)


def _mse(theta: np.ndarray, x: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean((design(x, len(theta) - 1) @ theta - y) ** 2))


def _arrays(splits, name: str) -> tuple[np.ndarray, np.ndarray]:
    part = getattr(splits, name)
    return part.x[:, 0].double().numpy(), part.y[:, 0].double().numpy()


def _sweep(seed: int) -> dict:
    """Closed-form fits of every degree, with and without the penalty, on data seed ``seed``."""
    from reglab.data import load_dataset

    splits = load_dataset(**_data_config(seed))
    (x, y), (xt, yt) = _arrays(splits, "train"), _arrays(splits, "test")
    out = {"x": x, "y": y, "coefficients": splits.info["coefficients"], "fits": {}}
    for alpha in (0.0, ALPHA):
        thetas = [fit_polynomial(x, y, d, alpha) for d in range(N_POINTS)]
        out["fits"][alpha] = {"theta": thetas, "train": [_mse(t, x, y) for t in thetas],
                              "test": [_mse(t, xt, yt) for t in thetas]}
    return out


def _run_config(degree: int, quick: bool) -> dict:
    return {
        "name": f"polynomial-degree d={degree} α={ALPHA:g}",
        "data": _data_config(0),
        "model": {"kind": "linear", "features": "poly", "poly_degree": degree},
        "train": {"epochs": 40 if quick else 150, "seed": 0, "batch_size": N_POINTS, "lr": 1.0, "momentum": 0.9,
                  "dtype": "float64", "checkpoint_every": FINAL_ONLY},
        "regularizer": [{"kind": "l2", "alpha": ALPHA}],
    }


def _objective(theta: np.ndarray, x: np.ndarray, y: np.ndarray) -> float:
    """C₀ + (α/2)Σ_{k≥1}θₖ² (the constant term θ₀ unpenalized)."""
    import torch

    from reglab.regularize.ops import l2_penalty

    return 0.5 * _mse(theta, x, y) + float(l2_penalty([torch.from_numpy(theta[1:])], ALPHA))


def _theta(params: dict) -> np.ndarray:
    """(bias, weights) of reglab's one-layer poly model, in the closed form's order, from ``{name: tensor}``."""
    (bias,) = [t for name, t in params.items() if name.endswith("bias")]
    (weight,) = [t for name, t in params.items() if name.endswith("weight")]
    return np.concatenate([bias.detach().double().numpy(), weight.detach().double().numpy()[0]])


def _stored_runs(ctx: ExperimentContext, sweep0: dict) -> list[dict]:
    """Train degree 3 and degree n − 1 with the penalty through ctx.train; compare with the minimizer."""
    import torch

    from reglab.curvature import Objective
    from reglab.train import half_mse
    from reglab.verify import minimize_lbfgs

    x, y = sweep0["x"], sweep0["y"]
    rows = []
    for degree in (TRUE_DEGREE, N_POINTS - 1):
        result = ctx.train(_run_config(degree, ctx.quick))
        theta_gd = _theta(dict(result.model.named_parameters()))
        theta_cf = sweep0["fits"][ALPHA]["theta"][degree]
        obj = Objective(result.model, half_mse, (torch.from_numpy(x)[:, None], torch.from_numpy(y)[:, None]),
                        dtype=torch.float64, penalized=result.penalized)
        fit = minimize_lbfgs(obj, obj.vector(), ALPHA, tol=1e-12)
        theta_lbfgs = _theta(obj.unflatten(fit.w))
        phi = design(x, degree)
        rows.append({
            "degree": degree, "run_id": result.run_id, "epochs": len(result.history),
            "condition_number": float(np.linalg.cond(phi.T @ phi / len(x))),
            "penalized_condition_number": float(np.linalg.cond(
                phi.T @ phi / len(x) + ALPHA * np.diag([0.0] + [1.0] * degree))),
            "gd_objective": _objective(theta_gd, x, y), "min_objective": _objective(theta_cf, x, y),
            "gd_train_mse": 2.0 * result.final["train_loss"], "closed_form_train_mse": _mse(theta_cf, x, y),
            "gd_max_coef_error": float(np.max(np.abs(theta_gd - theta_cf))),
            "lbfgs_max_coef_error": float(np.max(np.abs(theta_lbfgs - theta_cf))),
            "lbfgs_grad_norm": fit.grad_norm,
        })
    return rows


def compute(ctx: ExperimentContext) -> dict:
    sweeps = [_sweep(seed) for seed in range(ctx.seeds)]
    degrees = list(range(N_POINTS))
    per_alpha = {}
    for alpha in (0.0, ALPHA):
        stats = {}
        for part in ("train", "test"):
            per_degree = [[s["fits"][alpha][part][d] for s in sweeps] for d in degrees]
            stats[f"{part}_mse_mean"], stats[f"{part}_mse_sd"] = mean_sd_lists(per_degree)
            stats[f"{part}_mse_per_seed"] = per_degree
        per_alpha[f"{alpha:g}"] = {"alpha": alpha, **stats}
    stored = _stored_runs(ctx, sweeps[0])
    shown = [1, TRUE_DEGREE, N_POINTS - 1]
    grid = np.linspace(-1.0, 1.0, 201)
    curves = {f"{alpha:g}": {str(d): (design(grid, d) @ sweeps[0]["fits"][alpha]["theta"][d]).tolist() for d in shown}
              for alpha in (0.0, ALPHA)}
    truth = np.polynomial.polynomial.polyval(grid, sweeps[0]["coefficients"])
    summary = {
        "convention": CONVENTION, "n_points": N_POINTS, "true_degree": TRUE_DEGREE, "noise_std": NOISE_STD,
        "n_test": N_TEST, "alpha": ALPHA, "degrees": degrees, "per_alpha": per_alpha,
        "curves": {"seed": 0, "x_grid": grid.tolist(), "true": truth.tolist(), "degrees_shown": shown,
                   "fitted": curves, "train_x": sweeps[0]["x"].tolist(), "train_y": sweeps[0]["y"].tolist(),
                   "true_coefficients": sweeps[0]["coefficients"]},
        "theta_seed0": {f"{a:g}": [t.tolist() for t in sweeps[0]["fits"][a]["theta"]] for a in (0.0, ALPHA)},
        "stored_runs": stored,
    }
    ctx.configs["stored_degree_3"] = _run_config(TRUE_DEGREE, ctx.quick)
    return summary


def figures(summary: dict) -> dict:
    return {"error_vs_degree": _error_figure(summary["degrees"], summary["per_alpha"]),
            "fitted_curves": _curve_figure(summary["curves"])}


def tables(summary: dict) -> list[Table]:
    degrees, per_alpha, stored = summary["degrees"], summary["per_alpha"], summary["stored_runs"]
    plain, ridge = per_alpha["0"], per_alpha[f"{ALPHA:g}"]
    seeds = len(plain["train_mse_per_seed"][0])
    rows = [[d, fmt_pm(plain["train_mse_per_seed"][d], 4), fmt_pm(plain["test_mse_per_seed"][d], 3),
             fmt_pm(ridge["train_mse_per_seed"][d], 4), fmt_pm(ridge["test_mse_per_seed"][d], 3)] for d in degrees]
    table = Table(f"MSE vs degree, n = {N_POINTS} points (mean ± sd over {seeds} data seed(s))",
                  ["degree", "train (α=0)", "test (α=0)", f"train (α={ALPHA:g})", f"test (α={ALPHA:g})"], rows)
    runs = Table("stored gradient-descent runs (data seed 0) vs the exact minimizer",
                 ["degree", "epochs", "cond(ΦᵀΦ/n)", "cond(ΦᵀΦ/n + αD)", "objective GD", "objective min",
                  "max |θ_GD − θ*|", "max |θ_L-BFGS − θ*|"],
                 [[r["degree"], r["epochs"], f"{r['condition_number']:.1e}",
                   f"{r['penalized_condition_number']:.1e}", f"{r['gd_objective']:.6f}",
                   f"{r['min_objective']:.6f}", f"{r['gd_max_coef_error']:.2e}", f"{r['lbfgs_max_coef_error']:.1e}"]
                  for r in stored])
    return [table, runs]


def reading(summary: dict) -> str:
    return _reading(summary["degrees"], summary["per_alpha"], summary["stored_runs"])


def _error_figure(degrees: list[int], per_alpha: dict):
    fig, axes = new_figure(1, 1, width=6.4, height=4.4)
    ax = axes[0, 0]
    floor = 1e-4
    for color, (key, row) in zip(PALETTE, per_alpha.items()):
        label = "no penalty" if row["alpha"] == 0 else f"L2, α = {key}"
        ax.plot(degrees, np.maximum(row["train_mse_mean"], floor), color=color, ls="--", marker="o", ms=4,
                label=f"train, {label}")
        ax.plot(degrees, row["test_mse_mean"], color=color, marker="s", ms=4, label=f"test, {label}")
    last = per_alpha["0"]["train_mse_mean"][-1]
    ax.annotate(f"degree n−1 = {degrees[-1]} interpolates:\ntrain MSE = {last:.0e} (drawn at {floor:g})",
                xy=(degrees[-1], floor), xytext=(degrees[-1] - 6.2, floor * 1.4), fontsize=8,
                arrowprops={"arrowstyle": "->", "color": "0.3"})
    ax.axhline(NOISE_STD**2, color="0.5", lw=0.8, ls=":", label=f"noise variance {NOISE_STD**2:g}")
    ax.set_yscale("log")
    ax.set_ylim(bottom=floor / 2)
    ax.set_xticks(degrees)
    ax.set(xlabel="polynomial degree d", ylabel="mean squared error (log scale)",
           title=f"Fitting n = {N_POINTS} noisy points of a cubic: error vs degree")
    ax.legend(fontsize=7.5, loc="upper left")
    return fig


def _curve_figure(curves: dict):
    fig, axes = new_figure(2, 1, width=4.8, height=3.8)
    x, y = np.asarray(curves["train_x"]), np.asarray(curves["train_y"])
    margin = 0.6 * (y.max() - y.min())
    for ax, (key, fitted) in zip(axes[0], curves["fitted"].items()):
        ax.plot(curves["x_grid"], curves["true"], color="0.4", ls="--", lw=1.2, label="true cubic")
        for color, (degree, values) in zip(PALETTE, fitted.items()):
            ax.plot(curves["x_grid"], values, color=color, lw=1.6, label=f"degree {degree}")
        ax.scatter(x, y, color="black", zorder=5, s=22, label=f"n = {len(x)} training points")
        ax.set_ylim(y.min() - margin, y.max() + margin)
        top = max(fitted, key=int)
        peak = float(np.max(np.abs(fitted[top])))
        if peak > y.max() + margin:
            ax.text(0.02, 0.03, f"degree {top} passes through every point;\nbetween them it reaches |y| = {peak:.2g}",
                    transform=ax.transAxes, fontsize=7.5, color=PALETTE[2])
        ax.set(xlabel="x", ylabel="y", title="least squares, no penalty" if key == "0" else f"L2 penalty, α = {key}")
    axes[0, 1].legend(fontsize=7.5, loc="best")
    fig.suptitle(f"Polynomials of degree 1, {TRUE_DEGREE} and n−1 = {N_POINTS - 1} fitted to n = {N_POINTS} noisy "
                 "points (data seed 0)", y=1.03)
    return fig


def _reading(degrees: list[int], per_alpha: dict, stored: list[dict]) -> str:
    plain, ridge = per_alpha["0"], per_alpha[f"{ALPHA:g}"]
    top = degrees[-1]
    best_plain = int(np.argmin(plain["test_mse_mean"]))
    best_ridge = int(np.argmin(ridge["test_mse_mean"]))
    fit = ("it interpolates the n points, as the notes say" if plain["train_mse_mean"][top] < 1e-12
           else "not an exact fit, unlike the notes")
    parts = [f"Without a penalty the training error falls with the degree to {plain['train_mse_mean'][top]:.1e} at "
             f"degree {top} ({fit}), while the test error is lowest at degree {best_plain} "
             f"({plain['test_mse_mean'][best_plain]:.3g}) "
             f"and reaches {plain['test_mse_mean'][top]:.3g} at degree {top}."]
    ratio = plain["test_mse_mean"][top] / ridge["test_mse_mean"][top]
    change = f"{ratio:.2g}× lower" if ratio >= 1 else f"{1 / ratio:.2g}× higher"
    parts.append(f"With the L2 penalty α = {ALPHA:g} the degree-{top} fit has test error "
                 f"{ridge['test_mse_mean'][top]:.3g} ({change} than without) and training error "
                 f"{ridge['train_mse_mean'][top]:.3g}; its best degree is {best_ridge} "
                 f"({ridge['test_mse_mean'][best_ridge]:.3g}).")
    easy, hard = stored
    gap = "much further from" if hard["gd_max_coef_error"] > 3 * easy["gd_max_coef_error"] else "about as far from"
    parts.append(f"The gradient-descent runs in the run store ({hard['epochs']} full-batch epochs, α = {ALPHA:g}) end "
                 f"{easy['gd_max_coef_error']:.2g} (degree {easy['degree']}, "
                 f"cond {easy['penalized_condition_number']:.1e}) "
                 f"and {hard['gd_max_coef_error']:.2g} (degree {hard['degree']}, cond "
                 f"{hard['penalized_condition_number']:.1e}) from the exact minimizer in the largest coefficient — "
                 f"{gap} it at the badly conditioned degree — while L-BFGS reaches the closed form to "
                 f"{max(easy['lbfgs_max_coef_error'], hard['lbfgs_max_coef_error']):.0e}.")
    return " ".join(parts)


register("polynomial-degree", "Polynomial degree vs n noisy points, with and without L2", "seed 001",
         "Least-squares polynomials of degree 0…n−1 through n = 10 noisy points of a cubic: train and test error "
         "vs degree, unpenalized and with an L2 penalty; degree n−1 interpolates.",
         compute=compute, figures=figures, tables=tables, reading=reading)
