"""Dropout: randomly delete hidden units while training (Hinton et al. 2012; Srivastava et al. 2014).

:class:`Dropout` is a regularizer that changes the network: ``wrap_model`` inserts
a :class:`DropoutLayer` after each hidden activation of a reglab MLP (and, with
``input_p > 0``, before the first Linear layer). Each unit is dropped with
probability p (kept with probability 1 − p). Two modes:

**inverted** (the modern default; torch's ``nn.Dropout``): one mask per example,
kept units scaled by 1/(1 − p) while training, identity at evaluation::

    train: h̃ = m ⊙ h / (1 − p),  m ~ Bernoulli(1 − p) per example and unit
    eval:  h̃ = h

**halving** (the procedure of the lecture notes, Nielsen ch. 3): for each
mini-batch delete units (half of them for p = ½) with ONE mask shared by all
examples of the mini-batch, no scaling while training; at test time "the
outgoing weights are halved". Here the layer multiplies the activations by
(1 − p) at evaluation instead, which is the same network: the next layer computes
W·((1 − p)·h) + b = ((1 − p)·W)·h + b, i.e. its weights (not its bias) scaled by
(1 − p). The stored weights stay the ones trained::

    train: h̃ = m ⊙ h,         m ~ Bernoulli(1 − p) per unit, shared by the batch
    eval:  h̃ = (1 − p)·h

In both modes E[h̃ at train time] = h̃ at eval time. Nielsen deletes exactly half
of the units; here each unit is deleted independently with probability p, which
has the same expectation. Masks are drawn from the run's explicit
``torch.Generator`` (on the generator's device, then moved); a layer in training
mode without a generator is an error, never a silent global RNG.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Annotated, ClassVar, Literal, Union, get_args

import torch
from pydantic import ValidationError, ValidatorFunctionWrapHandler, field_validator
from pydantic_core import PydanticCustomError
from torch import nn

from reglab.errors import ConfigError
from reglab.regularize._base import BindContext, Transform
from reglab.regularize._config import PieceConfig
from reglab.regularize._schema import Field, Schema, describe_errors

__all__ = ["Dropout", "DropoutLayer", "DropoutConfig", "DROPOUT_MODES"]

DropoutMode = Literal["inverted", "halving"]
DROPOUT_MODES = get_args(DropoutMode)
_Probability = Annotated[float, Field(ge=0.0, lt=1.0)]


class _LayerSettings(Schema):
    p: _Probability
    mode: DropoutMode


class DropoutLayer(nn.Module):
    """Drop units with probability ``p`` while training; see the module docstring for the modes.

    >>> layer = DropoutLayer(0.5, "halving", torch.Generator().manual_seed(0))
    >>> layer.eval()(torch.ones(1, 3))
    tensor([[0.5000, 0.5000, 0.5000]])
    """

    def __init__(self, p: float, mode: str = "inverted", generator: torch.Generator | None = None) -> None:
        super().__init__()
        try:
            _LayerSettings(p=p, mode=mode)
        except ValidationError as exc:
            raise ConfigError(f"invalid DropoutLayer: {describe_errors(exc, _LayerSettings)}") from None
        self.p = p
        self.mode = mode
        self.generator = generator

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.p == 0.0:
            return x
        if not self.training:
            return x * (1.0 - self.p) if self.mode == "halving" else x
        return x * self._mask(x)

    def _mask(self, x: torch.Tensor) -> torch.Tensor:
        if self.generator is None:
            raise RuntimeError("DropoutLayer in training mode needs a torch.Generator (pass generator=...)")
        shape = (1, *x.shape[1:]) if self.mode == "halving" else x.shape
        keep = 1.0 - self.p
        draws = torch.rand(shape, generator=self.generator, device=self.generator.device, dtype=x.dtype)
        mask = (draws < keep).to(x.dtype)
        if self.mode == "inverted":
            mask = mask / keep
        return mask.to(x.device)

    def extra_repr(self) -> str:
        return f"p={self.p}, mode={self.mode!r}"


def _hidden_slots(model: nn.Sequential) -> tuple[int, list[int]]:
    """Index of the first Linear, and the index after which each hidden layer's output leaves."""
    modules = list(model)
    linear = [i for i, m in enumerate(modules) if isinstance(m, nn.Linear)]
    if not linear:
        raise ConfigError("dropout needs an nn.Sequential MLP with Linear layers (Flatten, Linear, activation, …)")
    slots = []
    for i in linear[:-1]:
        follows = modules[i + 1] if i + 1 < len(modules) else None
        slots.append(i + 1 if follows is not None and not isinstance(follows, nn.Linear) else i)
    return linear[0], slots


