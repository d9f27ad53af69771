"""Cost of one Hessian-vector product relative to one gradient, per HVP formulation.

MLP 64-128-128-10 (tanh), cross-entropy, batch 1000 of random data. The baseline
is the cheapest gradient torch offers for this model (``nn.Module`` forward +
``torch.autograd.grad``), timed in the same process and interleaved with every
formulation, so that load on the machine cancels in the ratios.
Beside reglab's formulations, the real peers on the same model and data
(``bench`` extra; skipped with a note when not installed): the ``pyhessian``
package's ``hessian_vector_product`` on the gradient graph its ``hessian``
object keeps (built once, so a product is only the second backward pass — and
the whole graph stays in memory), and ``curvlinops``' ``HessianLinearOperator``
(``H @ v``, and ``H @ V`` for the block column).
Goal: the default formulation ≤ 2.5 gradients per HVP.

    python benchmarks/bench_hvp.py [--quick] [--threads N] [--activation tanh|relu]

On a machine shared with other jobs, ``--threads 1`` avoids the thread-pool
oversubscription that inflates both timings unevenly.
"""

from __future__ import annotations

import argparse
import random
import importlib
import statistics
import time
import warnings

import torch
import torch.nn.functional as F

from reglab.curvature import hessian_operator

METHODS = ("double-backward", "rev-rev", "fwd-rev")
GOAL = 2.5
ACTIVATIONS = {"tanh": torch.nn.Tanh, "relu": torch.nn.ReLU}


def _problem(activation: str = "tanh", seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    act = ACTIVATIONS[activation]
    model = torch.nn.Sequential(
        torch.nn.Linear(64, 128), act(), torch.nn.Linear(128, 128), act(), torch.nn.Linear(128, 10)
    )
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) / (p.shape[-1] ** 0.5))
    X = torch.randn(1000, 64, generator=g)
    Y = torch.randint(0, 10, (1000,), generator=g)
    return model, X, Y


def _seconds(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _peers(model, X, Y):
    """``{name: (matvec, matmat)}`` for the installed peers (pyhessian, curvlinops)."""
    found = {}
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", message=".*create_graph=True will create a reference cycle")
    try:
        ph = importlib.import_module("pyhessian.hessian")
        torch.manual_seed(0)
        h = ph.hessian(model, torch.nn.CrossEntropyLoss(), data=(X, Y), cuda=False)
        shapes = [p.shape for p in h.params]

        def split(v):
            return [c.reshape(s) for c, s in zip(torch.split(v, [s.numel() for s in shapes]), shapes)]

        def ph_matvec(v):
            return ph.hessian_vector_product(h.gradsH, h.params, split(v))

        def ph_matmat(V):
            return [ph_matvec(V[:, j]) for j in range(V.shape[1])]

        found["pyhessian (cached graph)"] = (ph_matvec, ph_matmat)
    except ImportError as exc:
        print(f"pyhessian skipped: {exc}")
    try:
        from curvlinops import HessianLinearOperator

        H = HessianLinearOperator(model, torch.nn.CrossEntropyLoss(), list(model.parameters()), [(X, Y)],
                                  check_deterministic=False)
        found["curvlinops"] = (lambda v: H @ v, lambda V: H @ V)
    except ImportError as exc:
        print(f"curvlinops skipped: {exc}")
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds (a smoke run)")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--activation", choices=sorted(ACTIVATIONS), default="tanh")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    rounds, block = (12, 8) if args.quick else (80, 32)
    model, X, Y = _problem(args.activation)
    params = list(model.parameters())

    def gradient():
        return torch.autograd.grad(F.cross_entropy(model(X), Y), params)

    default = hessian_operator(model, F.cross_entropy, (X, Y)).method
    ops = {m: hessian_operator(model, F.cross_entropy, (X, Y), method=m) for m in METHODS}
    products = {m: (op.matvec, op.matmat) for m, op in ops.items()}
    products.update(_peers(model, X, Y))
    names = list(products)
    size = ops[default].shape[0]
    g = torch.Generator().manual_seed(1)
    v, V = torch.randn(size, generator=g), torch.randn(size, block, generator=g)
    for matvec, matmat in products.values():  # warm up (first-call costs, lazy decompositions)
        matvec(v), matmat(V[:, :2])
    gradient()

    # Each product is timed right after a gradient, in a shuffled order per round;
    # the median of the paired ratios cancels drifts in machine load, and the
    # ratio of the fastest times (what each costs undisturbed) is shown beside it.
    pairs = {m: [] for m in names}
    fastest = {m: float("inf") for m in names}
    blocked = {m: [] for m in names}
    grad_fastest = float("inf")
    order = random.Random(0)
    for r in range(rounds):
        methods = list(names)
        order.shuffle(methods)
        for m in methods:
            matvec, matmat = products[m]
            t_grad = _seconds(gradient)
            t_hvp = _seconds(lambda: matvec(v))
            pairs[m].append(t_hvp / t_grad)
            fastest[m], grad_fastest = min(fastest[m], t_hvp), min(grad_fastest, t_grad)
            if r % 4 == 0:
                t_grad = _seconds(gradient)
                blocked[m].append(_seconds(lambda: matmat(V)) / block / t_grad)

    print(
        f"MLP 64-128-128-10 ({args.activation}), P = {size}, batch 1000, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads"
    )
    print(f"gradient (baseline, nn.Module + autograd.grad): fastest {1e3 * grad_fastest:.2f} ms")
    header = f"matmat({block}) per column"
    print(f"{'method':<26} {'HVP/grad (median)':>18} {'HVP/grad (fastest)':>19} {header:>26}")
    for m in names:
        label = f"{m} (default)" if m == default else m
        print(
            f"{label:<26} {statistics.median(pairs[m]):>18.2f} {fastest[m] / grad_fastest:>19.2f} "
            f"{statistics.median(blocked[m]):>26.2f}"
        )
    ratio = statistics.median(pairs[default])
    print(f"goal: default ({default}) HVP ≤ {GOAL} gradients: {'met' if ratio <= GOAL else 'NOT met'} ({ratio:.2f})")


if __name__ == "__main__":
    main()
