"""The common part of the model curvature operators (Hessian, GGN)."""

from __future__ import annotations

import torch

from reglab.curvature._operator import CurvatureOperator
from reglab.curvature._problem import Problem, eval_mode, flatten, unflatten


class ModelOperator(CurvatureOperator):
    """A curvature operator of the mean loss of a model; see :func:`hessian_operator`.

    Products are summed over the batches with weights ``n_b / N``. The model is
    in eval mode during each product and its own train/eval flags are restored
    afterwards.
    """

    def __init__(self, problem: Problem, method: str) -> None:
        super().__init__(problem.size, problem.primals[0].dtype, problem.primals[0].device)
        self._problem = problem
        self.method = method

    @property
    def param_names(self) -> tuple[str, ...]:
        """Names of the parameters in the flat vector, in order."""
        return self._problem.names

    @property
    def param_shapes(self) -> tuple[torch.Size, ...]:
        return self._problem.shapes

    def param_vector(self) -> torch.Tensor:
        """The flat vector of the selected parameters at which the operator is taken."""
        return flatten(self._problem.primals)

    def unflatten(self, v: torch.Tensor) -> dict[str, torch.Tensor]:
        """Split a flat vector into a ``{name: tensor}`` dict in the parameters' shapes."""
        return dict(zip(self.param_names, unflatten(v, self.param_shapes), strict=True))

    def loss(self) -> torch.Tensor:
        """The mean loss ``C₀`` over all examples (a 0-dim tensor)."""
        pb = self._problem
        with torch.no_grad(), eval_mode(pb.model):
            return sum(w * pb.batch_loss(pb.primals, x, y) for w, (x, y) in zip(pb.weights, pb.batches))

    def gradient(self) -> torch.Tensor:
        """The flat gradient ``∇C₀`` of the mean loss."""
        pb = self._problem
        total = torch.zeros(self._size, dtype=self.dtype, device=self.device)
        with eval_mode(pb.model), torch.enable_grad():
            for w, (x, y) in zip(pb.weights, pb.batches):
                p = tuple(t.detach().requires_grad_() for t in pb.primals)
                total += w * flatten(torch.autograd.grad(pb.batch_loss(p, x, y), p))
        return total

    def _matvec(self, v: torch.Tensor) -> torch.Tensor:
        pb = self._problem
        tangents = unflatten(v, pb.shapes)
        total = torch.zeros_like(v)
        with eval_mode(pb.model):
            for w, (x, y) in zip(pb.weights, pb.batches):
                total += w * flatten(self._batch_product(x, y, tangents))
        return total

    def _matmat(self, V: torch.Tensor) -> torch.Tensor:
        pb = self._problem
        tangents = unflatten(V.T, pb.shapes)
        total = torch.zeros_like(V.T)
        with eval_mode(pb.model):
            for w, (x, y) in zip(pb.weights, pb.batches):
                total += w * flatten(self._batch_block_product(x, y, tangents), lead=1)
        return total.T

    def _batch_product(self, x, y, tangents):  # pragma: no cover - abstract
        raise NotImplementedError

    def _batch_block_product(self, x, y, tangents):  # pragma: no cover - abstract
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(P={self._size}, dtype={self.dtype}, method={self.method!r})"
