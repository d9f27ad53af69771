"""Early stopping as a regularizer (seed 003, "Early stopping: stop before reaching the optimum"; Goodfellow §7.8).

Two parts:

1. **Validation curves of an overfitting net.** An MLP on a small MNIST training
   set (the bundled sample) is trained for many epochs without any penalty: the
   training loss keeps falling, the validation loss turns up. The same run with
   reglab's ``early_stopping`` regularizer (monitor ``val_loss``, a patience of
   ``p`` epochs, best weights restored) stops ``p`` epochs after the best epoch.
   Both runs draw the same mini-batches (same seed), so the stopped run is a
   prefix of the long one and its restored weights are those of the best epoch.
2. **The equivalence on least squares** (Goodfellow et al. eq. 7.40–7.44).
   Full-batch gradient descent with learning rate η from w⁽⁰⁾ = 0 on
   C₀(w) = (1/2n)‖Xw − y‖², whose Hessian is H = XᵀX/n = QΛQᵀ, gives

       Qᵀw⁽τ⁾ = [I − (I − ηΛ)^τ] Qᵀŵ         (ŵ the least-squares solution),

   while the L2 minimizer of C₀ + (α/2)‖w‖² is Qᵀw̃ = (Λ + αI)⁻¹Λ Qᵀŵ. For
   ηλᵢ ≪ 1 and λᵢ ≪ α the two factors agree when α ≈ 1/(ητ). The gradient-descent
   iterate is simulated step by step (a pure full-batch computation, done
   directly in float64 rather than through the stored trainer) and its measured
   eigen-components are compared with 1 − (1 − ηλᵢ)^τ and with λᵢ/(λᵢ + α).

Convention: α multiplies the penalty on the *mean* training loss,
C = C₀ + (α/2)‖w‖² (torch SGD's ``weight_decay``); Nielsen's λ = α·n.

References: Goodfellow, Bengio & Courville, *Deep Learning*, 2016, §7.8 and
Algorithm 7.1; Nielsen, *Neural Networks and Deep Learning*, ch. 3; Prechelt,
"Early stopping — but when?" (1998).
"""

from __future__ import annotations

import numpy as np

from reglab.config import parse_config
from reglab.data import load_dataset
from reglab.experiments._base import ExperimentContext, Table, register
from reglab.experiments._common import fmt_pm, stat
from reglab.experiments._plot import PALETTE, new_figure
from reglab.theory import early_stopping_alpha, early_stopping_factors, shrink_factors

CONVENTION = ("α multiplies the penalty on the mean training loss: C = C₀ + (α/2)‖w‖² (torch SGD weight_decay); "
              "Nielsen's λ = α·n. Early stopping after τ full-batch steps of size η corresponds to α ≈ 1/(ητ).")
LR = 0.05  # η of the least-squares gradient descent: ηλ_max = 0.5
TAUS = [10, 100, 1000]
SPECTRUM = np.logspace(-3, 1, 20).tolist()
MONITORS = ("val_loss", "val_error")


def _net_config(seed: int, quick: bool, patience: int | None, monitor: str = "val_loss") -> dict:
    stop = f" early_stopping {monitor} patience={patience}" if patience is not None else ""
    return {
        "name": f"early-stopping MNIST MLP seed={seed}{stop}",
        "data": {"name": "mnist", "n_train": 300 if quick else 1000},
        "model": {"kind": "mlp", "hidden": [128] if quick else [256], "activation": "relu"},
        "train": {"epochs": 15 if quick else 60, "seed": seed, "batch_size": 32, "lr": 0.05, "momentum": 0.9},
        "regularizer": [] if patience is None else [{"kind": "early_stopping", "monitor": monitor,
                                                      "patience": patience}],
    }


def _ls_config() -> dict:
    return {"name": "early-stopping least squares",
            "data": {"name": "linear", "dim": len(SPECTRUM), "n": 40, "n_test": 500, "spectrum": SPECTRUM,
                     "noise_std": 3.0, "seed": 0},
            "model": {"kind": "linear", "bias": False}, "train": {"loss": "half_mse", "dtype": "float64"}}