def _per_layer(p: float | tuple[float, ...], n_hidden: int) -> list[float]:
    if isinstance(p, tuple):
        if len(p) != n_hidden:
            layers = f"{n_hidden} hidden layer{'s' if n_hidden != 1 else ''}"
            raise ConfigError(f"dropout p has {len(p)} values but the model has {layers} (one p per hidden layer)")
        return list(p)
    return [p] * n_hidden


@dataclass(frozen=True)
class Dropout(Transform):
    """Insert dropout after each hidden activation (``p``: one float, or one per hidden layer).

    ``input_p`` drops input units (Srivastava et al. suggest 0.2; default 0).
    ``mode`` is ``"inverted"`` (per-example masks, 1/(1 − p) scaling while training)
    or ``"halving"`` (Nielsen: one mask per mini-batch, activations × (1 − p) at
    test time). Layers with probability 0 are not inserted. Parameter names are
    unchanged (the new layers get names such as ``dropout1``). A model transform:
    it acts on units, not on chosen parameters, so it has no ``mask``.

    >>> from reglab.models import mlp
    >>> ctx = BindContext(generator=torch.Generator().manual_seed(0))
    >>> net = Dropout(p=0.5, mode="halving").wrap_model(mlp([4, 8, 2]), ctx)
    >>> [name for name, _ in net.named_children()]
    ['0', '1', '2', 'dropout1', '3']

    References: Nielsen, ch. 3 ("Dropout"); Hinton et al. 2012, arXiv:1207.0580;
    Srivastava et al., JMLR 15 (2014); Goodfellow et al. 2016, §7.12.
    """

    p: float | tuple[float, ...] = 0.5
    input_p: float = 0.0
    mode: str = "inverted"
    name = "dropout"

    def _wrap(self, model: nn.Module, context: BindContext) -> nn.Module:
        if not isinstance(model, nn.Sequential):
            raise ConfigError(f"dropout needs an nn.Sequential MLP, got {type(model).__name__}")
        if any(isinstance(m, DropoutLayer) for m in model):
            raise ConfigError("the model already has dropout layers; use one dropout regularizer")
        generator = context.generator
        first, slots = _hidden_slots(model)
        after = dict(zip(slots, _per_layer(self.p, len(slots))))
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        for i, (key, module) in enumerate(model.named_children()):
            if i == first and self.input_p > 0.0:
                layers["dropout_in"] = DropoutLayer(self.input_p, self.mode, generator)
            layers[key] = module
            if after.get(i, 0.0) > 0.0:
                layers[f"dropout{slots.index(i) + 1}"] = DropoutLayer(after[i], self.mode, generator)
        return nn.Sequential(layers)


class DropoutConfig(PieceConfig):
    """Dropout after each hidden activation of the MLP (and optionally on the inputs)."""

    kind: Literal["dropout"]
    p: Union[_Probability, list[_Probability]] = Field(
        0.5, description="drop probability of hidden units: one number, or a list with one per hidden layer"
    )
    input_p: _Probability = Field(0.0, description="drop probability of the input units")
    mode: DropoutMode = Field(
        "inverted", description="inverted: per-example masks scaled by 1/(1-p); "
        "halving: Nielsen's one mask per mini-batch, activations × (1-p) at test time"
    )
    piece: ClassVar[type] = Dropout

    @field_validator("p", mode="wrap")
    @classmethod
    def _one_error_for_p(cls, value: object, handler: ValidatorFunctionWrapHandler) -> object:
        # without this, the union reports one error per branch ("p.float", "p.list[...]")
        try:
            return handler(value)
        except ValidationError:
            raise PydanticCustomError(
                "dropout_p", "must be a number in [0, 1) or a list of such numbers, one per hidden layer"
            ) from None
