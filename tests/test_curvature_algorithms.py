"""Eigen, trace, diagonal, density and power iteration on matrices with a known spectrum."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from reglab.curvature import (
    CurvatureOperator,
    diagonal,
    eigen,
    power_iteration,
    spectral_density,
    trace,
)


def _orthogonal(size: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    Q, R = torch.linalg.qr(torch.randn(size, size, generator=g, dtype=torch.float64))
    return Q * torch.sign(torch.diagonal(R))


def _matrix(eigenvalues: torch.Tensor, seed: int = 0) -> torch.Tensor:
    Q = _orthogonal(len(eigenvalues), seed)
    A = (Q * eigenvalues) @ Q.T
    return (A + A.T) / 2


def _spectrum(size: int = 120) -> torch.Tensor:
    """Hessian-like: a few outliers of both signs, a bulk near zero."""
    g = torch.Generator().manual_seed(7)
    bulk = torch.rand(size - 8, generator=g, dtype=torch.float64) * 0.5 - 0.1
    return torch.cat([torch.tensor([50.0, 31.0, 20.0, 12.0, 8.0, -3.0, -5.0, -9.0], dtype=torch.float64), bulk])


class _Hidden(CurvatureOperator):
    """An operator that only has ``_matvec``: algorithms cannot peek at a matrix."""

    def __init__(self, matrix: torch.Tensor) -> None:
        super().__init__(matrix.shape[0], matrix.dtype, matrix.device)
        self._matrix = matrix

    def _matvec(self, v: torch.Tensor) -> torch.Tensor:
        return self._matrix @ v


def _assert_vectors_match(found: torch.Tensor, expected: torch.Tensor, atol: float) -> None:
    signs = torch.sign((found * expected).sum(dim=0))
    torch.testing.assert_close(found * signs, expected, atol=atol, rtol=0)


@pytest.mark.parametrize("which", ["LA", "SA", "both"])
@pytest.mark.parametrize("method", ["dense", "lanczos", "arpack"])
def test_eigen_matches_eigh(which, method):
    A = _matrix(_spectrum())
    values, vectors = torch.linalg.eigh(A)  # ascending
    k = 3
    idx = {"LA": [-1, -2, -3], "SA": [0, 1, 2], "both": [-1, -2, -3, 2, 1, 0]}[which]
    result = eigen(_Hidden(A) if method != "dense" else A, k, which, method=method, tol=1e-10)
    assert result.method == method and result.converged
    torch.testing.assert_close(result.eigenvalues, values[idx], atol=1e-8, rtol=0)
    _assert_vectors_match(result.eigenvectors, vectors[:, idx], atol=1e-6)
    assert float(result.residual_norms.max()) <= 1e-7


def test_eigen_auto_is_dense_for_a_tensor_and_takes_numpy():
    A = _matrix(_spectrum(40))
    result = eigen(A.numpy(), 2)
    assert result.method == "dense"
    torch.testing.assert_close(result.eigenvalues, torch.tensor([50.0, 31.0], dtype=torch.float64))


def _householder(u: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return x - 2 * u[:, None] * (u @ x)


def test_lanczos_on_a_large_operator_with_known_eigenpairs():
    # A = Q diag(λ) Qᵀ with Q = I − 2uuᵀ (a reflection), formed densely in O(P²).
    size = 3000
    g = torch.Generator().manual_seed(3)
    lam = torch.cat([torch.tensor([40.0, 25.0, 18.0, 12.0, 9.0, 7.0]), torch.rand(size - 6, generator=g) * 2.0]).double()
    u = torch.randn(size, generator=g, dtype=torch.float64)
    u /= u.norm()
    Du = lam * u
    A = torch.diag(lam) - 2 * (u[:, None] * Du[None, :] + Du[:, None] * u[None, :]) + 4 * (u @ Du) * torch.outer(u, u)
    expected_vectors = _householder(u, torch.eye(size, 6, dtype=torch.float64))
    result = eigen(_Hidden(A), 6, "LA", tol=1e-8)
    assert result.method == "lanczos" and result.converged
    torch.testing.assert_close(result.eigenvalues, lam[:6], atol=1e-8, rtol=0)
    _assert_vectors_match(result.eigenvectors, expected_vectors, atol=1e-6)
    assert float(result.residual_norms.max()) <= 1e-6
    assert result.num_matvecs < 200  # far fewer products than P


def test_power_iteration_finds_top_eigenvalues():
    lam = torch.tensor([10.0, 5.0, 2.0] + [0.5] * 27, dtype=torch.float64)
    A = _matrix(lam, seed=2)
    result = power_iteration(_Hidden(A), 3, tol=1e-10, max_iter=500)
    assert result.method == "power" and result.converged
    torch.testing.assert_close(result.eigenvalues, lam[:3], atol=1e-6, rtol=0)
    values, vectors = torch.linalg.eigh(A)
    _assert_vectors_match(result.eigenvectors, vectors[:, [-1, -2, -3]], atol=1e-3)
    measured = torch.linalg.vector_norm(A @ result.eigenvectors - result.eigenvectors * result.eigenvalues, dim=0)
    torch.testing.assert_close(result.residual_norms, measured, atol=1e-12, rtol=0)
    op = _Hidden(A)
    counted = power_iteration(op, 3, tol=1e-10, max_iter=500)
    assert counted.num_matvecs == op.num_matvecs > 3


def test_same_seed_same_numbers():
    A = _Hidden(_matrix(_spectrum()))
    assert torch.equal(eigen(A, 2, method="lanczos", seed=5).eigenvectors, eigen(A, 2, method="lanczos", seed=5).eigenvectors)
    assert trace(A, seed=5) == trace(A, seed=5)


def test_exact_trace_and_diagonal():
    A = _matrix(_spectrum(70))
    assert math.isclose(trace(_Hidden(A), method="exact").estimate, float(torch.trace(A)), rel_tol=1e-12)
    op = _Hidden(A)
    result = diagonal(op)
    assert result.method == "exact" and op.num_matvecs == 70
    torch.testing.assert_close(result.estimate, torch.diagonal(A), atol=1e-12, rtol=0)
    torch.testing.assert_close(diagonal(A).estimate, torch.diagonal(A))


def _psd(size: int = 100) -> torch.Tensor:
    # Decaying spectrum, where Hutch++ should beat Hutchinson.
    return _matrix(1.0 / torch.arange(1, size + 1, dtype=torch.float64) ** 1.5 + 0.01, seed=4)


@pytest.mark.parametrize("method", ["hutchinson", "hutch++"])
def test_stochastic_trace_converges_within_three_standard_errors(method):
    A = _psd(400)
    exact = float(torch.trace(A))
    stderrs = []
    for budget in (24, 96, 384):
        results = [trace(_Hidden(A), method=method, num_matvecs=budget, seed=s) for s in range(10)]
        assert all(r.num_matvecs == budget and r.stderr > 0 for r in results)
        assert sum(abs(r.estimate - exact) <= 3 * r.stderr for r in results) >= 9
        stderrs.append(np.mean([r.stderr for r in results]))
    assert stderrs[2] < stderrs[1] < stderrs[0]
    assert stderrs[2] <= 0.02 * exact
    assert trace(_Hidden(A), method=method, num_matvecs=1200).num_matvecs in (1200, 400)  # hutch++: exact at m/3 ≥ P


@pytest.mark.parametrize("method", ["hutchinson", "hutch++"])
def test_stochastic_trace_standard_error_is_honest(method):
    A = _psd()
    exact = float(torch.trace(A))
    results = [trace(A, method=method, num_matvecs=30, seed=s) for s in range(60)]
    z = np.array([(r.estimate - exact) / r.stderr for r in results])
    assert np.mean(np.abs(z) <= 2) >= 0.85  # ≈ 95 % expected
    assert 0.5 <= np.std(z) <= 1.5


def test_hutchpp_is_exact_for_low_rank_and_beats_hutchinson():
    g = torch.Generator().manual_seed(0)
    B = torch.randn(200, 5, generator=g, dtype=torch.float64)
    low_rank = B @ B.T
    result = trace(low_rank, method="hutch++", num_matvecs=30)
    assert abs(result.estimate - float(torch.trace(low_rank))) <= 1e-9 * float(torch.trace(low_rank))
    A = _psd()
    assert trace(A, method="hutch++", num_matvecs=60).stderr < trace(A, method="hutchinson", num_matvecs=60).stderr


def test_hutchinson_diagonal_converges():
    A = _psd(30)
    result = diagonal(_Hidden(A), method="hutchinson", num_matvecs=4000, seed=1)
    error = (result.estimate - torch.diagonal(A)).abs()
    assert bool((error <= 5 * result.stderr + 1e-12).all())
    assert float(error.max()) <= 0.05 * float(torch.diagonal(A).max())


def test_slq_weights_density_and_moments():
    A = _matrix(_spectrum(150), seed=5)
    size = A.shape[0]
    result = spectral_density(_Hidden(A), num_probes=40, lanczos_steps=30, seed=0)
    assert result.nodes.shape == (40, 30) and result.num_matvecs == 40 * 30
    torch.testing.assert_close(result.weights.sum(dim=1), torch.ones(40, dtype=torch.float64))
    assert abs(float(torch.trapezoid(result.density, result.grid)) - 1.0) <= 1e-3
    for power in (1, 2, 3):
        exact = float(torch.trace(torch.linalg.matrix_power(A, power))) / size
        per_probe = (result.weights * result.nodes**power).sum(dim=1)
        stderr = float(per_probe.std()) / math.sqrt(40)
        assert abs(result.moment(power) - exact) <= 4 * stderr + 1e-10 * abs(exact)
    # The nodes span the spectrum: the extreme Ritz values converge first.
    assert abs(float(result.nodes.max()) - 50.0) <= 1e-6 and abs(float(result.nodes.min()) + 9.0) <= 1e-6


def test_slq_recovers_a_spectrum_with_few_distinct_values():
    lam = torch.tensor([3.0] * 10 + [1.0] * 20 + [-2.0] * 30, dtype=torch.float64)
    A = _matrix(lam, seed=6)
    result = spectral_density(A, num_probes=5, lanczos_steps=20, seed=1)
    for nodes, weights in zip(result.nodes, result.weights):
        support = nodes[weights > 0]
        torch.testing.assert_close(torch.sort(support).values, torch.tensor([-2.0, 1.0, 3.0], dtype=torch.float64))
    torch.testing.assert_close(result.moment(1), float(lam.mean()), atol=0.5, rtol=0)


def test_bad_arguments_are_named():
    A = _matrix(_spectrum(20))
    with pytest.raises(ValueError, match="which"):
        eigen(A, 2, "LM")
    with pytest.raises(ValueError, match="k"):
        eigen(A, 21)
    with pytest.raises(ValueError, match="method"):
        trace(A, method="bogus")
    with pytest.raises(ValueError, match="num_matvecs"):
        trace(A, method="hutch++", num_matvecs=3)
    with pytest.raises(ValueError, match="num_probes"):
        spectral_density(A, num_probes=0)
    with pytest.raises(ValueError, match="square"):
        eigen(torch.ones(3, 4), 1)


def test_lanczos_restarts_on_an_invariant_subspace_and_finds_multiplicities():
    lam = torch.tensor([5.0] * 4 + [1.0] * 50 + [-2.0] * 6, dtype=torch.float64)
    A = _Hidden(_matrix(lam, seed=8))
    result = eigen(A, 5, "LA", method="lanczos", tol=1e-10)
    assert result.converged
    torch.testing.assert_close(result.eigenvalues, torch.tensor([5.0] * 4 + [1.0], dtype=torch.float64))
    gram = result.eigenvectors.T @ result.eigenvectors
    torch.testing.assert_close(gram, torch.eye(5, dtype=torch.float64), atol=1e-10, rtol=0)


def test_lanczos_grows_its_basis_for_a_hard_spectrum():
    # Clustered top eigenvalues converge slowly: many steps, the basis must grow.
    lam = torch.cat([1.0 + 0.01 * torch.arange(10, 0, -1), torch.linspace(0.0, 0.95, 290)]).double()
    A = _Hidden(_matrix(lam, seed=9))
    result = eigen(A, 10, "LA", method="lanczos", tol=1e-9)
    assert result.converged and result.num_matvecs > 40
    torch.testing.assert_close(result.eigenvalues, torch.sort(lam, descending=True).values[:10], atol=1e-8, rtol=0)
