"""Base classes of the regularizers' config schemas: a ``kind`` tag, a ``mask``, ``build()``.

Each regularizer's config class sits in the regularizer's own module, next to the
piece it builds, and names that piece (``piece: ClassVar = L2``); the class then
is the piece's ``schema``, so a piece made from Python is validated by the very
same constraints as a config file (:meth:`PieceConfig.validate_piece`, called once
when the piece is bound). The config classes are gathered, by ``kind``, in
:mod:`reglab.regularize._registry`, which ``reglab.config`` reads.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal, Union

from pydantic import ValidationError, ValidatorFunctionWrapHandler, field_validator
from pydantic_core import PydanticCustomError

from reglab.errors import ConfigError
from reglab.regularize._base import Regularizer, mark_validated
from reglab.regularize._schema import Field, Schema, describe_errors

__all__ = ["PieceConfig", "MaskedConfig", "StrengthConfig", "MaskSpec", "MASK_HELP"]

MaskSpec = Union[Literal["weights", "all", "biases"], list[str]]
MASK_HELP = ("'weights' (Linear/Conv weights, the default), 'all', 'biases', "
             "or a list of parameter names / glob patterns")


def _freeze(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


class PieceConfig(Schema):
    """A ``[[regularizer]]`` entry: subclasses set ``kind`` (a one-value Literal) and ``piece``."""

    piece: ClassVar[type[Regularizer]]

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        piece = cls.__dict__.get("piece")
        if piece is not None:
            piece.schema = cls

    @classmethod
    def kind_name(cls) -> str:
        """The value of ``kind`` that selects this class."""
        values = getattr(cls.model_fields["kind"].annotation, "__args__", ())
        if len(values) != 1 or not isinstance(values[0], str):
            raise TypeError(f"{cls.__name__}.kind must be a Literal of one string")
        return values[0]

    def build(self) -> Regularizer:
        """The piece this entry describes (its fields were validated when the entry was made)."""
        return mark_validated(self.piece(**{k: _freeze(v) for k, v in self if k != "kind"}))

    @classmethod
    def validate_piece(cls, piece: Regularizer) -> None:
        """Check a piece's fields against this schema; a :class:`ConfigError` names the field."""
        try:
            cls.model_validate({"kind": piece.name, **piece.settings()})
        except ValidationError as exc:
            raise ConfigError(f"invalid {type(piece).__name__}: {describe_errors(exc, cls, prefix=piece.name)}") \
                from None


class MaskedConfig(PieceConfig):
    """A step's entry: it acts on the parameters that ``mask`` selects."""

    mask: MaskSpec = Field("weights", description=f"which parameters: {MASK_HELP}")

    @field_validator("mask", mode="wrap")
    @classmethod
    def _one_error_for_mask(cls, value: object, handler: ValidatorFunctionWrapHandler) -> object:
        # without this, the union reports one error per branch, with internal paths
        try:
            return handler(value)
        except ValidationError:
            raise PydanticCustomError("mask", f"must be {MASK_HELP}") from None


class StrengthConfig(MaskedConfig):
    """A step with a strength ``alpha`` on the mean loss and a ``convention`` to read it in."""

    alpha: float = Field(ge=0.0, description="strength on the mean loss (for L2: = torch weight_decay)")
    convention: Literal["reglab", "nielsen"] = Field(
        "reglab", description="nielsen: alpha is Nielsen's λ, whose penalty is divided by n: α = λ/n "
        "(n = training-set size)"
    )
