"""The pydantic base every config schema of reglab shares, and tagged dispatch over a registry.

Why this module lives here: ``reglab.config`` (the whole run's schema) imports the
regularizers' config classes from ``reglab.regularize`` (each next to its piece, so
that adding a regularizer touches its module and the registry only), hence
``regularize`` must never import ``reglab.config``. What both need — the frozen,
strict base :class:`Schema`, the :class:`Dispatch` type that validates a table
by its tag (``kind`` of a regularizer, ``name`` of a data set) against a registry
that can grow, and :func:`describe_errors`, which turns a pydantic error into one
sentence per problem naming the dotted key — sits in this small module that
imports neither. (It would sit just as well at the top of the package; it has
no torch dependency.)

>>> class A(Schema):
...     kind: str = "a"
...     x: float = Field(1.0, ge=0.0)
>>> class Holder(Schema):
...     entries: list[Annotated[Schema, Dispatch({"a": A}, "kind")]] = []
>>> Holder.model_validate({"entries": [{"kind": "a", "x": 2}]}).entries
[A(kind='a', x=2.0)]
>>> try:
...     Holder.model_validate({"entries": [{"kind": "b"}]})
... except ValidationError as exc:
...     print(describe_errors(exc, Holder))
entries[0].kind: Input should be 'a' (got 'b')
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, GetCoreSchemaHandler, GetJsonSchemaHandler, ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError, core_schema

__all__ = ["Schema", "Dispatch", "describe_errors", "error_keys", "loc_to_key", "Field", "Annotated",
           "ValidationError"]


class Schema(BaseModel):
    """Frozen, no unknown keys, no ∞ or NaN unless a field says ``allow_inf_nan=True``."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def _quoted(values: Any) -> str:
    items = [repr(v) for v in values]
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " or " + items[-1]


class Dispatch:
    """Validate a table with the class its tag names in ``choices`` (a live mapping: it may grow).

    ``tag`` is the key that chooses (``"kind"``), ``default`` the tag when the table
    has none (``None``: the tag is required), ``alias`` maps further tag values to a
    key of ``choices`` (four toy data sets share one class). Unknown keys inside the
    chosen table are reported with that table's allowed keys; an unknown tag lists
    the allowed tags. Instances of a registered class pass unchanged.
    """

    def __init__(self, choices: Mapping[str, type[BaseModel]], tag: str, default: str | None = None,
                 names: Callable[[], list[str]] | None = None) -> None:
        self.choices = choices
        self.tag = tag
        self.default = default
        self.names = names or (lambda: list(self.choices))

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(
            self.validate,
            serialization=core_schema.plain_serializer_function_ser_schema(_dump, info_arg=True),
        )

    def __get_pydantic_json_schema__(self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler) -> Any:
        """One of the registered classes (those registered when the schema is made), by tag."""
        classes = list(dict.fromkeys(self.choices.values()))
        return {"oneOf": [handler(cls.__pydantic_core_schema__) for cls in classes]}

    def validate(self, value: Any) -> BaseModel:
        if isinstance(value, BaseModel) and type(value) in tuple(self.choices.values()):
            return value
        if not isinstance(value, Mapping):
            raise PydanticCustomError("model_type", "should be a table (key = value pairs)")
        key = value.get(self.tag, self.default)
        if key is None:
            _raise([{"type": "missing", "loc": (self.tag,), "input": dict(value)}])
        if key not in self.choices:
            _raise([{"type": "literal_error", "loc": (self.tag,), "input": key,
                     "ctx": {"expected": _quoted(self.names())}}])
        cls = self.choices[key]
        try:
            return cls.model_validate(dict(value))
        except ValidationError as exc:
            _raise([_with_allowed_keys(err, cls) for err in exc.errors()])


def _raise(errors: list[Any]) -> None:
    raise ValidationError.from_exception_data("config", errors)


def _with_allowed_keys(err: Any, cls: type[BaseModel]) -> InitErrorDetails:
    """Keep an error as it is, except that an unknown key says which keys the chosen class allows."""
    if err["type"] == "extra_forbidden":
        allowed = ", ".join(_fields_at(cls, tuple(err["loc"])))
        return {"type": PydanticCustomError("unknown_key", "unknown key; allowed keys here: {allowed}",
                                            {"allowed": allowed}),
                "loc": tuple(err["loc"]), "input": err.get("input")}
    details: InitErrorDetails = {"type": err["type"], "loc": tuple(err["loc"]), "input": err.get("input")}
    if "ctx" in err:
        details["ctx"] = err["ctx"]
    try:  # a built-in error type is re-raised as it is; a custom one (from a validator) keeps its message
        ValidationError.from_exception_data("check", [details])
    except ValidationError:
        pass
    except (KeyError, TypeError, ValueError):
        details = {"type": PydanticCustomError(err["type"], err["msg"]), "loc": tuple(err["loc"]),
                   "input": err.get("input")}
    return details


def _dump(value: BaseModel, info: Any) -> Any:
    return value.model_dump(mode=info.mode, exclude_none=info.exclude_none, exclude_defaults=info.exclude_defaults,
                            exclude_unset=info.exclude_unset, by_alias=bool(info.by_alias), round_trip=info.round_trip)


def _first_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _first_model(arg)
        if found is not None:
            return found
    return None


def _fields_at(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """The keys allowed in the table that holds ``loc[-1]``."""
    current: type[BaseModel] | None = model
    for part in loc[:-1]:
        if isinstance(part, int) or current is None:
            continue
        field = current.model_fields.get(part)
        current = _first_model(field.annotation) if field is not None else None
    return sorted(current.model_fields) if current is not None else []


def loc_to_key(loc: tuple[Any, ...]) -> str:
    """``("regularizer", 0, "alpha")`` → ``"regularizer[0].alpha"``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else ("." if out else "") + str(part)
    return out


def error_keys(exc: ValidationError, prefix: str = "") -> list[str]:
    """The dotted key of each error, in order (``regularizer[0].alpha``)."""
    return [loc_to_key(((prefix,) if prefix else ()) + tuple(err["loc"])) or "config" for err in exc.errors()]


def describe_errors(exc: ValidationError, model: type[BaseModel], prefix: str = "") -> str:
    """One clause per error, ``; ``-joined: the dotted key, what is wrong, what was given."""
    lines = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        key = loc_to_key(((prefix,) if prefix else ()) + loc) or "config"
        if err["type"] == "extra_forbidden":
            lines.append(f"unknown key '{key}'; allowed keys here: {', '.join(_fields_at(model, loc))}")
        elif err["type"] == "unknown_key":
            lines.append(f"unknown key '{key}'; {err['msg'].removeprefix('unknown key; ')}")
        elif err["type"] == "value_error":
            lines.append(str(err["msg"]).removeprefix("Value error, "))
        else:
            got = err.get("input")
            got_text = f" (got {got!r})" if not isinstance(got, dict | list) and err["type"] != "missing" else ""
            lines.append(f"{key}: {err['msg']}{got_text}")
    return "; ".join(lines)
