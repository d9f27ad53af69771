"""The common part of the model curvature operators (Hessian, GGN): products on an :class:`Objective`."""

from __future__ import annotations

import torch

from reglab.curvature._objective import Objective, flatten, unflatten
from reglab.curvature._operator import CurvatureOperator


class ModelOperator(CurvatureOperator):
    """A curvature operator of the mean loss of an :class:`Objective`, taken at its point.

    Products are summed over the objective's batches with weights ``n_b / N``; the
    objective's private copy of the model is in eval mode, the caller's model is
    never touched.
    """

    METHODS: tuple[str, ...] = ("auto",)

    def __init__(self, objective: Objective, method: str = "auto") -> None:
        if not isinstance(objective, Objective):
            raise TypeError(f"objective must be a reglab.curvature.Objective, got {type(objective).__name__}")
        if method not in self.METHODS:
            raise ValueError(f"method must be one of {self.METHODS}, got {method!r}")
        super().__init__(objective.size, objective.dtype, objective.device)
        self.objective = objective
        self.method = self._resolve(method)

    def _resolve(self, method: str) -> str:
        return method

    @property
    def param_names(self) -> tuple[str, ...]:
        """Names of the parameters in the flat vector, in order."""
        return self.objective.names

    @property
    def param_shapes(self) -> tuple[torch.Size, ...]:
        return self.objective.shapes

    def param_vector(self) -> torch.Tensor:
        """The flat vector of the selected parameters at which the operator is taken."""
        return self.objective.vector()

    def unflatten(self, v: torch.Tensor) -> dict[str, torch.Tensor]:
        """Split a flat vector into a ``{name: tensor}`` dict in the parameters' shapes."""
        return self.objective.unflatten(v)

    def loss(self) -> torch.Tensor:
        """The mean loss ``C₀`` over all examples (a 0-dim tensor)."""
        with torch.no_grad():
            return self.objective.loss()

    def gradient(self) -> torch.Tensor:
        """The flat gradient ``∇C₀`` of the mean loss."""
        return self.objective.grad()

    def _matvec(self, v: torch.Tensor) -> torch.Tensor:
        tangents = unflatten(v, self.objective.shapes)
        return self.objective.over_batches(lambda x, y: flatten(self._batch_product(x, y, tangents)))

    def _matmat(self, V: torch.Tensor) -> torch.Tensor:
        tangents = unflatten(V.T, self.objective.shapes)
        return self.objective.over_batches(lambda x, y: flatten(self._batch_block_product(x, y, tangents), lead=1)).T

    def _batch_product(self, x, y, tangents):  # pragma: no cover - abstract
        raise NotImplementedError

    def _batch_block_product(self, x, y, tangents):  # pragma: no cover - abstract
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(P={self._size}, dtype={self.dtype}, method={self.method!r})"