def compute(ctx: ExperimentContext) -> dict:
    patience = 3 if ctx.quick else 10
    net = _net_part(ctx, patience)
    ls = _least_squares_part()
    ctx.configs.update({"net": _net_config(0, ctx.quick, patience),
                        "least_squares": _ls_config() | {"lr": LR, "w0": "zeros"}})
    return {"convention": CONVENTION, "net": net, "least_squares": ls}


def figures(summary: dict) -> dict:
    return {"validation_curves": _curves_figure(summary["net"]),
            "gd_vs_l2": _equivalence_figure(summary["least_squares"])}


def tables(summary: dict) -> list[Table]:
    return _tables(summary["net"], summary["least_squares"])


def reading(summary: dict) -> str:
    return _reading(summary["net"], summary["least_squares"])


# ---------------------------------------------------------------- part 1: the net


def _net_part(ctx: ExperimentContext, patience: int) -> dict:
    ctx.log(f"MNIST MLP, {ctx.seeds} seed(s): without early stopping (the seeds in one pass), then with it on "
            f"{' and on '.join(MONITORS)} (patience {patience})")
    fulls = ctx.train_many([_net_config(seed, ctx.quick, None) for seed in range(ctx.seeds)])
    stopped = iter(ctx.train_many([_net_config(seed, ctx.quick, patience, m) for seed in range(ctx.seeds)
                                   for m in MONITORS]))
    seeds = [_seed_record(seed, full, {m: next(stopped) for m in MONITORS}) for seed, full in enumerate(fulls)]
    first = seeds[0]
    out = {"patience": patience, "monitors": list(MONITORS), "epochs": len(first["curves"]["val_loss"]),
           "seeds": seeds, "test_error_last_epoch": stat([s["test_error_last_epoch"] for s in seeds])}
    for m in MONITORS:
        out[m] = {"best_epoch": stat([s[m]["best_epoch"] for s in seeds]),
                  "stopped_epoch": stat([s[m]["stopped_epoch"] for s in seeds]),
                  "test_error_early_stopped": stat([s[m]["test_error"] for s in seeds])}
    return out


def _seed_record(seed: int, full, stops: dict) -> dict:
    curves = {key: [h[key] for h in full.history] for key in ("train_loss", "val_loss", "test_loss",
                                                                "train_error", "val_error", "test_error")}
    record = {"seed": seed, "curves": curves,
              "test_error_last_epoch": full.final["test_error"], "val_loss_last_epoch": full.final["val_loss"],
              "argmin_val_loss_full_run": int(np.argmin(curves["val_loss"])) + 1,
              "argmin_val_error_full_run": int(np.argmin(curves["val_error"])) + 1}
    for monitor, stopped in stops.items():
        final = stopped.final
        record[monitor] = {
            "best_epoch": final.get("best_epoch"), "stopped_epoch": final.get("stopped_epoch"),
            "stopped_early": final.get("stopped_early"), "best_value": final.get("best_value"),
            "curve": [h[monitor] for h in stopped.history],
            "test_error": final["test_error"], "val_loss": final["val_loss"], "val_error": final["val_error"]}
    return record


