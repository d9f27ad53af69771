"""Hessian-vector products of the mean loss, built on ``torch.func``.

Three formulations of ``H v = ∇(∇C₀ · v)`` are available; they give the same
numbers and differ in speed only:

* ``"double-backward"`` — ``torch.autograd.grad`` twice (reverse-over-reverse with
  the tape); for blocks, one graph and a reverse pass per column.
* ``"rev-rev"`` — ``torch.func.vjp(torch.func.grad(loss))``; for blocks, the VJP
  is linearized once and ``vmap``-ed over the columns.
* ``"fwd-rev"`` — ``torch.func.jvp(torch.func.grad(loss))`` (forward-over-reverse).

``"auto"`` is double-backward, the fastest single product on a CPU as measured
by ``benchmarks/bench_hvp.py`` (2-core CPU, torch 2.13, MLP 64-128-128-10 tanh,
batch 1000: HVP/gradient ≈ 2.5 / 2.7–3.1 / 3.3–3.5 for double-backward /
rev-rev / fwd-rev). Double-backward runs 22 matrix products where the gradient
runs 8 — as many as Pearlmutter's R-op needs — so about 2.5 is what an exact
HVP costs for this network. For blocks, vmapped rev-rev is about as fast per
column but holds one copy of the backward graph per column; the double-backward
loop keeps memory flat, so it is the default for blocks too (``hessian`` uses
vmapped rev-rev: its models are small).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch.func import grad, jvp, vjp, vmap

from reglab.curvature._model import ModelOperator
from reglab.curvature._operator import to_dense
from reglab.curvature._problem import Data, LossFn, build_problem, prepare_forward_ad

__all__ = ["HessianOperator", "hessian_operator", "hessian"]

HVP_METHODS = ("auto", "double-backward", "rev-rev", "fwd-rev")


class HessianOperator(ModelOperator):
    """The Hessian of the mean loss as an operator; build it with :func:`hessian_operator`."""

    def _loss(self, x: torch.Tensor, y: torch.Tensor):
        return lambda p: self._problem.batch_loss(p, x, y)

    def _batch_product(self, x, y, tangents):
        loss, primals = self._loss(x, y), self._problem.primals
        if self.method == "double-backward":
            return _double_backward(loss, primals, [tangents])[0]
        if self.method == "rev-rev":
            return vjp(grad(loss), primals)[1](tangents)[0]
        return _forward_over_reverse(self._problem, x, y, tangents)

    def _batch_block_product(self, x, y, tangents):
        loss, primals = self._loss(x, y), self._problem.primals
        if self.method == "rev-rev":
            vjp_fn = vjp(grad(loss), primals)[1]
            return vmap(lambda t: vjp_fn(t)[0])(tangents)
        if self.method == "fwd-rev":
            return vmap(lambda t: _forward_over_reverse(self._problem, x, y, t))(tangents)
        per_column = [tuple(t[j] for t in tangents) for j in range(tangents[0].shape[0])]
        columns = _double_backward(loss, primals, per_column)
        return tuple(torch.stack(c) for c in zip(*columns, strict=True))


def _double_backward(loss, primals, tangent_sets):
    """``H v`` for each ``v`` in ``tangent_sets`` from one graph of the gradient."""
    with torch.enable_grad():
        p = tuple(t.detach().requires_grad_() for t in primals)
        g = torch.autograd.grad(loss(p), p, create_graph=True, materialize_grads=True)
        # A gradient that is constant in the parameters has no graph; its rows of H are 0.
        live = [i for i, gi in enumerate(g) if gi.requires_grad]
        if not live:
            return [tuple(torch.zeros_like(t) for t in primals) for _ in tangent_sets]
        outputs = [g[i] for i in live]
        return [
            torch.autograd.grad(outputs, p, [v[i] for i in live], retain_graph=True, materialize_grads=True)
            for v in tangent_sets
        ]


def _forward_over_reverse(problem, x, y, tangents):
    if not y.is_floating_point():
        return jvp(grad(lambda p: problem.batch_loss(p, x, y)), (problem.primals,), (tangents,))[1]
    # A float target gets an explicit zero tangent: with none, torch's forward
    # derivative of mse_loss(reduction="mean") writes into an immutable ZeroTensor
    # (pytorch/pytorch#123996).
    loss_grad = grad(lambda p, t: problem.batch_loss(p, x, t))
    return jvp(loss_grad, (problem.primals, y), (tangents, torch.zeros_like(y)))[1]


def hessian_operator(
    model: torch.nn.Module,
    loss_fn: LossFn,
    data: Data,
    *,
    params: Sequence[str] | None = None,
    dtype: torch.dtype | None = None,
    method: str = "auto",
) -> HessianOperator:
    r"""The Hessian of the mean training loss as a linear operator (never stored).

    .. math::
        C_0(w) = \sum_b \frac{n_b}{N}\,\ell_b(w), \qquad
        H v = \nabla_w\big(\nabla_w C_0(w)\cdot v\big),

    where ``ℓ_b = loss_fn(model(x_b), y_b)`` is the mean loss of batch ``b`` with
    ``n_b`` examples, so unequal batches are weighted exactly. The products are
    Pearlmutter's trick with ``torch.func`` (``functional_call`` + ``grad`` + ``vjp``/``jvp``).

    **Flat vector.** The operator acts on the concatenation of the parameters named
    in ``params`` (default: every parameter with ``requires_grad``, in
    ``model.named_parameters()`` order), each flattened row-major. The others and
    all buffers are held fixed at their values when the operator is built; the
    values are copied, so training the model afterwards does not change it.
    ``op.param_names``, ``op.unflatten(v)`` and ``op.param_vector()`` give the layout.

    **Mode.** The model is in eval mode during every product (dropout off,
    batch norm uses its running statistics) and each submodule's own flag is
    restored afterwards. The data are read once and held.

    Args:
        model: the network.
        loss_fn: ``loss_fn(outputs, targets)`` returning the *mean* loss of a batch,
            e.g. ``torch.nn.functional.cross_entropy``.
        data: a tuple ``(X, Y)`` of tensors, or an iterable of ``(x, y)`` batches.
        params: names of the parameters to differentiate with respect to.
        dtype: compute in this dtype (e.g. ``torch.float64``) on cast copies of the
            parameters and data; default: the parameters' dtype.
        method: ``"auto"`` (= ``"double-backward"``), ``"double-backward"``,
            ``"rev-rev"`` or ``"fwd-rev"`` (see the module docs; all give the same
            numbers). ``op.method`` holds the resolved name.

    Example:
        >>> import torch
        >>> from reglab.curvature import hessian_operator
        >>> model = torch.nn.Linear(3, 2)
        >>> X, Y = torch.randn(10, 3), torch.randint(0, 2, (10,))
        >>> op = hessian_operator(model, torch.nn.functional.cross_entropy, (X, Y), dtype=torch.float64)
        >>> op.shape, op.matvec(torch.ones(8, dtype=torch.float64)).shape
        ((8, 8), torch.Size([8]))

    References:
        Pearlmutter, "Fast exact multiplication by the Hessian", Neural Computation 1994;
        Goodfellow, Bengio & Courville, *Deep Learning*, 2016, §4.3 and ch. 7.
    """
    _check_method(method)
    if method == "fwd-rev":
        prepare_forward_ad()
    resolved = "double-backward" if method == "auto" else method
    return HessianOperator(build_problem(model, loss_fn, data, params, dtype), resolved)


def hessian(
    model: torch.nn.Module,
    loss_fn: LossFn,
    data: Data,
    *,
    params: Sequence[str] | None = None,
    dtype: torch.dtype | None = torch.float64,
) -> torch.Tensor:
    r"""The dense ``P × P`` Hessian of the mean loss, symmetrized as ``(H + Hᵀ)/2``.

    Built from blocks of vmapped Hessian-vector products with the unit vectors;
    the conventions (flat order, batch weights, eval mode) are those of
    :func:`hessian_operator`. Only for small models: it costs ``P`` products and
    ``P²`` numbers.

    Example:
        >>> import torch
        >>> from reglab.curvature import hessian
        >>> model = torch.nn.Linear(3, 1)
        >>> X, Y = torch.randn(20, 3), torch.randn(20, 1)
        >>> H = hessian(model, torch.nn.functional.mse_loss, (X, Y))
        >>> H.shape
        torch.Size([4, 4])

    Reference: Goodfellow, Bengio & Courville, *Deep Learning*, 2016, §4.3.
    """
    op = hessian_operator(model, loss_fn, data, params=params, dtype=dtype, method="rev-rev")
    H = to_dense(op)
    return (H + H.T) / 2


def _check_method(method: str) -> None:
    if method not in HVP_METHODS:
        raise ValueError(f"method must be one of {HVP_METHODS}, got {method!r}")
