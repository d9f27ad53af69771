"""Top-10 Hessian eigenpairs: reglab's Lanczos against PyHessian's power iteration.

An MLP 20-48-48-5 (P = 3605) is trained briefly on a teacher network's labels
(2000 examples), so that the Hessian has the outliers and bulk of a trained
network. Both methods run on the same float64 operator in the same process:

* baseline — power iteration with deflation, PyHessian's defaults (tol 1e-3 on
  the relative eigenvalue change, at most 100 products per eigenvalue);
* reglab — ``eigen(op, 10, method="lanczos")`` (full reorthogonalization);
* for reference — ARPACK (``scipy.sparse.linalg.eigsh``) at the same tolerance;
* the real peers, on a float64 copy of the same model and data (``bench`` extra):
  the ``pyhessian`` package's ``hessian(...).eigenvalues(top_n=10)`` (its
  defaults) and ``curvlinops``' ``HessianLinearOperator`` with SciPy ``eigsh``;
  their residuals are measured afterwards with reglab's float64 operator (not
  counted in their HVPs). Skipped with a note when not installed.

Reported: Hessian-vector products (including those spent measuring residuals),
the largest residual ``‖Hv − λv‖``, and wall time, as ratios to the baseline.
Goal: half the products or fewer at a residual 1000× smaller.

    python benchmarks/bench_eigen.py [--quick] [--threads N]
"""

from __future__ import annotations

import argparse
import copy
import warnings

import torch
import torch.nn.functional as F

from reglab.curvature import eigen, hessian_operator, power_iteration

K = 10


def _mlp(seed: int) -> torch.nn.Module:
    g = torch.Generator().manual_seed(seed)
    model = torch.nn.Sequential(
        torch.nn.Linear(20, 48), torch.nn.Tanh(), torch.nn.Linear(48, 48), torch.nn.Tanh(), torch.nn.Linear(48, 5)
    )
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) / (p.shape[-1] ** 0.5))
    return model


def _trained_problem(steps: int):
    g = torch.Generator().manual_seed(0)
    X = torch.randn(2000, 20, generator=g)
    with torch.no_grad():
        Y = _mlp(seed=1)(X).argmax(dim=1)
    model = _mlp(seed=2)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(steps):
        optimizer.zero_grad()
        F.cross_entropy(model(X), Y).backward()
        optimizer.step()
    return model, X, Y


def _peers(model, X, Y, op, tol: float) -> dict:
    """The pyhessian package and curvlinops + eigsh as EigenResults (residuals measured with ``op``)."""
    from reglab.curvature import EigenResult

    try:
        from bench_curvature_scale import curvlinops_top, pyhessian_top
    except ImportError as exc:  # pragma: no cover - the bench extra is missing
        print(f"peers skipped: {exc}")
        return {}
    found = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, run in (("pyhessian (package)", lambda m: pyhessian_top(m, X.double(), Y, K)),
                          ("curvlinops + eigsh", lambda m: curvlinops_top(m, X.double(), Y, K, tol))):
            try:
                values, V, hvps, seconds = run(copy.deepcopy(model).double())
            except ImportError as exc:
                print(f"{name} skipped: {exc}")
                continue
            V = V.to(torch.float64) / torch.linalg.vector_norm(V.to(torch.float64), dim=0)
            residuals = torch.linalg.vector_norm(op.matmat(V) - V * values, dim=0)
            found[name] = EigenResult(values, V, residuals, hvps, seconds, name)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter training (a smoke run)")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--tol", type=float, default=1e-7, help="Lanczos/ARPACK tolerance, relative to ‖H‖")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    model, X, Y = _trained_problem(steps=100 if args.quick else 300)
    op = hessian_operator(model, F.cross_entropy, (X, Y), dtype=torch.float64)
    print(
        f"MLP 20-48-48-5, P = {op.shape[0]}, N = {X.shape[0]}, loss {float(op.loss()):.4f}, float64, "
        f"{torch.get_num_threads()} threads"
    )

    baseline = power_iteration(op, K, tol=1e-3, max_iter=100, seed=0)
    runs = {
        "power (PyHessian)": baseline,
        "lanczos (reglab)": eigen(op, K, "LA", method="lanczos", tol=args.tol, seed=0),
        "arpack (eigsh)": eigen(op, K, "LA", method="arpack", tol=args.tol, seed=0),
    }
    runs.update(_peers(model, X, Y, op, args.tol))
    base_res = float(baseline.residual_norms.max())
    print(f"{'method':<18} {'HVPs':>6} {'max residual':>13} {'time s':>8} | ratios to power: HVPs, residual, time")
    for name, r in runs.items():
        res = float(r.residual_norms.max())
        print(
            f"{name:<18} {r.num_matvecs:>6d} {res:>13.2e} {r.seconds:>8.2f} | "
            f"{r.num_matvecs / baseline.num_matvecs:>6.2f} {res / base_res:>10.1e} {r.seconds / baseline.seconds:>6.2f}"
        )
    lanczos, arpack = runs["lanczos (reglab)"], runs["arpack (eigsh)"]
    print("top eigenvalues (lanczos):", ", ".join(f"{v:.4f}" for v in lanczos.eigenvalues.tolist()))
    print(f"max |λ_lanczos − λ_arpack| = {float((lanczos.eigenvalues - arpack.eigenvalues).abs().max()):.1e}")
    power_sorted = torch.sort(baseline.eigenvalues, descending=True).values
    print(f"max |λ_lanczos − λ_power|  = {float((lanczos.eigenvalues - power_sorted).abs().max()):.1e}")
    if "curvlinops + eigsh" in runs:
        other = runs["curvlinops + eigsh"].eigenvalues
        print(f"max |λ_lanczos − λ_curvlinops| = {float((lanczos.eigenvalues - other).abs().max()):.1e}")
    hvp_ratio = lanczos.num_matvecs / baseline.num_matvecs
    res_ratio = float(lanczos.residual_norms.max()) / base_res
    met = hvp_ratio <= 0.5 and res_ratio <= 1e-3
    verdict = "met" if met else "NOT met"
    print(f"goal: ≤ 0.5× the HVPs at ≤ 1e-3× the residual: {verdict} ({hvp_ratio:.2f}×, {res_ratio:.1e}×)")


if __name__ == "__main__":
    main()
