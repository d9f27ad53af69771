"""Generalized Gauss–Newton products ``G v = Jᵀ H_L J v``."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch.func import grad, jvp, vjp, vmap

from reglab.curvature._model import ModelOperator
from reglab.curvature._objective import Data, LossFn, Objective, prepare_forward_ad

__all__ = ["GGNOperator", "ggn_operator"]

GGN_METHODS = ("auto",)


class GGNOperator(ModelOperator):
    """The GGN of an :class:`Objective`'s mean loss at its point; see :func:`ggn_operator`."""

    METHODS = GGN_METHODS

    def _resolve(self, method: str) -> str:
        prepare_forward_ad()
        return method

    def _pieces(self, x, y):
        pb = self.objective
        output = lambda p: pb.output(p, x)  # noqa: E731
        out, vjp_fn = vjp(output, pb.primals)
        # H_L is symmetric, so H_L u is a VJP of the output-space gradient; reverse
        # mode there also avoids pytorch/pytorch#123996 (jvp of grad of mse_loss).
        loss_hvp = vjp(grad(lambda o: pb.loss_fn(o, y)), out)[1]

        def product(tangents):
            jv = jvp(output, (pb.primals,), (tangents,))[1]
            return vjp_fn(loss_hvp(jv)[0])[0]

        return product

    def _batch_product(self, x, y, tangents):
        return self._pieces(x, y)(tangents)

    def _batch_block_product(self, x, y, tangents):
        return vmap(self._pieces(x, y))(tangents)


def ggn_operator(
    model: torch.nn.Module,
    loss_fn: LossFn,
    data: Data,
    *,
    params: Sequence[str] | None = None,
    dtype: torch.dtype | str | None = None,
    method: str = "auto",
    batch_size: int | None = None,
    device: str | torch.device | None = None,
) -> GGNOperator:
    r"""The generalized Gauss–Newton matrix of the mean loss as a linear operator.

    .. math::
        G = \sum_b \frac{n_b}{N}\, J_b^\top H_{L,b} J_b, \qquad
        J_b = \frac{\partial f(x_b; w)}{\partial w},\quad
        H_{L,b} = \nabla^2_{f}\,\ell\big(f, y_b\big),

    the Hessian with the second-derivative terms of the network dropped. It is
    positive semi-definite for convex losses (MSE, cross-entropy) and equals the
    Hessian when the model is linear in ``w``. Products are a ``jvp`` (``Jv``), a
    ``vjp`` of the loss gradient in output space (``H_L Jv``) and a ``vjp`` (``Jᵀ·``).

    Arguments and conventions (flat order, batch weights, eval mode, ``dtype``,
    ``batch_size`` chunks, ``device``) are those of :func:`hessian_operator`; ``method`` accepts only ``"auto"``.

    Example:
        >>> import torch
        >>> from reglab.curvature import ggn_operator
        >>> model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2))
        >>> X, Y = torch.randn(10, 3), torch.randint(0, 2, (10,))
        >>> G = ggn_operator(model, torch.nn.functional.cross_entropy, (X, Y))
        >>> G.matvec(torch.zeros(G.shape[0])).abs().max().item()
        0.0

    References:
        Schraudolph, "Fast curvature matrix-vector products for second-order gradient
        descent", Neural Computation 2002; Martens, "New insights and perspectives on
        the natural gradient method", JMLR 2020.
    """
    objective = Objective(model, loss_fn, data, params, dtype=dtype, batch_size=batch_size, device=device)
    return GGNOperator(objective, method)