def _curves_figure(net: dict):
    rec = net["seeds"][0]
    c = rec["curves"]
    epochs = np.arange(1, len(c["val_loss"]) + 1)
    fig, axes = new_figure(2, 1, width=5.4, height=3.9)
    ax, ax2 = axes[0, 0], axes[0, 1]
    ax.plot(epochs, c["train_loss"], color=PALETTE[0], label="training loss")
    ax.plot(epochs, c["val_loss"], color=PALETTE[1], label="validation loss")
    ax.set(xlabel="epoch", ylabel="mean cross-entropy", title="losses; early stopping on val_loss",
           ylim=(0, 1.5 * max(c["val_loss"][-1], min(c["val_loss"]))))
    ax2.plot(epochs, c["train_error"], color=PALETTE[0], label="training error")
    ax2.plot(epochs, c["val_error"], color=PALETTE[1], label="validation error")
    ax2.plot(epochs, c["test_error"], color=PALETTE[2], label="test error")
    ax2.set(xlabel="epoch", ylabel="error rate", title="errors; early stopping on val_error")
    for a, monitor, color in ((ax, "val_loss", "#ff7f0e"), (ax2, "val_error", "#9467bd")):
        stop = rec[monitor]
        best, end = stop["best_epoch"], stop["stopped_epoch"]
        a.axvline(best, color="black", ls="--", lw=1, label=f"best {monitor}: epoch {best} (restored)")
        if stop["stopped_early"]:
            a.axvspan(best, end, color=color, alpha=0.18, label=f"patience {net['patience']}: stopped at epoch {end}")
        a.plot([best], [c[monitor][best - 1]], "o", color="black", ms=5)
    for monitor, marker in (("val_loss", "*"), ("val_error", "P")):
        stop = rec[monitor]
        ax2.plot([stop["best_epoch"]], [stop["test_error"]], marker, color="black", ms=9,
                 label=f"test error, stopped on {monitor}: {stop['test_error']:.3f}")
    ax2.axhline(rec["test_error_last_epoch"], color=PALETTE[2], lw=0.8, ls=":",
                label=f"test error after {len(epochs)} epochs: {rec['test_error_last_epoch']:.3f}")
    ax.legend(fontsize=7)
    ax2.legend(fontsize=7)
    fig.suptitle("Overfitting MLP on a small MNIST sample (seed 0) and reglab's early_stopping regularizer")
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------- part 2: least squares


def _least_squares_part() -> dict:
    splits = load_dataset(parse_config(_ls_config()).data)
    X, y = splits.train.x.double().numpy(), splits.train.y.double().numpy()[:, 0]
    n = len(X)
    H, b = X.T @ X / n, X.T @ y / n  # Hessian and −∇C₀(0) of C₀ = (1/2n)‖Xw − y‖²
    lam, Q = np.linalg.eigh(H)
    lam, Q = lam[::-1].copy(), Q[:, ::-1].copy()
    w_hat = np.linalg.solve(H, b)
    c_hat = Q.T @ w_hat
    grid = np.unique(np.round(np.logspace(0, 4, 60)).astype(int))
    iterates = _gradient_descent(H, b, LR, sorted(set(grid.tolist()) | set(TAUS)))
    per_tau = [_compare(tau, iterates[tau], H, b, lam, Q, c_hat) for tau in TAUS]
    Xv, yv = splits.val.x.double().numpy(), splits.val.y.double().numpy()[:, 0]
    val = lambda w: float(0.5 * np.mean((Xv @ w - yv) ** 2))  # noqa: E731
    alphas = [early_stopping_alpha(LR, int(t)) for t in grid]
    ridge = [np.linalg.solve(H + a * np.eye(len(H)), b) for a in alphas]
    distance = [float(np.linalg.norm(iterates[int(t)] - r) / np.linalg.norm(w_hat)) for t, r in zip(grid, ridge)]
    val_gd, val_ridge = [val(iterates[int(t)]) for t in grid], [val(r) for r in ridge]
    best_tau, best_alpha = int(grid[int(np.argmin(val_gd))]), alphas[int(np.argmin(val_ridge))]
    return {"lr": LR, "eigenvalues": lam.tolist(), "spectrum_configured": sorted(SPECTRUM, reverse=True),
            "n": n, "w0": "zeros", "taus": TAUS, "per_tau": per_tau,
            "tau_grid": grid.tolist(), "alpha_equivalent": alphas, "val_loss_gd": val_gd,
            "val_loss_ridge": val_ridge, "relative_distance": distance,
            "best_tau_on_validation": best_tau, "alpha_of_best_tau": early_stopping_alpha(LR, best_tau),
            "best_alpha_on_validation": best_alpha, "val_loss_least_squares": val(w_hat)}


def _gradient_descent(H: np.ndarray, b: np.ndarray, lr: float, keep: list[int]) -> dict[int, np.ndarray]:
    """w ← w − η(Hw − b) from w = 0 (∇C₀ = Hw − b); returns the iterates after the steps in ``keep``."""
    w, out, wanted = np.zeros_like(b), {}, set(keep)
    for step in range(1, max(keep) + 1):
        w = w - lr * (H @ w - b)
        if step in wanted:
            out[step] = w.copy()
    return out


