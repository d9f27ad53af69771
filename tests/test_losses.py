"""train.loss = "sigmoid_cross_entropy" (notes eq. 21) and "quadratic" on sigmoid output units.

References: values by hand, the formulas exactly as written (autograd through
σ and ln), the closed-form output errors δ = ∂C/∂z of Nielsen ch. 1/3, and a
dense float64 Hessian from torch.func of the written formula.
"""

import math

import pytest
import torch
from torch.func import functional_call, jacrev

from reglab.config import parse_config
from reglab.curvature import ggn_operator, hessian_operator, to_dense
from reglab.errors import ConfigError
from reglab.train import Trainer, get_loss
from reglab.train._losses import quadratic, sigmoid_cross_entropy

# forward-mode products (method "fwd-rev") load torch's JVP decompositions, which warn that torch.jit.script
# is deprecated: torch's own warning, as in test_curvature.py.
pytestmark = pytest.mark.filterwarnings(r"ignore:.*torch\.jit\.script.* is deprecated:DeprecationWarning")


def num(t):
    return t.detach().item()


def written_cross_entropy(z, labels):
    """−(1/n) Σₓ Σⱼ [yⱼ ln aⱼ + (1 − yⱼ) ln(1 − aⱼ)], a = σ(z), exactly as in eq. (21)."""
    a = torch.sigmoid(z)
    y = torch.nn.functional.one_hot(labels, z.shape[1]).to(z.dtype)
    return -(y * torch.log(a) + (1 - y) * torch.log(1 - a)).sum() / len(z)


def written_quadratic(z, labels):
    """(1/2n) Σₓ ‖y(x) − a(x)‖²."""
    y = torch.nn.functional.one_hot(labels, z.shape[1]).to(z.dtype)
    return ((y - torch.sigmoid(z)) ** 2).sum() / (2 * len(z))


def _logits(n=7, k=4, scale=3.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    z = scale * torch.randn(n, k, dtype=torch.float64, generator=g)
    return z.requires_grad_(True), torch.randint(0, k, (n,), generator=g)


def test_values_by_hand():
    # a = σ(0, ln 3) = (1/2, 3/4); class 1: −[ln(1 − 1/2) + ln(3/4)] = ln 2 + ln(4/3) = ln(8/3)
    z = torch.tensor([[0.0, math.log(3.0)]], dtype=torch.float64)
    assert num(sigmoid_cross_entropy(z, torch.tensor([1]))) == pytest.approx(math.log(8 / 3), rel=1e-14)
    # class 0: −[ln(1/2) + ln(1/4)] = ln 8; the mean of the two examples
    both = sigmoid_cross_entropy(z.repeat(2, 1), torch.tensor([1, 0]))
    assert num(both) == pytest.approx((math.log(8 / 3) + math.log(8)) / 2, rel=1e-14)
    # quadratic: class 1: ½[(0 − ½)² + (1 − ¾)²] = ½(1/4 + 1/16) = 5/32
    assert num(quadratic(z, torch.tensor([1]))) == pytest.approx(5 / 32, rel=1e-14)
    assert num(quadratic(z.repeat(2, 1), torch.tensor([1, 0]))) == pytest.approx((5 / 32 + 0.5 * (0.25 + 0.5625)) / 2,
                                                                                   rel=1e-14)


@pytest.mark.parametrize("ours, written", [(sigmoid_cross_entropy, written_cross_entropy),
                                           (quadratic, written_quadratic)])
def test_value_and_gradient_equal_the_written_formula(ours, written):
    z, labels = _logits()
    mine, ref = ours(z, labels), written(z, labels)
    assert num(mine) == pytest.approx(num(ref), rel=1e-13)
    (g_mine,), (g_ref,) = torch.autograd.grad(mine, z), torch.autograd.grad(ref, z)
    torch.testing.assert_close(g_mine, g_ref, rtol=1e-12, atol=1e-15)


def test_output_errors_are_nielsens_closed_forms():
    """δ = ∂C/∂z: (a − y)/n for the cross-entropy (σ′ cancels), (a − y)·σ′(z)/n for the quadratic cost."""
    z, labels = _logits(n=5, k=3)
    a, y = torch.sigmoid(z).detach(), torch.nn.functional.one_hot(labels, 3).double()
    (d_ce,) = torch.autograd.grad(sigmoid_cross_entropy(z, labels), z)
    (d_q,) = torch.autograd.grad(quadratic(z, labels), z)
    torch.testing.assert_close(d_ce, (a - y) / 5, rtol=1e-12, atol=1e-15)
    torch.testing.assert_close(d_q, (a - y) * a * (1 - a) / 5, rtol=1e-12, atol=1e-15)


def test_cross_entropy_is_stable_where_the_written_formula_is_not():
    z = torch.tensor([[200.0, -200.0], [-200.0, 200.0]], dtype=torch.float64, requires_grad=True)
    labels = torch.tensor([1, 1])
    assert not math.isfinite(num(written_cross_entropy(z, labels)))
    # example 1: both units maximally wrong, −ln σ(−200) − ln(1 − σ(200)) = 400 (up to e⁻²⁰⁰); example 2: ≈ 0
    value = sigmoid_cross_entropy(z, labels)
    assert num(value) == pytest.approx(200.0, rel=1e-12)
    (g,) = torch.autograd.grad(value, z)
    torch.testing.assert_close(g, torch.tensor([[0.5, -0.5], [0.0, 0.0]], dtype=torch.float64))
    assert math.isfinite(num(quadratic(z, labels)))
    f32 = sigmoid_cross_entropy(torch.tensor([[90.0, -90.0]]), torch.tensor([1]))
    assert num(f32) == pytest.approx(180.0, rel=1e-6)


@pytest.mark.parametrize("name", ["sigmoid_cross_entropy", "quadratic"])
@pytest.mark.parametrize("method", ["double-backward", "rev-rev", "fwd-rev"])
def test_hessian_operator_matches_a_dense_hessian_of_the_written_formula(name, method):
    _, loss_fn = get_loss(name, "classification")
    written = written_cross_entropy if name == "sigmoid_cross_entropy" else written_quadratic
    g = torch.Generator().manual_seed(1)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Sigmoid(), torch.nn.Linear(4, 3)).double()
    x, y = torch.randn(20, 3, dtype=torch.float64, generator=g), torch.randint(0, 3, (20,), generator=g)
    op = hessian_operator(model, loss_fn, (x, y), dtype=torch.float64, method=method)
    params = {n: p.detach() for n, p in model.named_parameters()}
    names = list(params)
    shapes = [params[n].shape for n in names]
    flat0 = torch.cat([params[n].flatten() for n in names])

    def c0(flat):
        parts = torch.split(flat, [s.numel() for s in shapes])
        return written(functional_call(model, {n: t.reshape(s) for n, t, s in zip(names, parts, shapes)}, (x,)), y)

    torch.testing.assert_close(to_dense(op), jacrev(jacrev(c0))(flat0), rtol=1e-10, atol=1e-12)


