"""Curvature over data in chunks, in float32 products, on a device, in blocks, with progress.

References are independent of reglab's operators: a dense float64 Hessian (and a
Jacobian sandwich for the GGN) from ``torch.func`` over *all* examples at once,
with the loss written on a flat vector by hand below.
"""

from __future__ import annotations

import copy
import math

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


# -- spectral density: the probes as one block (issue 11) ----------------------------------------------------------

def _probes(size: int, count: int, seed: int) -> torch.Tensor:
    """The documented probe draw: in order from one seeded generator, 2·randint(0, 2) − 1."""
    g = torch.Generator().manual_seed(seed)
    return torch.stack([(torch.randint(0, 2, (size,), generator=g) * 2 - 1).double() for _ in range(count)], dim=1)


@pytest.mark.parametrize("reorthogonalize", [True, False], ids=["reorth", "three-term"])
def test_block_slq_is_the_quadrature_of_each_probe(problem, reorthogonalize):
    """m steps from v/‖v‖ are Gauss quadrature of v's spectral measure: Σⱼ wⱼ θⱼᵏ = vᵀHᵏv/‖v‖² for k < 2m."""
    model, X, Y, H, _ = problem
    op = hessian_operator(model, F.cross_entropy, (X, Y), dtype=torch.float64, batch_size=5)
    result = spectral_density(op, num_probes=4, lanczos_steps=8, seed=3, method="block",
                              reorthogonalize=reorthogonalize)
    assert result.method == "block" and result.num_matvecs == 4 * 8 and result.nodes.shape == (4, 8)
    torch.testing.assert_close(result.weights.sum(dim=1), torch.ones(4, dtype=torch.float64), atol=1e-12, rtol=0)
    V = _probes(H.shape[0], 4, seed=3)
    for power in range(0, 12):
        exact = ((V * (torch.linalg.matrix_power(H, power) @ V)).sum(dim=0) / H.shape[0])
        found = (result.weights * result.nodes**power).sum(dim=1)
        torch.testing.assert_close(found, exact, rtol=1e-8, atol=1e-12 * float(exact.abs().max()))


def test_block_and_sequential_slq_agree(problem):
    model, X, Y, _, _ = problem
    op = hessian_operator(model, F.cross_entropy, (X, Y), dtype=torch.float64)
    seq = spectral_density(op, num_probes=3, lanczos_steps=12, seed=1)
    blk = spectral_density(op, num_probes=3, lanczos_steps=12, seed=1, method="block")
    torch.testing.assert_close(blk.nodes, seq.nodes, atol=1e-10, rtol=0)
    torch.testing.assert_close(blk.weights, seq.weights, atol=1e-10, rtol=0)
    torch.testing.assert_close(blk.density, seq.density, atol=1e-10 * float(seq.density.max()), rtol=0)
    # Without a basis the nodes may hold copies of converged values; the density stays the same.
    plain = spectral_density(op, num_probes=3, lanczos_steps=12, seed=1, method="block", reorthogonalize=False,
                             grid=seq.grid, sigma=seq.sigma)
    assert float(torch.trapezoid((plain.density - seq.density).abs(), seq.grid)) <= 1e-6


def test_block_slq_density_matches_the_dense_spectrum(problem):
    """With m = P steps each probe's quadrature is exact, so only the probes' randomness is left: the
    moments lie within 4 standard errors of tr(Hᵏ)/P, the standard error from the closed form
    Var(vᵀBv) = 2(‖B‖²_F − Σᵢ Bᵢᵢ²) for Rademacher v, and the smoothed density is the dense one to
    the same order."""
    model, X, Y, H, _ = problem
    size, probes = H.shape[0], 64
    op = hessian_operator(model, F.cross_entropy, (X, Y), dtype=torch.float64, batch_size=7)
    result = spectral_density(op, num_probes=probes, lanczos_steps=size, seed=0, method="block")
    for power in (1, 2, 3):
        B = torch.linalg.matrix_power(H, power)
        sd = math.sqrt(2 * (float((B**2).sum()) - float((torch.diagonal(B) ** 2).sum()))) / size / math.sqrt(probes)
        exact = float(torch.trace(B)) / size
        assert abs(result.moment(power) - exact) <= 4 * sd, (power, result.moment(power), exact, sd)
        assert result.moment_stderr(power) <= 3 * sd
    eig = torch.linalg.eigvalsh(H)
    z = (result.grid[:, None] - eig[None, :]) / result.sigma
    dense = (torch.exp(-0.5 * z**2) / (result.sigma * math.sqrt(2 * math.pi))).mean(dim=1)
    l1 = float(torch.trapezoid((result.density - dense).abs(), result.grid))
    # One probe's L1 error is O(1) here (P = 59); the mean of 64 independent ones is ~1/8 of it.
    single = spectral_density(op, num_probes=1, lanczos_steps=size, seed=0, grid=result.grid, sigma=result.sigma)
    single_l1 = float(torch.trapezoid((single.density - dense).abs(), result.grid))
    assert l1 <= 0.5 * single_l1 and l1 <= 0.25, (l1, single_l1)