def _compare(tau: int, w_tau: np.ndarray, H, b, lam, Q, c_hat) -> dict:
    alpha = early_stopping_alpha(LR, tau)
    w_ridge = np.linalg.solve(H + alpha * np.eye(len(H)), b)
    gd_measured, ridge_measured = (Q.T @ w_tau) / c_hat, (Q.T @ w_ridge) / c_hat
    gd_formula = early_stopping_factors(lam, LR, tau)
    l2_formula = shrink_factors(lam, alpha)
    return {"tau": tau, "alpha": alpha, "gd_measured": gd_measured.tolist(), "gd_formula": gd_formula.tolist(),
            "ridge_measured": ridge_measured.tolist(), "l2_formula": l2_formula.tolist(),
            "max_abs_gd_measured_vs_formula": float(np.max(np.abs(gd_measured - gd_formula))),
            "max_abs_ridge_measured_vs_formula": float(np.max(np.abs(ridge_measured - l2_formula))),
            "max_abs_gd_vs_l2": float(np.max(np.abs(gd_formula - l2_formula)))}


def _equivalence_figure(ls: dict):
    lam = np.asarray(ls["eigenvalues"])
    fine = np.logspace(np.log10(lam.min()) - 0.3, np.log10(lam.max()) + 0.1, 200)
    fig, axes = new_figure(2, 1, width=5.6, height=4.0)
    ax = axes[0, 0]
    for color, row in zip(PALETTE, ls["per_tau"]):
        tau, alpha = row["tau"], row["alpha"]
        ax.plot(fine, early_stopping_factors(fine, LR, tau), color=color, lw=1.6,
                label=f"τ = {tau}: 1 − (1 − ηλ)^τ")
        ax.plot(fine, shrink_factors(fine, alpha), color=color, lw=1.2, ls="--",
                label=f"λ/(λ+α), α = 1/(ητ) = {alpha:g}")
        ax.plot(lam, row["gd_measured"], "o", color=color, ms=5, mfc="none")
        ax.plot(lam, row["ridge_measured"], "x", color=color, ms=5)
    ax.plot([], [], "ko", mfc="none", label="measured: GD iterate w⁽τ⁾")
    ax.plot([], [], "kx", label="measured: L2 minimizer w̃(α)")
    ax.set_xscale("log")
    ax.set(xlabel="eigenvalue λᵢ of H = XᵀX/n", ylabel="fraction of the component (Qᵀŵ)ᵢ reached",
           title=f"per eigen-direction, η = {LR:g}, w⁽⁰⁾ = 0", ylim=(-0.03, 1.05))
    ax.legend(fontsize=6.5, loc="upper left")
    ax = axes[0, 1]
    alphas = np.asarray(ls["alpha_equivalent"])
    ax.plot(alphas, ls["val_loss_gd"], color=PALETTE[0], label="GD stopped at τ = 1/(ηα)")
    ax.plot(alphas, ls["val_loss_ridge"], color=PALETTE[1], ls="--", label="L2 minimizer at α")
    ax.axvline(ls["alpha_of_best_tau"], color=PALETTE[0], lw=0.8, ls=":",
               label=f"best τ = {ls['best_tau_on_validation']} (α = {ls['alpha_of_best_tau']:.3g})")
    ax.axvline(ls["best_alpha_on_validation"], color=PALETTE[1], lw=0.8, ls=":",
               label=f"best α = {ls['best_alpha_on_validation']:.3g}")
    ax.set_xscale("log")
    ax.set(xlabel="α = 1/(ητ) (log scale; τ grows to the left)", ylabel="validation loss ½·MSE",
           title="early stopping and L2 trace the same path")
    twin = ax.twinx()
    twin.plot(alphas, ls["relative_distance"], color="#7f7f7f", lw=1, label="‖w⁽τ⁾ − w̃(1/(ητ))‖ / ‖ŵ‖")
    twin.set_ylabel("relative distance GD vs L2", color="#7f7f7f")
    lines, extra = ax.get_legend_handles_labels(), twin.get_legend_handles_labels()
    ax.legend(lines[0] + extra[0], lines[1] + extra[1], fontsize=7, loc="upper center")
    fig.suptitle("Least squares (data 'linear', d = 20, n = 40): gradient descent stopped after τ steps "
                 "vs L2 at α = 1/(ητ)")
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------- tables and reading


