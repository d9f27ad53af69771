"""``curvature.Objective``, ``theory.predict``, ``verify.compare`` and ``train.load_run`` against references.

References are independent of reglab: the loss is written below as a function
of one flat float64 vector with its own flattening, differentiated by autograd
and ``torch.func.hessian``; predictions are checked against the closed forms
computed here by hand with NumPy.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch.func import functional_call

from reglab.config import parse_config
from reglab.curvature import Objective, dense_hessian, hessian_operator
from reglab.errors import RunError
from reglab.theory import effective_hessian, newton_step_prediction, predict, ridge_transform, soft_threshold
from reglab.verify import HOLDS_THRESHOLD, FlatObjective, compare, fit_minimizers, relative_error

pytestmark = pytest.mark.filterwarnings(r"ignore:.*torch\.jit\.script.* is deprecated:DeprecationWarning")


def _mlp_case():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.Tanh(), torch.nn.Linear(5, 4))
    X, Y = torch.randn(23, 3), torch.randint(0, 4, (23,))
    return model, X, Y


def _reference(model, X, Y):
    """C₀(w) over all of (X, Y) as a function of one flat float64 vector (own layout code)."""
    named = {n: p.detach().double() for n, p in model.named_parameters()}
    names, shapes = list(named), [p.shape for p in named.values()]
    w0 = torch.cat([named[n].reshape(-1) for n in names])
    reference = torch.nn.Sequential(*[m for m in model]).double()

    def loss(w):
        params, i = {}, 0
        for n, s in zip(names, shapes):
            params[n] = w[i : i + s.numel()].view(s)
            i += s.numel()
        return F.cross_entropy(functional_call(reference, params, (X.double(),)), Y)

    return loss, w0


def test_loss_grad_hvp_match_autograd_and_a_dense_float64_hessian():
    model, X, Y = _mlp_case()
    loss, w0 = _reference(model, X, Y)
    obj = Objective(model, F.cross_entropy, (X, Y), dtype=torch.float64)
    assert obj.size == w0.numel() == 3 * 5 + 5 + 5 * 4 + 4
    torch.testing.assert_close(obj.vector(), w0, rtol=0, atol=0)
    w = w0 + 0.3 * torch.randn(w0.shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    H = torch.func.hessian(loss)(w)
    v = torch.randn(w0.shape, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    assert abs(float(obj.loss(w)) - float(loss(w))) <= 1e-13
    torch.testing.assert_close(obj.grad(w), torch.func.grad(loss)(w), rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(obj.hvp(v, w), H @ v, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(dense_hessian(obj.at(w)), H, rtol=1e-10, atol=1e-12)
    # loss(w) is differentiable in w: autograd through it gives the same gradient
    wg = w.clone().requires_grad_()
    (g,) = torch.autograd.grad(obj.loss(wg), wg)
    torch.testing.assert_close(g, obj.grad(w), rtol=1e-12, atol=1e-14)


def test_the_l2_penalty_uses_the_mask():
    model, X, Y = _mlp_case()
    loss, w0 = _reference(model, X, Y)
    obj = Objective(model, F.cross_entropy, (X, Y), dtype=torch.float64, penalized=["0.weight", "2.weight"])
    m = torch.zeros(w0.numel(), dtype=torch.float64)
    m[:15], m[20:40] = 1.0, 1.0  # 0.weight (15), skip 0.bias (5), 2.weight (20), skip 2.bias (4)
    assert torch.equal(obj.mask, m.bool())
    alpha = 0.37

    def penalized(w):
        return loss(w) + alpha / 2 * torch.sum((m * w) ** 2)

    assert abs(float(obj.loss(w0, alpha)) - float(penalized(w0))) <= 1e-13
    torch.testing.assert_close(obj.grad(w0, alpha), torch.func.grad(penalized)(w0), rtol=1e-12, atol=1e-14)
    with pytest.raises(ValueError, match="penalized"):
        Objective(model, F.cross_entropy, (X, Y), penalized=["nope"])


def test_chunked_batches_equal_one_pass():
    model, X, Y = _mlp_case()
    whole = Objective(model, F.cross_entropy, (X, Y), dtype=torch.float64)
    chunks = [(X[:4], Y[:4]), (X[4:15], Y[4:15]), (X[15:], Y[15:])]  # unequal sizes: weights n_b / N
    parts = Objective(model, F.cross_entropy, chunks, dtype=torch.float64)
    assert parts.weights == pytest.approx([4 / 23, 11 / 23, 8 / 23], abs=0)
    w = whole.vector() * 1.5
    v = torch.linspace(-1, 1, whole.size, dtype=torch.float64)
    assert abs(float(parts.loss(w)) - float(whole.loss(w))) <= 1e-10
    assert float((parts.grad(w, 0.2) - whole.grad(w, 0.2)).abs().max()) <= 1e-10
    assert float((parts.hvp(v, w) - whole.hvp(v, w)).abs().max()) <= 1e-10
    assert float((hessian_operator(model, F.cross_entropy, chunks, dtype=torch.float64).matvec(v)
                  - whole.hvp(v)).abs().max()) <= 1e-10


def test_the_callers_model_is_never_modified():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.Tanh(), torch.nn.Dropout(0.5), torch.nn.Linear(5, 2))
    model.train()
    model[3].eval()  # a mixed state
    before = {n: p.detach().clone() for n, p in model.state_dict().items()}
    X, Y = torch.randn(10, 3), torch.randint(0, 2, (10,))
    obj = Objective(model, F.cross_entropy, (X, Y), dtype=torch.float64)
    w = obj.vector() + 1.0
    obj.loss(w, 0.1), obj.grad(w, 0.1), obj.hvp(torch.ones(obj.size, dtype=torch.float64), w), dense_hessian(obj.at(w))
    legacy = FlatObjective(model, F.cross_entropy, X, Y, ["0.weight"])
    legacy.grad(legacy.vector(), 0.1)
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert [m.training for m in model] == [True, True, True, False]
    assert all(torch.equal(model.state_dict()[n], t) for n, t in before.items())
    assert all(p.grad is None for p in model.parameters())
    # dropout is off inside the objective: the loss is deterministic
    assert torch.equal(obj.loss(w), obj.loss(w))


def test_fit_minimizers_reach_the_ridge_normal_equations():
    g = torch.Generator().manual_seed(0)
    X = torch.randn(40, 4, generator=g, dtype=torch.float64)
    y = X @ torch.tensor([1.0, -2.0, 0.5, 0.0], dtype=torch.float64)[:, None] + 0.1 * torch.randn(40, 1, generator=g,
                                                                                                    dtype=torch.float64)
    model = torch.nn.Linear(4, 1, bias=False)
    obj = Objective(model, lambda out, t: 0.5 * (out - t).pow(2).sum(-1).mean(), (X, y), dtype=torch.float64)
    alphas = [0.01, 0.5]
    fits = fit_minimizers(obj, obj.vector(), alphas, tol=1e-12)
    for alpha, fit in zip(alphas, fits):
        expected = torch.linalg.solve(X.T @ X / 40 + alpha * torch.eye(4, dtype=torch.float64), X.T @ y[:, 0] / 40)
        torch.testing.assert_close(fit.w, expected, rtol=1e-9, atol=1e-11)


def test_predict_is_the_ridge_transform_with_every_coordinate_penalized():
    rng = np.random.default_rng(0)
    A = rng.standard_normal((5, 5))
    H = A @ A.T + 0.1 * np.eye(5)
    w_star = rng.standard_normal(5)
    alphas = [0.03, 0.3, 3.0]
    expected = np.stack([np.linalg.solve(H + a * np.eye(5), H @ w_star) for a in alphas])
    np.testing.assert_allclose(predict(H, w_star, alphas), expected, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(predict(H, w_star, alphas), ridge_transform(H, w_star, alphas), rtol=1e-12, atol=1e-14)


def test_predict_on_a_hand_made_case_with_an_unpenalized_coordinate():
    # H couples w₁ with the unpenalized b: eliminating b gives H_eff = 4 − 2·2/2 = 2 for w₁.
    H = np.array([[4.0, 0.0, 2.0], [0.0, 1.0, 0.0], [2.0, 0.0, 2.0]])
    mask = [True, True, False]
    np.testing.assert_allclose(effective_hessian(H, mask), [[2.0, 0.0], [0.0, 1.0]], atol=1e-15)
    w_star = np.array([1.0, -3.0, 7.0])
    # L2: factors λ/(λ+α) = 2/3 and 1/2 at α = 1
    np.testing.assert_allclose(predict(H, w_star, 1.0, mask), [2 / 3, -1.5], rtol=1e-14)
    # L1: soft-threshold at α/H_eff,ii = 0.5 and 1 at α = 1
    np.testing.assert_allclose(predict(H, w_star, 1.0, mask, penalty="l1"), [0.5, -2.0], rtol=1e-14)
    np.testing.assert_allclose(soft_threshold(np.array([1.0, -3.0]), np.array([2.0, 1.0]), 1.0), [0.5, -2.0])
    # At the minimizer (∇C₀ = 0) the Newton form with the mask is the same prediction
    np.testing.assert_allclose(predict(H, w_star, [1.0], mask, grad0=np.zeros(3)), [[2 / 3, -1.5]], rtol=1e-12)


def test_masked_newton_step_by_hand():
    # C₀ = ½(w − 1)² + ½(b − 2)² at (0, 0): ∇C₀ = (−1, −2); penalize w only, α = 1:
    # the minimizer of ½(w−1)² + ½w² + ½(b−2)² is (1/2, 2).
    out = newton_step_prediction(np.eye(2), np.array([-1.0, -2.0]), np.zeros(2), 1.0, mask=[True, False])
    np.testing.assert_allclose(out, [0.5, 2.0], rtol=1e-14)
    # a null direction the loss and the penalty both ignore gets no step
    H = np.diag([1.0, 0.0])
    np.testing.assert_allclose(newton_step_prediction(H, np.array([-1.0, 0.0]), np.zeros(2), 1.0, mask=[True, False]),
                               [0.5, 0.0], atol=1e-14)


def test_compare_on_hand_made_numbers():
    c = compare(torch.tensor([3.0, 4.0]), torch.tensor([3.0, 3.0]))
    assert c.rel_err == pytest.approx(1 / 5)  # ‖(0, 1)‖ / max(5, √18)
    assert c.cosine == pytest.approx(21 / (5 * np.sqrt(18)))
    assert (c.norm_predicted, c.norm_trained) == (pytest.approx(5.0), pytest.approx(np.sqrt(18)))
    assert not c.holds and compare(torch.tensor([3.0, 4.0]), torch.tensor([3.0, 3.0]), threshold=0.2).holds
    assert HOLDS_THRESHOLD == 0.05
    rows = compare(torch.tensor([[1.0, 0.0], [0.0, 0.0]]), torch.tensor([[1.02, 0.0], [0.0, 2.0]]))
    assert [r.holds for r in rows] == [True, False]
    assert rows[0].rel_err == pytest.approx(0.02 / 1.02) and rows[1].rel_err == 1.0  # collapsed: bounded
    assert float(relative_error(torch.zeros(3), torch.zeros(3))) == 0.0
    with pytest.raises(ValueError, match="shape"):
        compare(torch.zeros(2), torch.zeros(3))


def test_load_run_rebuilds_a_dropout_model_from_its_checkpoint(tmp_path):
    from reglab.train import load_run, train

    cfg = parse_config({"data": {"name": "digits", "n_train": 60}, "model": {"hidden": [4]},
                        "train": {"epochs": 2, "seed": 3},
                        "regularizer": [{"kind": "dropout", "p": 0.5}]})
    result = train(cfg, out=tmp_path)
    model, splits, loss_fn = load_run(result.run_id, tmp_path)
    assert not model.training and any("Dropout" in type(m).__name__ for m in model.modules())
    trained = result.model.state_dict()
    assert all(torch.equal(t.cpu(), trained[n].cpu()) for n, t in model.state_dict().items())
    assert loss_fn is F.cross_entropy and len(splits.train) == 60
    with torch.no_grad():
        assert abs(float(loss_fn(model(splits.train.x), splits.train.y)) - result.final["train_loss"]) <= 1e-6
    with pytest.raises(RunError, match="no run"):
        load_run("nope", tmp_path)
    with pytest.raises(RunError, match="neither"):
        load_run("nope", tmp_path / "elsewhere")
    (tmp_path / "runs" / result.run_id / "checkpoint.pt").unlink()
    with pytest.raises(RunError, match="checkpoint"):
        load_run(result.run_id, tmp_path)
