"""Curvature over data in chunks, in float32 products, on a device, in blocks, with progress.

References are independent of reglab's operators: a dense float64 Hessian (and a
Jacobian sandwich for the GGN) from ``torch.func`` over *all* examples at once,
with the loss written on a flat vector by hand below.
"""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch.func import functional_call, jacrev

from reglab.curvature import (
    CurvatureOperator,
    Objective,
    Progress,
    eigen,
    ggn_operator,
    hessian,
    hessian_operator,
    resolve_device,
    spectral_density,
    trace,
)
from reglab.errors import ConfigError

pytestmark = pytest.mark.filterwarnings(r"ignore:.*torch\.jit\.script.* is deprecated:DeprecationWarning")

N = 23  # batch_size 5 leaves a last chunk of 3


def _problem(seed: int = 0, hidden: int = 7):
    g = torch.Generator().manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(4, hidden), torch.nn.Tanh(), torch.nn.Linear(hidden, 3))
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g))
    X = torch.randn(N, 4, generator=g)
    Y = torch.randint(0, 3, (N,), generator=g)
    return model, X, Y


def _flat_loss(model, X, Y):
    names = [n for n, _ in model.named_parameters()]
    shapes = [p.shape for p in model.parameters()]
    sizes = [s.numel() for s in shapes]
    w0 = torch.cat([p.detach().double().reshape(-1) for p in model.parameters()])
    Xd = X.double()
    reference = copy.deepcopy(model).double()

    def output(w):
        params = {n: c.reshape(s) for n, c, s in zip(names, torch.split(w, sizes), shapes)}
        return functional_call(reference, params, (Xd,))

    return (lambda w: F.cross_entropy(output(w), Y)), output, w0


def _dense_references(model, X, Y):
    loss, output, w0 = _flat_loss(model, X, Y)
    H = torch.func.hessian(loss)(w0)
    J = jacrev(output)(w0).reshape(N * 3, -1)  # rows: (example, class)
    probs = torch.softmax(output(w0), dim=1)
    H_L = torch.block_diag(*[(torch.diag(p) - torch.outer(p, p)) / N for p in probs])
    return H, J.T @ H_L @ J


@pytest.fixture(scope="module")
def problem():
    model, X, Y = _problem()
    H, G = _dense_references(model, X, Y)
    return model, X, Y, H, G


@pytest.mark.parametrize("factory", [hessian_operator, ggn_operator], ids=["hessian", "ggn"])
def test_chunked_products_equal_one_pass_and_the_dense_reference(problem, factory):
    model, X, Y, H, G = problem
    whole = factory(model, F.cross_entropy, (X, Y), dtype=torch.float64)
    chunked = factory(model, F.cross_entropy, (X, Y), dtype=torch.float64, batch_size=5)
    assert [x.shape[0] for x, _ in chunked.objective.batches] == [5, 5, 5, 5, 3]
    assert chunked.objective.weights == pytest.approx([5 / N] * 4 + [3 / N], abs=0)
    V = torch.randn(whole.shape[0], 6, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    assert float((chunked.matvec(V[:, 0]) - whole.matvec(V[:, 0])).abs().max()) <= 1e-10
    assert float((chunked.matmat(V) - whole.matmat(V)).abs().max()) <= 1e-10
    reference = H if factory is hessian_operator else G
    assert float((chunked.matmat(V) - reference @ V).abs().max()) <= 1e-10
    # The test can fail: weighting the five chunks equally is far from the mean loss's curvature.
    unweighted = sum(factory(model, F.cross_entropy, (x, y), dtype=torch.float64).matmat(V)
                     for x, y in chunked.objective.batches) / 5
    assert float((unweighted - reference @ V).abs().max()) > 1e-3


def test_chunked_loss_gradient_and_dense_hessian(problem):
    model, X, Y, H, _ = problem
    loss, _, w0 = _flat_loss(model, X, Y)
    obj = Objective(model, F.cross_entropy, (X, Y), dtype=torch.float64, batch_size=4)
    assert len(obj.batches) == 6
    assert abs(float(obj.loss()) - float(loss(w0))) <= 1e-12
    assert float((obj.grad() - torch.func.grad(loss)(w0)).abs().max()) <= 1e-12
    assert float((hessian(model, F.cross_entropy, (X, Y), batch_size=4) - H).abs().max()) <= 1e-10
    # A list of batches is cut too: 23 = (9 → 4, 4, 1) + (14 → 4, 4, 4, 2).
    parts = Objective(model, F.cross_entropy, [(X[:9], Y[:9]), (X[9:], Y[9:])], dtype=torch.float64, batch_size=4)
    assert [x.shape[0] for x, _ in parts.batches] == [4, 4, 1, 4, 4, 4, 2]
    assert abs(float(parts.loss()) - float(loss(w0))) <= 1e-12


def test_bad_batch_size_device_and_dtype_are_named(problem):
    model, X, Y, _, _ = problem
    for bad in (0, -3, 2.5, True):
        with pytest.raises(ConfigError, match="batch_size") as info:
            hessian_operator(model, F.cross_entropy, (X, Y), batch_size=bad)
        assert info.value.field == "batch_size"
    for bad in ("tpu", "gpu", 3):
        with pytest.raises(ConfigError, match="device") as info:
            hessian_operator(model, F.cross_entropy, (X, Y), device=bad)
        assert info.value.field == "device"
    with pytest.raises(ConfigError, match="float32"):
        ggn_operator(model, F.cross_entropy, (X, Y), dtype="float16x")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="CUDA"):
            hessian_operator(model, F.cross_entropy, (X, Y), device="cuda")


