"""The one small interface every regularizer implements, and ``chain`` to compose them.

A regularizer is a frozen description (strength, mask). ``bind(model, context)``
returns a *bound* piece holding the selected parameters and any state; the
training loop calls, in this order, for each mini-batch::

    loss = data_loss + bound.loss_penalty() # penalties added to the mean loss
    loss.backward(); bound.add_penalty_grad()   # or their closed-form gradient (L2)
    bound.pre_step(lr); optimizer.step(); bound.post_step(lr)

``pre_step`` is where decoupled decay lives (torch's AdamW also decays before its
step), ``post_step`` where proximal steps and projections live (they go last, as in
optax). ``wrap_model`` lets a piece change the network (dropout) and
``on_epoch_end`` lets it stop training (early stopping). A chain of pieces is
itself a piece; the order of the chain is the order of application.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import torch
from torch import nn

from reglab.regularize._masks import MaskSpec, select_parameters

__all__ = ["Regularizer", "Strength", "Bound", "BindContext", "Chain", "chain"]


@dataclass(frozen=True)
class BindContext:
    """What a regularizer may need to know when it is bound to a model.

    ``n_train`` is the training-set size (Nielsen's n); ``generator`` the run's
    explicit source of randomness.
    """

    n_train: int = 1
    generator: torch.Generator | None = None


class Bound:
    """A regularizer bound to a model's parameters. Defaults do nothing."""

    name: str = "regularizer"
    params: list[tuple[str, nn.Parameter]]

    def __init__(self, params: list[tuple[str, nn.Parameter]] | None = None) -> None:
        self.params = params or []

    @property
    def penalized(self) -> list[str]:
        return [n for n, _ in self.params]

    def penalty(self) -> torch.Tensor | None:
        """The term added to the mean training loss, or None."""
        return None

    def penalty_value(self) -> torch.Tensor | None:
        """The penalty to report in metrics (objective = C₀ + this); by default the loss term.

        Pieces that act outside the loss (the L1 proximal step) report their penalty here.
        """
        return self.penalty()

    def loss_penalty(self) -> torch.Tensor | None:
        """The part of the penalty the training loop adds to the loss for autograd.

        By default all of it. A piece whose gradient has a closed form (L2: ∇ = αw)
        returns None here and adds that gradient in :meth:`add_penalty_grad` instead:
        the same update, without an autograd graph over every weight at every step.
        """
        return self.penalty()

    def add_penalty_grad(self) -> None:
        """Called right after ``backward``: add the closed-form penalty gradient to ``.grad``."""

    def pre_step(self, lr: float) -> None:
        """Called after ``backward`` and before ``optimizer.step()``."""

    def post_step(self, lr: float) -> None:
        """Called after ``optimizer.step()``."""

    def on_epoch_end(self, epoch: int, metrics: dict[str, float], model: nn.Module) -> str | None:
        """Return a reason to stop training, or None to go on."""
        return None

    def on_train_end(self, model: nn.Module) -> dict[str, Any] | None:
        """Called once when training ends; may change the weights (restore the best) and say so."""
        return None

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "penalized": self.penalized}

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` saved (for resuming a run)."""


@dataclass(frozen=True)
class Regularizer:
    """Base of the frozen descriptions; subclasses set ``name`` and implement :meth:`_bind`."""

    mask: MaskSpec = "weights"

    name = "regularizer"

    def bind(self, model: nn.Module, context: BindContext | None = None) -> Bound:
        bound = self._bind(select_parameters(model, self.mask), context or BindContext())
        bound.name = self.name
        return bound

    def wrap_model(self, model: nn.Module, context: BindContext | None = None) -> nn.Module:
        """Return the model to train (dropout inserts layers); the default returns it unchanged."""
        return model

    def _bind(self, params: list[tuple[str, nn.Parameter]], context: BindContext) -> Bound:
        return Bound(params)


@dataclass(frozen=True)
class Strength(Regularizer):
    """A regularizer with a strength ``alpha`` on the *mean* loss.

    ``convention="nielsen"`` reads ``alpha`` as Nielsen's λ, whose penalty is
    divided by the training-set size n: α = λ/n (seed 003, ch. 3).
    """

    alpha: float = 0.0
    convention: str = "reglab"

    def __post_init__(self) -> None:
        if not self.alpha >= 0.0:
            raise ValueError(f"{self.name} alpha must be >= 0, got {self.alpha}")
        if self.convention not in ("reglab", "nielsen"):
            raise ValueError(f"{self.name} convention must be 'reglab' or 'nielsen', got {self.convention!r}")

    def effective_alpha(self, n_train: int) -> float:
        """α on the mean loss: ``alpha`` itself, or λ/n under Nielsen's convention."""
        return self.alpha / n_train if self.convention == "nielsen" else self.alpha


class BoundChain(Bound):
    """Bound pieces applied in order."""

    name = "chain"

    def __init__(self, pieces: Sequence[Bound]) -> None:
        super().__init__([p for piece in pieces for p in piece.params])
        self.pieces = list(pieces)

    def penalty(self) -> torch.Tensor | None:
        return _sum(p.penalty() for p in self.pieces)

    def penalty_value(self) -> torch.Tensor | None:
        return _sum(p.penalty_value() for p in self.pieces)

    def loss_penalty(self) -> torch.Tensor | None:
        return _sum(p.loss_penalty() for p in self.pieces)

    def add_penalty_grad(self) -> None:
        for piece in self.pieces:
            piece.add_penalty_grad()

    def pre_step(self, lr: float) -> None:
        for piece in self.pieces:
            piece.pre_step(lr)

    def post_step(self, lr: float) -> None:
        for piece in self.pieces:
            piece.post_step(lr)

    def on_epoch_end(self, epoch: int, metrics: dict[str, float], model: nn.Module) -> str | None:
        reasons = [r for r in (p.on_epoch_end(epoch, metrics, model) for p in self.pieces) if r]
        return "; ".join(reasons) or None

    def on_train_end(self, model: nn.Module) -> dict[str, Any] | None:
        notes = [n for n in (p.on_train_end(model) for p in self.pieces) if n]
        return {k: v for n in notes for k, v in n.items()} or None

    def describe(self) -> dict[str, Any]:
        return {"name": "chain", "pieces": [p.describe() for p in self.pieces]}

    def state_dict(self) -> dict[str, Any]:
        return {"pieces": [p.state_dict() for p in self.pieces]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for piece, sub in zip(self.pieces, state.get("pieces", [])):
            piece.load_state_dict(sub)


def _sum(values: Any) -> torch.Tensor | None:
    terms = [t for t in values if t is not None]
    return torch.stack(terms).sum() if len(terms) > 1 else (terms[0] if terms else None)


@dataclass(frozen=True)
class Chain(Regularizer):
    """Several regularizers applied in order; itself a regularizer."""

    pieces: tuple[Regularizer, ...] = field(default_factory=tuple)
    name = "chain"

    def bind(self, model: nn.Module, context: BindContext | None = None) -> Bound:
        return BoundChain([p.bind(model, context) for p in self.pieces])

    def wrap_model(self, model: nn.Module, context: BindContext | None = None) -> nn.Module:
        for piece in self.pieces:
            model = piece.wrap_model(model, context)
        return model


def chain(*pieces: Regularizer) -> Chain:
    """Compose regularizers; order is application order (projections and prox steps last).

    >>> from reglab.regularize import L2, WeightDecay
    >>> reg = chain(L2(alpha=1e-4), WeightDecay(wd=1e-2))
    >>> [piece.name for piece in reg.pieces]
    ['l2', 'weight_decay']
    """
    return Chain(pieces=tuple(pieces))