def _tables(net: dict, ls: dict) -> list[Table]:
    rows = []
    for s in net["seeds"]:
        for m in MONITORS:
            rows.append([s["seed"], m, s[m]["best_epoch"], s[m]["stopped_epoch"], f"{s[m]['test_error']:.4f}",
                         f"{s['test_error_last_epoch']:.4f}"])
    for m in MONITORS:
        rows.append(["mean ± sd", m, fmt_pm([s[m]["best_epoch"] for s in net["seeds"]], 1),
                     fmt_pm([s[m]["stopped_epoch"] for s in net["seeds"]], 1),
                     fmt_pm([s[m]["test_error"] for s in net["seeds"]]),
                     fmt_pm([s["test_error_last_epoch"] for s in net["seeds"]])])
    t1 = Table(f"early stopping on MNIST (patience {net['patience']})",
               ["seed", "monitor", "best epoch", "stopped at", "test error (early-stopped)",
                f"test error (epoch {net['epochs']})"], rows)
    t2 = Table(f"least squares, η = {LR:g}: gradient descent vs L2 per eigen-direction",
               ["τ", "α = 1/(ητ)", "max |measured − (1−(1−ηλ)^τ)|", "max |ridge − λ/(λ+α)|",
                "max |GD factor − L2 factor|"],
               [[r["tau"], f"{r['alpha']:g}", f"{r['max_abs_gd_measured_vs_formula']:.1e}",
                 f"{r['max_abs_ridge_measured_vs_formula']:.1e}", f"{r['max_abs_gd_vs_l2']:.3f}"]
                for r in ls["per_tau"]])
    return [t1, t2]


def _reading(net: dict, ls: dict) -> str:
    s = net["seeds"][0]
    c = s["curves"]
    rises = c["val_loss"][-1] > min(c["val_loss"])
    parts = [f"Without early stopping the validation loss is lowest at epoch {s['argmin_val_loss_full_run']} "
             f"({min(c['val_loss']):.3f}) and ends at {c['val_loss'][-1]:.3f} after {len(c['val_loss'])} epochs"
             + (" — the net overfits in loss" if rises else " — no rise in this run") +
             f"; the validation error is lowest at epoch {s['argmin_val_error_full_run']}."]
    last = net["test_error_last_epoch"]["mean"]
    for m in MONITORS:
        row = net[m]
        test = row["test_error_early_stopped"]["mean"]
        parts.append(f"Monitoring {m} (patience {net['patience']}) stops at epoch {row['stopped_epoch']['mean']:.1f} "
                     f"({row['stopped_epoch']['mean'] / net['epochs']:.0%} of the epochs) and restores epoch "
                     f"{row['best_epoch']['mean']:.1f} on average: test error {test:.3f}, "
                     f"{'lower' if test < last else 'not lower'} than {last:.3f} after all epochs.")
    worst = max(r["max_abs_gd_measured_vs_formula"] for r in ls["per_tau"])
    gap = max(r["max_abs_gd_vs_l2"] for r in ls["per_tau"])
    parts.append(f"On least squares the simulated gradient-descent components match 1 − (1 − ηλᵢ)^τ to {worst:.1e}; "
                 f"the L2 factors λᵢ/(λᵢ+α) at α = 1/(ητ) differ from them by at most {gap:.2f} (where λᵢ ≈ α), and "
                 f"validation picks τ = {ls['best_tau_on_validation']} (α ≈ {ls['alpha_of_best_tau']:.3g}) for "
                 f"gradient descent vs α = {ls['best_alpha_on_validation']:.3g} for L2.")
    return " ".join(parts)


register("early-stopping", "Early stopping: validation curves and the equivalence α ≈ 1/(ητ)",
         "seed 003 (Goodfellow et al. §7.8)",
         "An overfitting MLP on a small MNIST set with and without the early_stopping regularizer, and gradient "
         "descent on least squares compared eigen-direction by eigen-direction with L2 at α = 1/(ητ).",
         compute=compute, figures=figures, tables=tables, reading=reading)

__all__ = ["compute", "figures", "tables", "reading"]