def test_device_auto_and_cpu_give_the_same_products(problem):
    model, X, Y, H, _ = problem
    auto = hessian_operator(model, F.cross_entropy, (X, Y), dtype="float64", device="auto", batch_size=7)
    assert auto.device == resolve_device("auto")
    cpu = hessian_operator(model, F.cross_entropy, (X, Y), dtype=torch.float64, device="cpu")
    v = torch.linspace(-1, 1, cpu.shape[0], dtype=torch.float64)
    assert cpu.device.type == "cpu"
    assert float((auto.matvec(v).cpu() - H @ v).abs().max()) <= 1e-10
    assert float((cpu.matvec(v) - H @ v).abs().max()) <= 1e-10
    result = eigen(auto, 3, method="lanczos", tol=1e-10)
    assert result.eigenvalues.device == auto.device


def test_float32_products_with_float64_lanczos_report_honest_residuals(problem):
    model, X, Y, H, _ = problem
    op32 = hessian_operator(model, F.cross_entropy, (X, Y), dtype=torch.float32)
    op64 = hessian_operator(model, F.cross_entropy, (X, Y), dtype=torch.float64)
    exact = torch.linalg.eigvalsh(H).flip(0)[:4]
    own = eigen(op32, 4, method="lanczos", tol=1e-6)
    checked = eigen(op32, 4, method="lanczos", tol=1e-6, residual_op=op64)
    assert own.eigenvalues.dtype == torch.float64 and own.eigenvectors.dtype == torch.float64
    assert float((own.eigenvalues - exact).abs().max()) <= 1e-5 * float(exact[0])
    # The residuals against the float64 Hessian are the true ones: recompute them from the dense H.
    V, lam = checked.eigenvectors, checked.eigenvalues
    true = torch.linalg.vector_norm(H @ V - V * lam, dim=0)
    assert float((checked.residual_norms - true).abs().max()) <= 1e-12 * float(exact[0])
    assert checked.num_matvecs == own.num_matvecs  # the residual block is counted either way
    # ... and the float32 operator's own residual is within float32 rounding of them.
    assert float((own.residual_norms - true).abs().max()) <= 1e-5 * float(exact[0])


@pytest.mark.parametrize("which", ["LA", "SA", "both"])
def test_block_lanczos_matches_a_dense_float64_hessian(problem, which):
    model, X, Y, H, _ = problem
    op = hessian_operator(model, F.cross_entropy, (X, Y), dtype=torch.float64, batch_size=8)
    result = eigen(op, 4, which, method="block-lanczos", block_size=4, tol=1e-10)
    values = torch.linalg.eigvalsh(H)
    expected = {"LA": values.flip(0)[:4], "SA": values[:4], "both": torch.cat([values.flip(0)[:4], values[:4].flip(0)])}
    scale = float(values.abs().max())
    assert result.method == "block-lanczos" and result.converged
    assert float((result.eigenvalues - expected[which]).abs().max()) <= 1e-9 * scale
    V = result.eigenvectors
    assert float((V.T @ V - torch.eye(V.shape[1], dtype=torch.float64)).abs().max()) <= 1e-10
    true = torch.linalg.vector_norm(H @ V - V * result.eigenvalues, dim=0)
    assert float(true.max()) <= 1e-8 * scale
    assert float((result.residual_norms - true).abs().max()) <= 1e-12 * scale
    assert result.num_matvecs % 4 == 0  # whole blocks, plus one block for the residuals


def test_block_lanczos_finds_every_copy_of_a_repeated_eigenvalue():
    g = torch.Generator().manual_seed(3)
    Q, _ = torch.linalg.qr(torch.randn(60, 60, generator=g, dtype=torch.float64))
    spectrum = torch.cat([torch.tensor([9.0, 9.0, 9.0, 4.0], dtype=torch.float64), torch.linspace(-1, 1, 56)])
    A = (Q * spectrum) @ Q.T
    A = (A + A.T) / 2

    class Hidden(CurvatureOperator):
        def __init__(self):
            super().__init__(60, torch.float64, "cpu")

        def _matvec(self, v):
            return A @ v

    result = eigen(Hidden(), 4, method="block-lanczos", block_size=4, tol=1e-12)
    torch.testing.assert_close(result.eigenvalues, torch.tensor([9.0, 9.0, 9.0, 4.0], dtype=torch.float64),
                               atol=1e-10, rtol=0)


def test_progress_reports_products_and_the_residual_so_far(problem):
    model, X, Y, _, _ = problem
    op = hessian_operator(model, F.cross_entropy, (X, Y), dtype=torch.float64, batch_size=10)
    for method in ("lanczos", "block-lanczos", "arpack"):
        events: list[Progress] = []
        result = eigen(op, 3, method=method, tol=1e-9, progress=events.append)
        dones = [e.done for e in events]
        assert dones == sorted(dones) and dones[-1] == result.num_matvecs
        assert all(e.done <= e.expected for e in events) and events[-1].task == "eigen LA"
        if method != "arpack":
            assert events[-1].residual is not None and events[-1].residual <= 1e-9
    events = []
    d = spectral_density(op, num_probes=2, lanczos_steps=10, progress=events.append)
    assert [e.done for e in events] == list(range(1, 21)) and d.num_matvecs == 20 and events[-1].expected == 20
    events = []
    t = trace(op, method="hutchinson", num_matvecs=6, progress=events.append)
    assert events[-1].done == t.num_matvecs == 6 and events[-1].task == "trace"
    with pytest.raises(TypeError, match="progress"):
        eigen(op, 2, method="lanczos", progress="yes")
