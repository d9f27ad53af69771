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
from reglab.curvature._objective import Data, LossFn, Objective, double_backward, prepare_forward_ad
from reglab.curvature._operator import to_dense

__all__ = ["HessianOperator", "hessian_operator", "hessian", "dense_hessian"]

HVP_METHODS = ("auto", "double-backward", "rev-rev", "fwd-rev")


class HessianOperator(ModelOperator):
    """The Hessian of an :class:`Objective`'s mean loss at its point; see :func:`hessian_operator`.

    ``HessianOperator(objective, method)`` builds it on an existing objective (e.g.
    ``objective.at(w)`` for the Hessian at another point).
    """

    METHODS = HVP_METHODS

    def _resolve(self, method: str) -> str:
        if method == "fwd-rev":
            prepare_forward_ad()
        return "double-backward" if method == "auto" else method

    def _loss(self, x: torch.Tensor, y: torch.Tensor):
        return lambda p: self.objective.batch_loss(p, x, y)

    def _batch_product(self, x, y, tangents):
        loss, primals = self._loss(x, y), self.objective.primals
        if self.method == "double-backward":
            return double_backward(loss, primals, [tangents])[0]
        if self.method == "rev-rev":
            return vjp(grad(loss), primals)[1](tangents)[0]
        return _forward_over_reverse(self.objective, x, y, tangents)

    def _batch_block_product(self, x, y, tangents):
        loss, primals = self._loss(x, y), self.objective.primals
        if self.method == "rev-rev":
            vjp_fn = vjp(grad(loss), primals)[1]
            return vmap(lambda t: vjp_fn(t)[0])(tangents)
        if self.method == "fwd-rev":
            return vmap(lambda t: _forward_over_reverse(self.objective, x, y, t))(tangents)
        per_column = [tuple(t[j] for t in tangents) for j in range(tangents[0].shape[0])]
        columns = double_backward(loss, primals, per_column)
        return tuple(torch.stack(c) for c in zip(*columns, strict=True))


def _forward_over_reverse(objective, x, y, tangents):
    if not y.is_floating_point():
        return jvp(grad(lambda p: objective.batch_loss(p, x, y)), (objective.primals,), (tangents,))[1]
    # A float target gets an explicit zero tangent: with none, torch's forward
    # derivative of mse_loss(reduction="mean") writes into an immutable ZeroTensor
    # (pytorch/pytorch#123996).
    loss_grad = grad(lambda p, t: objective.batch_loss(p, x, t))
    return jvp(loss_grad, (objective.primals, y), (tangents, torch.zeros_like(y)))[1]


def hessian_operator(
    model: torch.nn.Module,
    loss_fn: LossFn,
    data: Data,
    *,
    params: Sequence[str] | None = None,
    dtype: torch.dtype | str | None = None,
    method: str = "auto",
    batch_size: int | None = None,
    device: str | torch.device | None = None,
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

    **Mode.** The products run on a private copy of the model in eval mode
    (dropout off, batch norm uses its running statistics), built by
    :class:`Objective`; the caller's model is never modified. The data are read
    once and held.

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
        batch_size: accumulate every product over chunks of at most this many
            examples, weighted ``n_b / N`` (:class:`Objective`), so memory is
            bounded by one chunk's graph; default: the batches as given.
        device: ``"cpu"``, ``"cuda"`` or ``"auto"`` (CUDA when available), or a
            :class:`torch.device`: where the products run; default: the model's.

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
    objective = Objective(model, loss_fn, data, params, dtype=dtype, batch_size=batch_size, device=device)
    return HessianOperator(objective, method)


def hessian(
    model: torch.nn.Module,
    loss_fn: LossFn,
    data: Data,
    *,
    params: Sequence[str] | None = None,
    dtype: torch.dtype | str | None = torch.float64,
    batch_size: int | None = None,
    device: str | torch.device | None = None,
) -> torch.Tensor:
    r"""The dense ``P × P`` Hessian of the mean loss, symmetrized as ``(H + Hᵀ)/2``.

    Built from blocks of vmapped Hessian-vector products with the unit vectors;
    the conventions (flat order, batch weights, eval mode) are those of
    :func:`hessian_operator` (and so are ``batch_size`` and ``device``). Only for small models: it
    costs ``P`` products and
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
    return dense_hessian(Objective(model, loss_fn, data, params, dtype=dtype, batch_size=batch_size, device=device))


def dense_hessian(objective: Objective) -> torch.Tensor:
    """The dense Hessian of an :class:`Objective`'s mean loss at its point, symmetrized (see :func:`hessian`).

    >>> import torch
    >>> from reglab.curvature import Objective, dense_hessian
    >>> X, Y = torch.eye(2), torch.zeros(2, 1)
    >>> obj = Objective(torch.nn.Linear(2, 1, bias=False), torch.nn.functional.mse_loss, (X, Y), dtype=torch.float64)
    >>> dense_hessian(obj).tolist()
    [[1.0, 0.0], [0.0, 1.0]]
    """
    H = to_dense(HessianOperator(objective, "rev-rev"))
    return (H + H.T) / 2
