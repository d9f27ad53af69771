"""Curvature operators against dense float64 references from ``torch.func``.

Every reference here is computed independently of reglab: the loss is written
as a function of one flat parameter vector (own flattening code below) over
*all* examples at once, and differentiated with ``torch.func.hessian`` /
``torch.func.jacrev``.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch.func import functional_call, jacrev

from reglab.curvature import ggn_operator, hessian, hessian_operator

# torch.func.hessian is forward-over-reverse; on first use torch (2.13) scripts its
# JVP decompositions and warns that torch.jit.script is deprecated — torch's own
# business, not ours.
pytestmark = pytest.mark.filterwarnings(r"ignore:.*torch\.jit\.script.* is deprecated:DeprecationWarning")

METHODS = ["auto", "double-backward", "rev-rev", "fwd-rev"]


def _mlp(activation: type[torch.nn.Module]) -> torch.nn.Module:
    return torch.nn.Sequential(torch.nn.Linear(4, 6), activation(), torch.nn.Linear(6, 3))


def _case(name: str):
    """A model, its loss and data (N = 20), seeded."""
    torch.manual_seed(0)
    X = torch.randn(20, 4)
    if name == "linear-mse":
        return torch.nn.Linear(4, 1), F.mse_loss, X, torch.randn(20, 1)
    Y = torch.randint(0, 3, (20,))
    models = {
        "logistic-ce": lambda: torch.nn.Linear(4, 3),
        "mlp-tanh": lambda: _mlp(torch.nn.Tanh),
        "mlp-relu": lambda: _mlp(torch.nn.ReLU),
    }
    return models[name](), F.cross_entropy, X, Y


CASES = ["linear-mse", "logistic-ce", "mlp-tanh", "mlp-relu"]


def _reference_loss(model, loss_fn, X, Y, names=None):
    """The mean loss over all of ``(X, Y)`` as a function of a flat float64 vector."""
    named = {n: p.detach().double() for n, p in model.named_parameters()}
    buffers = {n: (b.double() if b.is_floating_point() else b) for n, b in model.named_buffers()}
    names = list(named) if names is None else names
    shapes = [named[n].shape for n in names]
    sizes = [s.numel() for s in shapes]
    w0 = torch.cat([named[n].reshape(-1) for n in names])
    Xd, Yd = X.double(), (Y.double() if Y.is_floating_point() else Y)

    def unflat(w):
        return {n: c.reshape(s) for n, c, s in zip(names, torch.split(w, sizes), shapes)}

    def output(w):
        return functional_call(model, {**buffers, **named, **unflat(w)}, (Xd,))

    def loss(w):
        return loss_fn(output(w), Yd)

    return loss, output, w0


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(torch.linalg.norm(a - b) / torch.linalg.norm(b))


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("method", METHODS)
def test_hvp_matches_torch_func_hessian(case, method):
    model, loss_fn, X, Y = _case(case)
    loss, _, w0 = _reference_loss(model, loss_fn, X, Y)
    H = torch.func.hessian(loss)(w0)
    op = hessian_operator(model, loss_fn, (X, Y), dtype=torch.float64, method=method)
    g = torch.Generator().manual_seed(1)
    v = torch.randn(w0.numel(), generator=g, dtype=torch.float64)
    V = torch.randn(w0.numel(), 5, generator=g, dtype=torch.float64)
    assert op.shape == (w0.numel(), w0.numel())
    assert _rel(op.matvec(v), H @ v) <= 1e-10
    assert _rel(op.matmat(V), H @ V) <= 1e-10
    assert op.num_matvecs == 6


@pytest.mark.parametrize("case", CASES)
def test_dense_hessian_matches_torch_func_hessian(case):
    model, loss_fn, X, Y = _case(case)
    loss, _, w0 = _reference_loss(model, loss_fn, X, Y)
    H = hessian(model, loss_fn, (X, Y))
    assert H.dtype == torch.float64
    assert _rel(H, torch.func.hessian(loss)(w0)) <= 1e-10
    assert torch.equal(H, H.T)


@pytest.mark.parametrize("method", METHODS)
def test_uneven_batches_are_weighted_by_size(method):
    model, loss_fn, X, Y = _case("mlp-tanh")
    loss, _, w0 = _reference_loss(model, loss_fn, X, Y)
    H = torch.func.hessian(loss)(w0)
    batches = [(X[:3], Y[:3]), (X[3:10], Y[3:10]), (X[10:], Y[10:])]
    op = hessian_operator(model, loss_fn, batches, dtype=torch.float64, method=method)
    eye = torch.eye(w0.numel(), dtype=torch.float64)
    assert _rel(op.matmat(eye), H) <= 1e-10
    # The test can fail: averaging the three batch Hessians equally is far from H.
    unweighted = sum(torch.func.hessian(_reference_loss(model, loss_fn, x, y)[0])(w0) for x, y in batches) / 3
    assert _rel(unweighted, H) > 1e-2


def test_params_subset_in_given_order():
    model, loss_fn, X, Y = _case("mlp-tanh")
    names = ["2.weight", "0.bias"]
    loss, _, w0 = _reference_loss(model, loss_fn, X, Y, names)
    H = torch.func.hessian(loss)(w0)
    op = hessian_operator(model, loss_fn, (X, Y), params=names, dtype=torch.float64)
    assert op.param_names == tuple(names)
    assert op.shape == (18 + 6, 18 + 6)
    assert torch.equal(op.param_vector(), w0)
    assert _rel(op.matmat(torch.eye(24, dtype=torch.float64)), H) <= 1e-10
    assert _rel(hessian(model, loss_fn, (X, Y), params=names), H) <= 1e-10


@pytest.mark.parametrize("case", CASES)
def test_ggn_matches_jacobian_sandwich(case):
    model, loss_fn, X, Y = _case(case)
    _, output, w0 = _reference_loss(model, loss_fn, X, Y)
    out = output(w0)
    J = jacrev(output)(w0).reshape(out.numel(), -1)
    Yd = Y.double() if Y.is_floating_point() else Y
    HL = torch.func.hessian(lambda o: loss_fn(o.reshape(out.shape), Yd))(out.reshape(-1))
    G = J.T @ HL @ J
    op = ggn_operator(model, loss_fn, [(X[:7], Y[:7]), (X[7:], Y[7:])], dtype=torch.float64)
    eye = torch.eye(w0.numel(), dtype=torch.float64)
    assert _rel(op.matmat(eye), G) <= 1e-10
    v = torch.randn(w0.numel(), generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    assert _rel(op.matvec(v), G @ v) <= 1e-10


def test_ggn_equals_hessian_for_linear_least_squares():
    model, loss_fn, X, Y = _case("linear-mse")
    H = hessian(model, loss_fn, (X, Y))
    G = ggn_operator(model, loss_fn, (X, Y), dtype=torch.float64).matmat(torch.eye(5, dtype=torch.float64))
    assert _rel(G, H) <= 1e-12
    Xa = torch.cat([X.double(), torch.ones(20, 1, dtype=torch.float64)], dim=1)
    assert _rel(H, 2 * Xa.T @ Xa / 20) <= 1e-12  # mse_loss is mean((f − y)²): H = 2XᵀX/n


def test_gradient_and_loss_match_autograd():
    model, loss_fn, X, Y = _case("mlp-relu")
    loss, _, w0 = _reference_loss(model, loss_fn, X, Y)
    op = hessian_operator(model, loss_fn, [(X[:5], Y[:5]), (X[5:], Y[5:])], dtype=torch.float64)
    assert _rel(op.gradient(), torch.func.grad(loss)(w0)) <= 1e-12
    assert abs(float(op.loss()) - float(loss(w0))) <= 1e-12


def test_default_dtype_is_the_models_and_float32_is_close():
    model, loss_fn, X, Y = _case("mlp-tanh")
    loss, _, w0 = _reference_loss(model, loss_fn, X, Y)
    op = hessian_operator(model, loss_fn, (X, Y))
    v = torch.randn(w0.numel(), generator=torch.Generator().manual_seed(3))
    hv = op.matvec(v)
    assert hv.dtype == torch.float32
    assert _rel(hv.double(), torch.func.hessian(loss)(w0) @ v.double()) <= 1e-5


def test_eval_mode_during_products_and_flags_restored():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.Tanh(), torch.nn.Dropout(0.5), torch.nn.Linear(6, 3))
    model.train()
    model[3].eval()  # a mixed state must come back as it was
    X, Y = torch.randn(20, 4), torch.randint(0, 3, (20,))
    op = hessian_operator(model, F.cross_entropy, (X, Y), dtype=torch.float64)
    v = torch.randn(op.shape[0], generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    first, second = op.matvec(v), op.matvec(v)
    assert torch.equal(first, second)  # dropout off
    assert [m.training for m in model] == [True, True, True, False]
    reference = torch.nn.Sequential(model[0], model[1], model[3])  # eval-mode dropout is the identity
    loss, _, w0 = _reference_loss(reference, F.cross_entropy, X, Y)
    H = torch.func.hessian(loss)(w0)
    assert _rel(first, H @ v) <= 1e-10


def test_operator_is_a_snapshot_of_the_parameters():
    model, loss_fn, X, Y = _case("mlp-tanh")
    op = hessian_operator(model, loss_fn, (X, Y), dtype=torch.float64)
    v = torch.ones(op.shape[0], dtype=torch.float64)
    before = op.matvec(v)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    assert torch.equal(op.matvec(v), before)


def test_to_scipy_is_a_float64_linear_operator():
    model, loss_fn, X, Y = _case("logistic-ce")
    loss, _, w0 = _reference_loss(model, loss_fn, X, Y)
    H = torch.func.hessian(loss)(w0).numpy()
    linop = hessian_operator(model, loss_fn, (X, Y), dtype=torch.float64).to_scipy()
    x = np.random.default_rng(0).standard_normal((15, 3))
    assert linop.dtype == np.float64 and linop.shape == (15, 15)
    np.testing.assert_allclose(linop.matvec(x[:, 0]), H @ x[:, 0], rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(linop.matmat(x), H @ x, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(linop.rmatvec(x[:, 1]), H @ x[:, 1], rtol=1e-10, atol=1e-14)


def test_bad_arguments_are_named():
    model, loss_fn, X, Y = _case("mlp-tanh")
    with pytest.raises(ValueError, match="params"):
        hessian_operator(model, loss_fn, (X, Y), params=["nope"])
    with pytest.raises(ValueError, match="params"):
        hessian_operator(model, loss_fn, (X, Y), params=["0.bias", "0.bias"])
    with pytest.raises(ValueError, match="method"):
        hessian_operator(model, loss_fn, (X, Y), method="bogus")
    with pytest.raises(ValueError, match="method"):
        ggn_operator(model, loss_fn, (X, Y), method="rev-rev")
    with pytest.raises(ValueError, match="no examples"):
        hessian_operator(model, loss_fn, [])
    with pytest.raises(TypeError, match="data"):
        hessian_operator(model, loss_fn, [X, Y])  # a list of two tensors is not a list of batches
    op = hessian_operator(model, loss_fn, (X, Y))
    with pytest.raises(ValueError, match="shape"):
        op.matvec(torch.ones(3))


class _WithUnused(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.used = torch.nn.Linear(4, 3)
        self.unused = torch.nn.Linear(2, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.used(x)


@pytest.mark.parametrize("method", METHODS)
def test_parameters_the_loss_ignores_get_zero_curvature(method):
    torch.manual_seed(0)
    model = _WithUnused()
    X, Y = torch.randn(20, 4), torch.randint(0, 3, (20,))
    loss, _, w0 = _reference_loss(model, F.cross_entropy, X, Y)
    H = torch.func.hessian(loss)(w0)
    op = hessian_operator(model, F.cross_entropy, (X, Y), dtype=torch.float64, method=method)
    eye = torch.eye(w0.numel(), dtype=torch.float64)
    assert _rel(op.matmat(eye), H) <= 1e-10
    assert _rel(torch.stack([op.matvec(e) for e in eye], dim=1), H) <= 1e-10
    assert float(H[15:, :].abs().max()) == 0.0 and float(H[:15, :15].abs().max()) > 0


def test_batchnorm_uses_running_statistics_in_float64():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.BatchNorm1d(6), torch.nn.Tanh(), torch.nn.Linear(6, 3))
    X, Y = torch.randn(20, 4), torch.randint(0, 3, (20,))
    model.train()
    for _ in range(3):
        model(torch.randn(32, 4) * 2 + 1)  # move the running statistics away from (0, 1)
    op = hessian_operator(model, F.cross_entropy, (X, Y), dtype=torch.float64)
    H = op.matmat(torch.eye(op.shape[0], dtype=torch.float64))
    assert model.training and model[1].running_mean.dtype == torch.float32
    model.eval()
    loss, _, w0 = _reference_loss(model, F.cross_entropy, X, Y)
    assert _rel(H, torch.func.hessian(loss)(w0)) <= 1e-10
