"""The three kinds of regularizer, what each is once bound to a model, and ``chain`` to compose them.

A regularizer is a frozen description. What it does decides its kind and its hooks:

**steps** (:class:`Step`: L2, L1, weight decay, the L1 proximal step, projections)
    act on the parameters an explicit ``mask`` selects. ``bind(model)`` returns a
    :class:`BoundStep`; for each mini-batch the training loop calls::

        loss = data_loss + steps.loss_penalty()   # penalties added to the mean loss
        loss.backward(); steps.add_penalty_grad() # or their closed-form gradient (L2)
        steps.pre_step(lr); optimizer.step(); steps.post_step(lr)

    ``pre_step`` is where decoupled decay lives (torch's AdamW also decays before
    its step), ``post_step`` where proximal steps and projections live (last, as in
    optax). Their math is :mod:`reglab.regularize.ops`.

**model transforms** (:class:`Transform`: dropout) change the network once,
    ``wrap_model(model, context)``; no mask, no per-step hook.

**callbacks** (:class:`Callback`: early stopping) see each epoch's metrics
    (``on_epoch_end`` may stop training) and the end of training (``on_train_end``
    may restore weights); no mask.

A :class:`Chain` of pieces of any kinds is one object for the user; bound, it is a
:class:`BoundChain` whose ``steps`` and ``callbacks`` the trainer drives (and whose
``state_dict`` keeps every piece's state in chain order). The chain's order is the
order of application.

Validation: constructors only store their arguments (as scikit-learn's estimators
do); a piece's fields are checked once, by its config schema (the pydantic class in
the same module, e.g. ``L2Config``), when work starts — ``bind`` or ``wrap_model``.
A piece built by its config (``L2Config(...).build()``) was checked by that config
already and is not checked again. A bad value is a ``ConfigError`` naming the field.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Callable, ClassVar, Sequence

import torch
from torch import nn

from reglab.errors import ConfigError
from reglab.regularize._masks import MaskSpec, select_parameters

__all__ = ["Regularizer", "Step", "Strength", "Transform", "Callback", "Bound", "BoundStep", "BoundCallback",
           "BoundTransform", "BoundChain", "BindContext", "Chain", "chain"]

Params = list[tuple[str, nn.Parameter]]



def mark_validated(piece: "Regularizer") -> "Regularizer":
    """Record that a schema has validated ``piece``'s fields (its config built it), so binding does not repeat it."""
    object.__setattr__(piece, "_validated", True)
    return piece


@dataclass(frozen=True)
class BindContext:
    """What a regularizer may need to know when it is bound to a model.

    ``n_train`` is the training-set size (Nielsen's n); ``generator`` the run's
    explicit source of randomness.
    """

    n_train: int = 1
    generator: torch.Generator | None = None


# ----------------------------------------------------------------------------- bound pieces

