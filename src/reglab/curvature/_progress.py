"""Progress of the curvature routines: products done out of those expected, and the residual so far.

Every routine that can take long (:func:`~reglab.curvature.eigen`,
:func:`~reglab.curvature.spectral_density`, :func:`~reglab.curvature.trace`,
:func:`~reglab.curvature.diagonal`) accepts ``progress=callback``; the callback
gets a :class:`Progress` after every operator product (a block of ``k`` columns
counts ``k``). The library never prints; the CLI draws a bar from these events.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from reglab.curvature._operator import CurvatureOperator, DenseOperator

__all__ = ["Progress", "ProgressCallback", "Tracker"]


@dataclass(frozen=True)
class Progress:
    """One progress event.

    Attributes:
        task: what is running, e.g. ``"eigen LA"``, ``"density"``, ``"trace"``.
        done: operator products spent so far by this call.
        expected: the products the call will spend at most (its budget; an
            iterative method that converges early ends below it).
        residual: the largest relative residual bound of the wanted pairs so far
            (eigen's Krylov methods: ``max_i ‖r_i‖ / max|θ|``), or ``None``.
    """

    task: str
    done: int
    expected: int
    residual: float | None = None


ProgressCallback = Callable[[Progress], None]


class Tracker:
    """Counts the products of ``op`` for one call and reports them to ``callback`` (which may be ``None``)."""

    def __init__(self, op: CurvatureOperator, task: str, expected: int, callback: ProgressCallback | None) -> None:
        if callback is not None and not callable(callback):
            raise TypeError("progress must be a callable taking a reglab.curvature.Progress")
        self.op, self.task, self.expected, self.callback = op, task, int(expected), callback
        self.start = op.num_matvecs
        self.residual: float | None = None

    @property
    def done(self) -> int:
        return self.op.num_matvecs - self.start

    def report(self, residual: float | None = None) -> None:
        if residual is not None:
            self.residual = residual
        if self.callback is not None:
            self.callback(Progress(self.task, self.done, max(self.expected, self.done), self.residual))

    def watch(self) -> CurvatureOperator:
        """``op`` itself without a callback (or for a dense matrix); else a view that reports after each product."""
        if self.callback is None or isinstance(self.op, DenseOperator):
            return self.op
        return _Watched(self.op, self)


class _Watched(CurvatureOperator):
    """``op`` seen through a :class:`Tracker`: same products, one report after each."""

    def __init__(self, op: CurvatureOperator, tracker: Tracker) -> None:
        super().__init__(op.shape[0], op.dtype, op.device)
        self.inner, self.tracker = op, tracker
        self.num_matvecs = op.num_matvecs

    def _matvec(self, v: torch.Tensor) -> torch.Tensor:
        out = self.inner.matvec(v)
        self.tracker.report()
        return out

    def _matmat(self, V: torch.Tensor) -> torch.Tensor:
        out = self.inner.matmat(V)
        self.tracker.report()
        return out