def test_float32_block_slq_keeps_a_float64_recurrence(problem):
    model, X, Y, _, _ = problem
    f64 = spectral_density(hessian_operator(model, F.cross_entropy, (X, Y), dtype=torch.float64),
                           num_probes=3, lanczos_steps=10, method="block")
    f32 = spectral_density(hessian_operator(model, F.cross_entropy, (X, Y), dtype=torch.float32),
                           num_probes=3, lanczos_steps=10, method="block", grid=f64.grid, sigma=f64.sigma)
    assert f32.nodes.dtype == torch.float64
    torch.testing.assert_close(f32.weights.sum(dim=1), torch.ones(3, dtype=torch.float64), atol=1e-12, rtol=0)
    for power in (1, 2):
        assert f32.moment(power) == pytest.approx(f64.moment(power), rel=1e-5)
    assert float(torch.trapezoid((f32.density - f64.density).abs(), f64.grid)) <= 1e-4


def test_block_slq_progress_and_a_probe_that_closes_early():
    lam = torch.tensor([2.0] * 6 + [-1.0] * 6, dtype=torch.float64)  # two distinct values: closes after 2 steps
    g = torch.Generator().manual_seed(2)
    Q, _ = torch.linalg.qr(torch.randn(12, 12, generator=g, dtype=torch.float64))
    A = (Q * lam) @ Q.T
    events: list[Progress] = []
    result = spectral_density((A + A.T) / 2, num_probes=3, lanczos_steps=6, method="block", progress=events.append)
    assert result.num_matvecs == 3 * 2
    for nodes, weights in zip(result.nodes, result.weights):
        torch.testing.assert_close(torch.sort(nodes[weights > 1e-12]).values,
                                   torch.tensor([-1.0, 2.0], dtype=torch.float64), atol=1e-10, rtol=0)
    # The weight on 2.0 is the share of the probe in that eigenspace: ‖Q₊ᵀv‖²/‖v‖².
    share = ((Q[:, :6].T @ _probes(12, 3, seed=0)) ** 2).sum(dim=0) / 12
    torch.testing.assert_close(result.weights[result.nodes > 0.5], share, atol=1e-10, rtol=0)
    with pytest.raises(ValueError, match="method"):
        spectral_density(A, method="blocks")
    model, X, Y = _problem()
    op = hessian_operator(model, F.cross_entropy, (X, Y), dtype=torch.float64)
    spectral_density(op, num_probes=3, lanczos_steps=4, method="block", progress=events.append)
    assert [e.done for e in events if e.expected == 12] == [3, 6, 9, 12]


def test_hessian_cli_density_is_the_block_quadrature_of_the_documented_probes(tmp_path):
    from _cli_harness import TINY_CONFIG, invoke, run_document

    from reglab.train import load_run

    config = tmp_path / "tiny.toml"
    config.write_text(TINY_CONFIG)
    out = tmp_path / "runs"
    trained = run_document(invoke(["train", config, "--out", out, "--json", "--quiet"]))
    result = invoke(["hessian", trained["run_id"], "--out", out, "--top", "0", "--density", "--density-probes", "2",
                     "--density-steps", "6", "--json"])
    assert result.code == 0, repr(result)
    density = run_document(result)["density"]
    assert (density["num_matvecs"], density["num_probes"], density["lanczos_steps"], density["method"]) == (
        12, 2, 6, "block")
    weights = torch.tensor(density["weights"], dtype=torch.float64)
    nodes = torch.tensor(density["nodes"], dtype=torch.float64)
    torch.testing.assert_close(weights.sum(dim=1), torch.ones(2, dtype=torch.float64), atol=1e-12, rtol=0)
    model, splits, _ = load_run(trained["run_id"], out)
    loss, _, w0 = _flat_loss(model, splits.train.x, splits.train.y)
    H = torch.func.hessian(loss)(w0)
    V = _probes(H.shape[0], 2, seed=0)
    for power in (1, 2):  # exact for degree < 2·6
        per_probe = (V * (torch.linalg.matrix_power(H, power) @ V)).sum(dim=0) / H.shape[0]
        torch.testing.assert_close((weights * nodes**power).sum(dim=1), per_probe, rtol=1e-7, atol=1e-12)
        assert density["moments"][str(power)]["estimate"] == pytest.approx(float(per_probe.mean()), rel=1e-7)
    bad = invoke(["hessian", trained["run_id"], "--out", out, "--density", "--density-steps", "0"])
    assert bad.code == 2 and "--density-steps" in bad.stdout + bad.stderr