class Bound:
    """What every bound piece has: a name, a description, a state for checkpoints."""

    name: str = "regularizer"

    @property
    def penalized(self) -> list[str]:
        """Names of the parameters the piece acts on (none, unless it is a step)."""
        return []

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "penalized": self.penalized}

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` saved (for resuming a run)."""


class BoundStep(Bound):
    """A penalty or step bound to the selected parameters. Defaults do nothing."""

    params: Params

    def __init__(self, params: Params | None = None) -> None:
        self.params = params or []

    @property
    def penalized(self) -> list[str]:
        return [n for n, _ in self.params]

    @property
    def tensors(self) -> list[nn.Parameter]:
        return [p for _, p in self.params]

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


class BoundCallback(Bound):
    """A callback bound to a model: it sees every epoch's metrics and the end of training."""

    def on_epoch_end(self, epoch: int, metrics: dict[str, float], model: nn.Module) -> str | None:
        """Return a reason to stop training, or None to go on."""
        return None

    def on_train_end(self, model: nn.Module) -> dict[str, Any] | None:
        """Called once when training ends; may change the weights (restore the best) and say so."""
        return None


class BoundTransform(Bound):
    """A model transform after ``wrap_model``: nothing left to do but to describe itself."""

    def __init__(self, name: str, settings: dict[str, Any]) -> None:
        self.name = name
        self._settings = settings

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), **self._settings}


def _sum(values: Any) -> torch.Tensor | None:
    terms = [t for t in values if t is not None]
    return torch.stack(terms).sum() if len(terms) > 1 else (terms[0] if terms else None)


class BoundPenalty(BoundStep):
    """A penalty term ``op(tensors, alpha)`` on the mean loss (``op`` from :mod:`reglab.regularize.ops`).

    Strength 0 or no selected tensors adds nothing (None), so a zero-strength piece leaves
    training bit-identical.
    """

    op: ClassVar[Callable[[Sequence[torch.Tensor], float], torch.Tensor]]

    def __init__(self, params: Params, alpha: float) -> None:
        super().__init__(params)
        self.alpha = alpha

    def penalty(self) -> torch.Tensor | None:
        if self.alpha == 0.0 or not self.params:
            return None
        return type(self).op(self.tensors, self.alpha)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "alpha": self.alpha}


class BoundSteps(BoundStep):
    """Bound steps applied in chain order."""

    name = "steps"

    def __init__(self, pieces: Sequence[BoundStep]) -> None:
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


class BoundCallbacks(BoundCallback):
    """Bound callbacks in chain order: every one sees every epoch; their stop reasons are joined."""

    name = "callbacks"

    def __init__(self, pieces: Sequence[BoundCallback]) -> None:
        self.pieces = list(pieces)

    def on_epoch_end(self, epoch: int, metrics: dict[str, float], model: nn.Module) -> str | None:
        reasons = [r for r in (p.on_epoch_end(epoch, metrics, model) for p in self.pieces) if r]
        return "; ".join(reasons) or None

    def on_train_end(self, model: nn.Module) -> dict[str, Any] | None:
        notes = [n for n in (p.on_train_end(model) for p in self.pieces) if n]
        return {k: v for n in notes for k, v in n.items()} or None


class BoundChain(Bound):
    """A bound chain: every piece in order, and its ``steps`` and ``callbacks`` (what the trainer drives).

    It answers the step and callback hooks too (by handing them to ``steps`` and
    ``callbacks``), so a chain can be used wherever a single bound piece could.
    """

    name = "chain"

    def __init__(self, pieces: Sequence[Bound]) -> None:
        self.pieces = list(pieces)
        self.steps = BoundSteps([p for p in pieces if isinstance(p, BoundStep)])
        self.callbacks = BoundCallbacks([p for p in pieces if isinstance(p, BoundCallback)])

    @property
    def params(self) -> Params:
        return self.steps.params

    @property
    def penalized(self) -> list[str]:
        return self.steps.penalized

    def penalty(self) -> torch.Tensor | None:
        return self.steps.penalty()

    def penalty_value(self) -> torch.Tensor | None:
        return self.steps.penalty_value()

    def loss_penalty(self) -> torch.Tensor | None:
        return self.steps.loss_penalty()

    def add_penalty_grad(self) -> None:
        self.steps.add_penalty_grad()

    def pre_step(self, lr: float) -> None:
        self.steps.pre_step(lr)

    def post_step(self, lr: float) -> None:
        self.steps.post_step(lr)

    def on_epoch_end(self, epoch: int, metrics: dict[str, float], model: nn.Module) -> str | None:
        return self.callbacks.on_epoch_end(epoch, metrics, model)

    def on_train_end(self, model: nn.Module) -> dict[str, Any] | None:
        return self.callbacks.on_train_end(model)

    def describe(self) -> dict[str, Any]:
        return {"name": "chain", "pieces": [p.describe() for p in self.pieces]}

    def state_dict(self) -> dict[str, Any]:
        return {"pieces": [p.state_dict() for p in self.pieces]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for piece, sub in zip(self.pieces, state.get("pieces", [])):
            piece.load_state_dict(sub)


# ----------------------------------------------------------------------------- descriptions

@dataclass(frozen=True)
class Regularizer:
    """Base of the frozen descriptions: :class:`Step`, :class:`Transform`, :class:`Callback`, :class:`Chain`.

    ``name`` is the piece's ``kind`` in a config; ``schema`` its pydantic config
    class (set by that class), which validates the fields when work starts.
    """

    name: ClassVar[str] = "regularizer"
    schema: ClassVar[Any] = None

    def validate(self) -> None:
        """Check the fields against the schema, once per piece (a :class:`ConfigError` names the field)."""
        if self.schema is not None and not getattr(self, "_validated", False):
            self.schema.validate_piece(self)
            mark_validated(self)

    def settings(self) -> dict[str, Any]:
        """The fields, as the config would write them (tuples as lists)."""
        return {f.name: _thaw(getattr(self, f.name)) for f in fields(self)}

    def bind(self, model: nn.Module, context: BindContext | None = None) -> Bound:
        raise NotImplementedError


def _thaw(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


@dataclass(frozen=True)
class Step(Regularizer):
    """A penalty or step on the parameters that ``mask`` selects; subclasses implement :meth:`_bind`."""

    mask: MaskSpec = "weights"

    def bind(self, model: nn.Module, context: BindContext | None = None) -> BoundStep:
        self.validate()
        bound = self._bind(select_parameters(model, self.mask), context or BindContext(), model)
        bound.name = self.name
        return bound

    def _bind(self, params: Params, context: BindContext, model: nn.Module) -> BoundStep:
        """Bind to the selected ``params``; ``model`` is there for pieces that read the layers (max-norm)."""
        return BoundStep(params)


@dataclass(frozen=True)
class Strength(Step):
    """A step with a strength ``alpha`` on the *mean* loss.

    ``convention="nielsen"`` reads ``alpha`` as Nielsen's λ, whose penalty is
    divided by the training-set size n: α = λ/n (seed 003, ch. 3).
    """

    alpha: float = 0.0
    convention: str = "reglab"

    def effective_alpha(self, n_train: int) -> float:
        """α on the mean loss: ``alpha`` itself, or λ/n under Nielsen's convention."""
        return self.alpha / n_train if self.convention == "nielsen" else self.alpha


@dataclass(frozen=True)
class Transform(Regularizer):
    """A regularizer that changes the network (dropout); subclasses implement :meth:`_wrap`."""

    def wrap_model(self, model: nn.Module, context: BindContext | None = None) -> nn.Module:
        """The network to train (the transform's layers inserted)."""
        self.validate()
        return self._wrap(model, context or BindContext())

    def _wrap(self, model: nn.Module, context: BindContext) -> nn.Module:
        raise NotImplementedError

    def bind(self, model: nn.Module, context: BindContext | None = None) -> BoundTransform:
        self.validate()
        return BoundTransform(self.name, self.settings())


@dataclass(frozen=True)
class Callback(Regularizer):
    """A regularizer that watches training from outside (early stopping); subclasses implement :meth:`_bind`."""

    def bind(self, model: nn.Module, context: BindContext | None = None) -> BoundCallback:
        self.validate()
        bound = self._bind(model, context or BindContext())
        bound.name = self.name
        return bound

    def _bind(self, model: nn.Module, context: BindContext) -> BoundCallback:
        return BoundCallback()


@dataclass(frozen=True)
class Chain(Regularizer):
    """Several regularizers applied in order; itself a regularizer."""

    pieces: tuple[Regularizer, ...] = field(default_factory=tuple)
    name: ClassVar[str] = "chain"

    def flat(self) -> list[Regularizer]:
        """The pieces, nested chains spliced in, in order."""
        return [q for p in self.pieces for q in (p.flat() if isinstance(p, Chain) else [p])]

    @property
    def steps(self) -> list[Step]:
        return [p for p in self.flat() if isinstance(p, Step)]

    @property
    def transforms(self) -> list[Transform]:
        return [p for p in self.flat() if isinstance(p, Transform)]

    @property
    def callbacks(self) -> list[Callback]:
        return [p for p in self.flat() if isinstance(p, Callback)]

    def wrap_model(self, model: nn.Module, context: BindContext | None = None) -> nn.Module:
        """Apply the model transforms, in order (the other pieces leave the network as it is)."""
        for piece in self.transforms:
            model = piece.wrap_model(model, context)
        return model

    def bind(self, model: nn.Module, context: BindContext | None = None) -> BoundChain:
        return BoundChain([p.bind(model, context) for p in self.flat()])


def as_chain(reg: Regularizer) -> Chain:
    """``reg`` itself if it is a chain, else a chain of one."""
    return reg if isinstance(reg, Chain) else Chain(pieces=(reg,))


def chain(*pieces: Regularizer) -> Chain:
    """Compose regularizers; order is application order (projections and prox steps last).

    >>> from reglab.regularize import L2, WeightDecay
    >>> reg = chain(L2(alpha=1e-4), WeightDecay(wd=1e-2))
    >>> [piece.name for piece in reg.pieces]
    ['l2', 'weight_decay']
    """
    for piece in pieces:
        if not isinstance(piece, Regularizer):
            raise ConfigError(f"chain takes regularizers, got {type(piece).__name__}")
    return Chain(pieces=tuple(pieces))
