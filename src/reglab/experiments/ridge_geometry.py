"""The geometry of L2 regularization, Goodfellow et al. Fig. 7.1 (seeds 000, 002, 004).

Around the minimum w* of the unregularized loss C₀ with Hessian H = QΛQᵀ, the
minimizer of the quadratic model of C₀ + (α/2)‖w‖² is

    w̃(α) = (H + αI)⁻¹Hw* = Q(Λ + αI)⁻¹ΛQᵀw*,

so the component of w* along the eigenvector qᵢ is multiplied by λᵢ/(λᵢ + α):
kept where the curvature is high, removed where it is low (Khapra, seed 000;
Bischl, seed 002; the "Geometry of L2 regularization" slides, seed 004).

(a) A 2-parameter quadratic with eigenvalues 2 and 0.1 along axes rotated by 30°:
the ellipses of C₀, the circles of ‖w‖², w*, w̃ where the two are tangent, and
the path w̃(α) from w* (α = 0) to the origin (α → ∞), with the shrink factors.

(b) A real network — an MLP 2-4-2 (tanh) on the noisy ``gauss`` set, cross-entropy.
An unregularized MLP has no finite minimizer here (the L-BFGS iterates grow
without bound as the tanh units saturate), so the reference point is the
minimizer w₀ = w̃(α₀) at a small α₀ = 0.01 (trained with ``ctx.train``, then
polished with full-batch L-BFGS). With H₀ = ∇²C₀(w₀) the quadratic model
predicts w̃(α) = w₀ − (H₀ + αI)⁻¹(∇C₀(w₀) + αw₀) = (H₀ + αI)⁻¹(H₀ + α₀I)w₀
(``reglab.theory.predict`` with ``grad0 = ∇C₀(w₀)``): the factor along qᵢ is
(λᵢ + α₀)/(λᵢ + α), the notes' λᵢ/(λᵢ + α) for α₀ → 0. The figure is the plane
through w₀ of the top-2 eigenvectors of H₀ (``HessianOperator`` on the
``reglab.curvature.Objective`` at w₀, + ``eigen``): C₀ on that plane, the penalty
circles, and the projections of w̃(α) — predicted, and trained to the minimizer
with L-BFGS (``reglab.verify.fit_minimizers``). The two are judged by
``reglab.verify.compare`` (relative error ≤ ``HOLDS_THRESHOLD``), as in ``reglab verify``.

Convention: α multiplies (α/2)‖w‖² added to the *mean* training loss C₀ (torch
SGD's ``weight_decay``, Goodfellow's α; Nielsen's λ = α·n), and H is the Hessian
of that mean loss. In (b) every parameter, biases included, is penalized, so the
formula applies to the whole vector θ without a Schur complement.

Reference: Goodfellow, Bengio & Courville, *Deep Learning*, 2016, §7.1.1, Fig. 7.1.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from reglab.curvature import HessianOperator, Objective, dense_hessian, eigen
from reglab.experiments._base import ExperimentContext, Table, register
from reglab.experiments._common import fmt_pm
from reglab.experiments._plot import PALETTE, new_figure, plot_penalty_geometry
from reglab.theory import predict, ridge_transform, shrink_factors
from reglab.verify import HOLDS_THRESHOLD, classification_error, compare, fit_minimizers, minimize_lbfgs

# (a) the 2-parameter quadratic
ANGLE_DEG = 30.0
EIGENVALUES = (0.1, 2.0)  # along q₁ = (cos θ, sin θ) and q₂ = (−sin θ, cos θ)
W_STAR = (1.5, 2.0)
MARKED_ALPHAS = (0.03, 0.1, 0.3, 1.0)
SHOWN_ALPHA = 0.1  # the w̃ drawn with its tangent ellipse and circle

# (b) the network
REFERENCE_ALPHA = 0.01
NET_ALPHAS = (0.011, 0.013, 0.02, 0.03, 0.1, 0.3, 1.0, 3.0)
NET_ALPHAS_QUICK = (0.012, 0.03, 0.3, 1.0)


def _quadratic() -> dict:
    theta = math.radians(ANGLE_DEG)
    Q = np.array([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]])
    lam = np.array(EIGENVALUES)
    H = Q @ np.diag(lam) @ Q.T
    w_star = np.array(W_STAR)
    path_alphas = np.logspace(-3, 1.5, 181)
    path = ridge_transform(H, w_star, path_alphas)
    marked = ridge_transform(H, w_star, np.array(MARKED_ALPHAS))
    shown = ridge_transform(H, w_star, SHOWN_ALPHA)
    c_star = Q.T @ w_star
    observed = (marked @ Q) / c_star
    # At w̃ the two gradients balance: H(w̃ − w*) + αw̃ = 0 (the ellipse is tangent to the circle).
    residual = float(np.linalg.norm(H @ (shown - w_star) + SHOWN_ALPHA * shown))
    return {
        "angle_deg": ANGLE_DEG, "eigenvalues": lam.tolist(), "eigenvectors": Q.tolist(), "H": H.tolist(),
        "w_star": w_star.tolist(), "c_star": c_star.tolist(),
        "path_alphas": path_alphas.tolist(), "path": path.tolist(),
        "marked_alphas": list(MARKED_ALPHAS), "marked_w_tilde": marked.tolist(),
        "marked_factors_predicted": shrink_factors(lam, np.array(MARKED_ALPHAS)).tolist(),
        "marked_factors_observed": observed.tolist(),
        "shown_alpha": SHOWN_ALPHA, "shown_w_tilde": shown.tolist(),
        "shown_factors": shrink_factors(lam, SHOWN_ALPHA).tolist(), "tangency_residual": residual,
    }


def _net_config(seed: int) -> dict:
    return {
        "name": f"ridge-geometry reference α₀={REFERENCE_ALPHA:g} seed={seed}",
        "data": {"name": "gauss", "n_points": 200, "noise": 50.0, "train_ratio": 50.0, "seed": seed},
        "model": {"kind": "mlp", "hidden": [4], "activation": "tanh"},
        "train": {"epochs": 40, "seed": seed, "batch_size": 20, "lr": 0.05},
        "regularizer": [{"kind": "l2", "alpha": REFERENCE_ALPHA, "mask": "all"}],
    }


def _network(ctx: ExperimentContext, seed: int, alphas: tuple[float, ...]) -> dict:
    result = ctx.train(_net_config(seed))
    # Every parameter, biases included, is in w and penalized (Objective's defaults).
    obj = Objective(result.model.cpu(), result.loss_fn, (result.splits.train.x, result.splits.train.y),
                    dtype=torch.float64)
    ref = minimize_lbfgs(obj, obj.vector(), REFERENCE_ALPHA, tol=1e-10, max_iter=5000)
    w0 = ref.w
    at = obj.at(w0)
    top = eigen(HessianOperator(at), 2)
    lam, Q = top.eigenvalues.double(), top.eigenvectors.double()
    Q = Q * torch.where(Q.T @ w0 < 0, -1.0, 1.0)  # orient each qᵢ so w₀ has positive coordinates
    H = dense_hessian(at)
    g0 = obj.grad(w0)
    c0 = Q.T @ w0

    path_alphas = torch.logspace(math.log10(REFERENCE_ALPHA), math.log10(max(alphas) * 3), 121,
                                 dtype=torch.float64)
    path = predict(H, w0, path_alphas, grad0=g0) @ Q
    fits = fit_minimizers(obj, w0, alphas, tol=1e-10, max_iter=5000)
    trained_t = torch.stack([fit.w for fit in fits])
    predicted_t = predict(H, w0, list(alphas), grad0=g0)
    full = compare(predicted_t, trained_t, HOLDS_THRESHOLD)
    plane = compare(predicted_t @ Q, trained_t @ Q, HOLDS_THRESHOLD)
    factors_pred = ((lam[None, :] + REFERENCE_ALPHA) / (lam[None, :] + torch.tensor(alphas)[:, None])).tolist()
    loss_plane = _loss_plane(obj, w0, Q, c0, [trained_t @ Q, predicted_t @ Q])
    return {
        "seed": seed, "run_id": result.run_id, "n_parameters": len(w0),
        "reference_alpha": REFERENCE_ALPHA, "reference_grad_norm": ref.grad_norm,
        "reference_converged": ref.converged, "reference_train_error": classification_error(obj, w0),
        "reference_norm": float(w0.norm()),
        "eigenvalues_top2": lam.tolist(), "eigen_residuals": top.residual_norms.tolist(), "eigen_method": top.method,
        "smallest_eigenvalue": float(torch.linalg.eigvalsh(H)[0]),
        "c_reference": c0.tolist(), "alphas": list(alphas),
        "projection_trained": (trained_t @ Q).tolist(), "projection_predicted": (predicted_t @ Q).tolist(),
        "factors_predicted": factors_pred, "factors_observed": ((trained_t @ Q) / c0).tolist(),
        "rel_err_full": [c.rel_err for c in full], "rel_err_plane": [c.rel_err for c in plane],
        "holds_full": [c.holds for c in full], "holds_plane": [c.holds for c in plane],
        "cosine_full": [c.cosine for c in full],
        "norm_trained": [c.norm_trained for c in full], "norm_predicted": [c.norm_predicted for c in full],
        "trained_converged": [f.converged for f in fits], "trained_grad_norm": [f.grad_norm for f in fits],
        "path_alphas": path_alphas.tolist(), "path_projection": path.tolist(), "plane": loss_plane,
    }


def _loss_plane(obj, w0: torch.Tensor, Q: torch.Tensor, c0: torch.Tensor, extra: list[torch.Tensor],
                size: int = 41) -> dict:
    """C₀ on the plane w = w₀ + (c₁ − c₁⁰)q₁ + (c₂ − c₂⁰)q₂, over a square holding 0, w₀ and the points."""
    pts = torch.cat([torch.zeros(1, 2, dtype=torch.float64), c0[None, :], *extra])
    lo, hi = pts.min(0).values, pts.max(0).values
    centre, half = (lo + hi) / 2, 0.7 * float((hi - lo).max())  # square, so the ‖w‖ circles look round
    c1 = torch.linspace(float(centre[0]) - half, float(centre[0]) + half, size, dtype=torch.float64)
    c2 = torch.linspace(float(centre[1]) - half, float(centre[1]) + half, size, dtype=torch.float64)
    loss = torch.empty(size, size, dtype=torch.float64)
    with torch.no_grad():
        for i, b in enumerate(c2):
            for j, a in enumerate(c1):
                loss[i, j] = obj.loss(w0 + (a - c0[0]) * Q[:, 0] + (b - c0[1]) * Q[:, 1])
    return {"c1": c1.tolist(), "c2": c2.tolist(), "loss": loss.tolist()}


def compute(ctx: ExperimentContext) -> dict:
    quad = _quadratic()
    alphas = NET_ALPHAS_QUICK if ctx.quick else NET_ALPHAS
    nets = []
    for seed in range(ctx.seeds):
        ctx.log(f"network, seed {seed}")
        nets.append(_network(ctx, seed, alphas))
    ctx.configs["network seed 0"] = _net_config(0)
    return {
        "convention": "α multiplies (α/2)‖w‖² added to the MEAN training loss (torch weight_decay, Goodfellow's α; "
                      "Nielsen's λ = α·n); H is the Hessian of that mean loss. Network: all parameters penalized; "
                      "reference w₀ = argmin C₀ + (α₀/2)‖w‖², predicted factor (λᵢ+α₀)/(λᵢ+α)",
        "quadratic": quad, "network": nets,
        "network_holds_threshold": HOLDS_THRESHOLD,
    }


def figures(summary: dict) -> dict:
    return {"quadratic_geometry": _quadratic_figure(summary["quadratic"]),
            "network_plane": _network_figure(summary["network"][0], summary["network_holds_threshold"])}


def tables(summary: dict) -> list[Table]:
    quad, nets = summary["quadratic"], summary["network"]
    rows = []
    for i, alpha in enumerate(nets[0]["alphas"]):
        rows.append([f"{alpha:g}", " / ".join(f"{f:.3f}" for f in nets[0]["factors_predicted"][i]),
                     " / ".join(f"{f:.3f}" for f in nets[0]["factors_observed"][i]),
                     fmt_pm([n["rel_err_plane"][i] for n in nets], 3), fmt_pm([n["rel_err_full"][i] for n in nets], 3)])
    net_table = Table(f"MLP: factors along q₁ / q₂ (seed 0) and relative error of the predicted w̃(α), "
                      f"reference α₀ = {REFERENCE_ALPHA:g}",
                      ["α", "predicted (λᵢ+α₀)/(λᵢ+α)", "trained cᵢ(α)/cᵢ(α₀)", "rel. error on the q₁q₂ plane",
                       "rel. error, all θ"],
                      rows)
    quad_table = Table("2-D quadratic: shrink factors λᵢ/(λᵢ+α) along q₁ (λ = 0.1) / q₂ (λ = 2)",
                       ["α", "w̃(α)", "factor q₁", "factor q₂"],
                       [[f"{a:g}", f"({w[0]:.3f}, {w[1]:.3f})", f"{f[0]:.3f}", f"{f[1]:.3f}"]
                        for a, w, f in zip(quad["marked_alphas"], quad["marked_w_tilde"],
                                           quad["marked_factors_predicted"])])
    return [quad_table, net_table]


def reading(summary: dict) -> str:
    return _reading(summary["quadratic"], summary["network"], summary["network_holds_threshold"])


def _quadratic_figure(quad: dict):
    fig, axes = new_figure(2, 1, width=5.4, height=4.8)
    ax = axes[0, 0]
    w_star, Q, lam = np.array(quad["w_star"]), np.array(quad["eigenvectors"]), np.array(quad["eigenvalues"])
    g = np.linspace(-0.8, 2.8, 241)
    plot_penalty_geometry(ax, quad["H"], w_star, g, np.hypot, path=quad["path"], marked_alphas=quad["marked_alphas"],
                          marked_w=quad["marked_w_tilde"], shown=quad["shown_w_tilde"],
                          loss_scales=[0.08, 0.3, 2.5, 5.0, 9.0], penalty_levels=[0.5, 1.0, 1.5, 2.5],
                          path_label="path w̃(α), α: 10⁻³ → 30", shown_label=f"w̃ at α = {quad['shown_alpha']:g}",
                          label_offset=(5, -10))
    ax.plot(0, 0, "+", color="gray", ms=10)
    for i, color in ((0, PALETTE[2]), (1, PALETTE[3])):
        d = Q[:, i] * 0.55
        ax.annotate("", xy=w_star + d, xytext=w_star, arrowprops={"arrowstyle": "->", "color": color, "lw": 1.8})
        ax.annotate(f"q{i + 1}: λ{i + 1} = {lam[i]:g}\nλ{i + 1}/(λ{i + 1}+α) = {quad['shown_factors'][i]:.2f}",
                    w_star + d, textcoords="offset points", xytext=(4, 2), fontsize=8, color=color,
                    bbox={"fc": "white", "ec": "none", "alpha": 0.75, "pad": 1})
    ax.set(title=f"solid: C₀ ellipses, dashed: ‖w‖ circles; factors at α = {quad['shown_alpha']:g}")
    ax.legend(fontsize=7, loc="lower right")
    ax2 = axes[0, 1]
    alphas = np.logspace(-3, 1.5, 181)
    factors = shrink_factors(lam, alphas)
    observed = np.array(quad["marked_factors_observed"])
    for i, color in ((0, PALETTE[2]), (1, PALETTE[3])):
        ax2.plot(alphas, factors[:, i], color=color, label=f"λ{i + 1}/(λ{i + 1}+α), λ{i + 1} = {lam[i]:g}")
        ax2.plot(quad["marked_alphas"], observed[:, i], "o", color=color, mfc="white",
                 label=f"q{i + 1}ᵀw̃ / q{i + 1}ᵀw* on the path")
        ax2.axvline(lam[i], color=color, ls=":", lw=1)
    ax2.axhline(0.5, color="gray", lw=0.6)
    ax2.set(xscale="log", xlabel="α", ylabel="shrink factor", ylim=(-0.03, 1.03),
            title="component kept along each eigenvector")
    ax2.legend(fontsize=7)
    fig.suptitle(f"(a) Quadratic C₀ with eigenvalues {lam[0]:g}, {lam[1]:g} on axes rotated {quad['angle_deg']:g}°: "
                 "w̃ = Q(Λ+αI)⁻¹ΛQᵀw*", y=1.02)
    return fig


def _network_figure(net: dict, threshold: float):
    fig, axes = new_figure(3, 1, width=4.9, height=4.6)
    ax = axes[0, 0]
    plane = net["plane"]
    c1, c2, loss = np.array(plane["c1"]), np.array(plane["c2"]), np.array(plane["loss"])
    levels = np.unique(np.quantile(loss, np.linspace(0.02, 0.95, 14)))
    cs = ax.contour(c1, c2, loss, levels=levels, colors=PALETTE[0], linewidths=0.8)
    ax.clabel(cs, levels[::3], fontsize=6, fmt="%.3f")
    C1, C2 = np.meshgrid(c1, c2)
    ax.contour(C1, C2, np.hypot(C1, C2), levels=6, colors="gray", linestyles="--", linewidths=0.7)
    lam, c0 = net["eigenvalues_top2"], np.array(net["c_reference"])
    path = np.array(net["path_projection"])
    ax.plot(path[:, 0], path[:, 1], color=PALETTE[1], lw=1.5, label="predicted path (quadratic model)")
    pred, trained = np.array(net["projection_predicted"]), np.array(net["projection_trained"])
    last = c0
    for k, a in enumerate(net["alphas"]):
        ax.plot([pred[k, 0], trained[k, 0]], [pred[k, 1], trained[k, 1]], ":", color="gray", lw=0.8)
        if np.hypot(*(trained[k] - last)) > 0.06 * np.ptp(c1):  # label only points that stand apart
            ax.annotate(f"α={a:g}", trained[k], textcoords="offset points", xytext=(5, -3), fontsize=7)
            last = trained[k]
    ax.plot(pred[:, 0], pred[:, 1], "o", color=PALETTE[1], mfc="white", ms=6, label="predicted w̃(α)")
    ax.plot(trained[:, 0], trained[:, 1], "x", color="black", ms=7, mew=1.6, label="trained w̃(α) (L-BFGS)")
    ax.plot(*c0, "*", color="black", ms=12, label=f"w₀ = w̃(α₀), α₀ = {net['reference_alpha']:g}")
    ax.plot(0, 0, "+", color="gray", ms=10)
    span = 0.1 * np.ptp(c1)
    for i, (dx, dy), color in ((0, (1, 0), PALETTE[2]), (1, (0, 1), PALETTE[3])):
        ax.annotate("", xy=(c0[0] + dx * span, c0[1] + dy * span), xytext=(c0[0] - dx * span, c0[1] - dy * span),
                    arrowprops={"arrowstyle": "<->", "color": color, "lw": 1.6})
        ax.annotate(f"q{i + 1}, λ{i + 1} = {lam[i]:.3f}", (c0[0] + dx * span, c0[1] + dy * span),
                    textcoords="offset points", xytext=(3, 3), fontsize=7, color=color)
    ax.set(xlabel="q₁ᵀw (top Hessian eigenvector)", ylabel="q₂ᵀw (second eigenvector)", aspect="equal",
           title="C₀ on the top-2 eigen-plane through w₀ (dashed: ‖w‖)")
    ax.title.set_fontsize(9)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2)

    ax2 = axes[0, 1]
    alphas = np.array(net["path_alphas"])
    lam_arr = np.array(lam)
    f_obs = np.array(net["factors_observed"])
    for i, color in ((0, PALETTE[2]), (1, PALETTE[3])):
        ax2.plot(alphas, (lam_arr[i] + net["reference_alpha"]) / (lam_arr[i] + alphas), color=color,
                 label=f"predicted (λ{i + 1}+α₀)/(λ{i + 1}+α)")
        ax2.plot(net["alphas"], f_obs[:, i], "x", color=color, ms=7, mew=1.6, label=f"trained q{i + 1}ᵀw̃/q{i + 1}ᵀw₀")
        ax2.axvline(lam_arr[i], color=color, ls=":", lw=1)
    ax2.axhline(0, color="black", lw=0.6)
    ax2.set(xscale="log", xlabel="α", ylabel="factor", title="shrink factors along q₁, q₂")
    ax2.legend(fontsize=7)

    ax3 = axes[0, 2]
    ax3.plot(net["alphas"], net["rel_err_full"], "o-", color=PALETTE[4], label="all parameters θ")
    ax3.plot(net["alphas"], net["rel_err_plane"], "s--", color=PALETTE[5], label="projection on q₁, q₂")
    ax3.axhline(threshold, color="gray", ls="--", lw=0.8, label=f"{threshold:g}")
    ax3.set(xscale="log", yscale="log", xlabel="α", ylabel="‖w̃_pred − w̃‖ / max(‖w̃_pred‖, ‖w̃‖)",
            title=f"quadratic model vs trained, {net['n_parameters']} parameters")
    ax3.legend(fontsize=7)
    fig.suptitle("(b) MLP 2-4-2 (tanh) on noisy gauss: where the quadratic model of the loss holds", y=1.02)
    return fig


def _reading(quad: dict, nets: list[dict], threshold: float) -> str:
    f_small, f_big = quad["shown_factors"]
    parts = [f"On the quadratic, α = {quad['shown_alpha']:g} keeps {f_big:.0%} of w*'s component along the "
             f"high-curvature eigenvector (λ = {quad['eigenvalues'][1]:g}) but only {f_small:.0%} along the "
             f"low-curvature one (λ = {quad['eigenvalues'][0]:g}); at w̃ the gradients of C₀ and of the penalty "
             f"balance to {quad['tangency_residual']:.1e}."]
    net = nets[0]
    alphas, lam = net["alphas"], net["eigenvalues_top2"]
    parts.append(f"On the MLP (seed 0; top Hessian eigenvalues {lam[0]:.3f}, {lam[1]:.3f} at w₀ = w̃(α₀), "
                 f"α₀ = {net['reference_alpha']:g}), the predicted w̃(α) is within {threshold:.0%} of the trained "
                 f"minimizer {_holds_range(alphas, net['holds_full'], net['rel_err_full'])} for the whole "
                 f"parameter vector, and {_holds_range(alphas, net['holds_plane'], net['rel_err_plane'])} for its "
                 "projection on q₁, q₂.")
    last, pred_last = net["factors_observed"][-1], net["factors_predicted"][-1]
    collapsed = net["norm_trained"][-1] < 0.05 * net["reference_norm"]
    parts.append(f"At the largest α = {alphas[-1]:g} the trained factors along q₁, q₂ are {last[0]:.2f}, "
                 f"{last[1]:.2f} against the predicted {pred_last[0]:.2f}, {pred_last[1]:.2f}"
                 + (f"; the trained network has collapsed almost to w = 0 (‖w̃‖ = {net['norm_trained'][-1]:.3f} "
                    f"against ‖w₀‖ = {net['reference_norm']:.3f}), which the quadratic model around w₀ cannot "
                    "foresee." if collapsed else "."))
    return " ".join(parts)


def _holds_range(alphas: list[float], holds: list[bool], errors: list[float]) -> str:
    """'for α ≤ a' over the leading run of α where the prediction holds (``compare``), and where it first breaks."""
    ok = 0
    while ok < len(alphas) and holds[ok]:
        ok += 1
    if ok == len(alphas):
        return f"for every α tried (up to {alphas[-1]:g})"
    held = f"for α ≤ {alphas[ok - 1]:g}" if ok else "for none of the α tried"
    return f"{held} (from α = {alphas[ok]:g} the error is {errors[ok]:.2f})"


register("ridge-geometry", "Geometry of L2: w̃ = Q(Λ+αI)⁻¹ΛQᵀw* on a quadratic and on a network",
         "seeds 000, 002, 004 (Khapra; Bischl; Goodfellow Fig. 7.1)",
         "Loss ellipses, penalty circles and the path w̃(α) for a rotated 2-D quadratic (eigenvalues 0.1, 2), "
         "and for an MLP in the plane of its top-2 Hessian eigenvectors: predicted vs trained.",
         compute=compute, figures=figures, tables=tables, reading=reading)