def test_ggn_of_sigmoid_cross_entropy_is_positive_semidefinite_and_not_the_hessian():
    _, loss_fn = get_loss("sigmoid_cross_entropy", "classification")
    g = torch.Generator().manual_seed(2)
    model = torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.Tanh(), torch.nn.Linear(5, 2)).double()
    x, y = torch.randn(30, 3, dtype=torch.float64, generator=g), torch.randint(0, 2, (30,), generator=g)
    G = to_dense(ggn_operator(model, loss_fn, (x, y), dtype=torch.float64))
    assert num(torch.linalg.eigvalsh(G).min()) > -1e-12
    # the last layer enters linearly, so its block of the Hessian is the GGN's: Jᵀ diag(σ′) J / n
    H = to_dense(hessian_operator(model, loss_fn, (x, y), dtype=torch.float64))
    torch.testing.assert_close(G[-12:, -12:], H[-12:, -12:], rtol=1e-10, atol=1e-12)
    assert num((G - H).abs().max()) > 1e-6


def test_get_loss_names_and_errors():
    assert get_loss("auto", "classification")[0] == "cross_entropy"
    assert get_loss("quadratic", "classification")[1] is quadratic
    assert parse_config({"train": {"loss": "sigmoid_cross_entropy"}}).train.loss == "sigmoid_cross_entropy"
    with pytest.raises(ConfigError, match="does not fit a regression data set") as info:
        get_loss("sigmoid_cross_entropy", "regression")
    assert info.value.field == "train.loss"
    with pytest.raises(ConfigError, match="half_mse"):
        Trainer(parse_config({"data": {"name": "linear"}, "train": {"loss": "quadratic"}}))
    with pytest.raises(ConfigError, match="train.loss"):
        parse_config({"train": {"loss": "hinge"}})


@pytest.mark.parametrize("name, written", [("sigmoid_cross_entropy", written_cross_entropy),
                                           ("quadratic", written_quadratic)])
def test_training_reports_the_chosen_cost_and_the_argmax_error(name, written):
    cfg = parse_config({"model": {"hidden": [16], "activation": "sigmoid", "init": "normal"},
                        "train": {"epochs": 1, "loss": name, "dtype": "float64", "batch_size": 10, "lr": 0.5}})
    trainer = Trainer(cfg)
    metrics = trainer.run_epoch().metrics
    test = trainer.splits.test
    with torch.no_grad():
        z = trainer.model(test.x.double())
    assert metrics["test_loss"] == pytest.approx(num(written(z, test.y)), rel=1e-10)
    assert metrics["test_error"] == pytest.approx(num((torch.sigmoid(z).argmax(1) != test.y).double().mean()))
    assert metrics["train_error"] < 0.85  # it learned something (chance: 0.9); the quadratic cost learns slowly
