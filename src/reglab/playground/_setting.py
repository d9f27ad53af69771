"""A playground setting: every control of the page, validated, and the run config it stands for.

The setting is what the page's URL holds (``?dataset=xor&noise=40&features=x1,x2,x1x2&…``),
so a link reproduces a run: the same setting and seed give the same data, the same
initial weights and the same numbers. Field names are the page's ``data-testid``
names with ``-`` written ``_`` (``train-ratio`` → ``train_ratio``); both spellings are
accepted. Lists may be given as comma-separated strings, as in the URL.

Conventions: ``rate`` is the Playground's "regularization rate"; for L2, L1 and
L1-prox it is reglab's α on the *mean* loss (``reglab.regularize.conventions``,
``"playground"``), for weight decay it is ``wd`` (w ← (1 − η·wd)·w before each step;
with plain SGD the same as L2 with α = wd), for dropout the probability p of
dropping a hidden unit. ``noise`` and ``train_ratio`` are percentages, as in the
Playground and ``reglab.data``.

>>> s = Setting.from_query({"dataset": "xor", "features": "x1,x2,x1x2", "hidden-layers": "", "rate": "0.3",
...                         "regularization": "l2"})
>>> s.features, s.hidden_layers, s.rate
(('x1', 'x2', 'x1x2'), (), 0.3)
>>> s.run_config(epochs=5).regularizer[0].alpha
0.3
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from reglab.config import RunConfig, parse_config
from reglab.errors import ConfigError

__all__ = ["Setting", "FEATURES", "FEATURE_LABELS", "REGULARIZATIONS", "LIVE_FIELDS", "CAPS", "setting_error"]

FEATURES = ("x1", "x2", "x1sq", "x2sq", "x1x2", "sinx1", "sinx2")
"""URL names of the Playground's seven inputs, in the order of ``reglab.models.PlaygroundFeatures``
(the names ``[model] feature_names`` takes)."""
FEATURE_LABELS = {"x1": "x₁", "x2": "x₂", "x1sq": "x₁²", "x2sq": "x₂²", "x1x2": "x₁x₂",
                  "sinx1": "sin x₁", "sinx2": "sin x₂"}
REGULARIZATIONS = {"none": "none", "l1": "L1", "l1-prox": "L1-prox", "l2": "L2",
                   "weight-decay": "weight decay", "dropout": "dropout"}
"""URL value → label of the regularization control."""
LIVE_FIELDS = frozenset({"regularization", "rate", "learning_rate"})
"""Fields a running session changes without a reset (training goes on from the current weights)."""
CAPS = {"points": 2000, "hidden_units": 16, "hidden_layers": 6, "batch_size": 1000, "rate": 10.0,
        "learning_rate": 10.0, "epochs": 20000, "sessions": 20}
"""Safety caps of the server (points per data set, units per layer, layers, …, concurrent sessions)."""

Activation = Literal["tanh", "relu", "sigmoid", "linear"]
Dataset = Literal["circle", "xor", "gauss", "spiral"]
Regularization = Literal["none", "l1", "l1-prox", "l2", "weight-decay", "dropout"]


def _number(value: float) -> str:
    """Short when exact (0.3, 50), else every digit: the link must give back the same number."""
    short = f"{value:g}"
    return short if float(short) == value else repr(value)


def _split(value: Any) -> Any:
    if isinstance(value, str):
        return tuple(v.strip() for v in value.split(",") if v.strip())
    return value


class Setting(BaseModel):
    """Every control of the playground page (see the module docstring for units and conventions)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    dataset: Dataset = "circle"
    noise: float = Field(0.0, ge=0.0, le=50.0, allow_inf_nan=False)
    train_ratio: float = Field(50.0, ge=10.0, le=90.0, allow_inf_nan=False)
    points: int = Field(500, ge=20, le=CAPS["points"])
    batch_size: int = Field(10, ge=1, le=CAPS["batch_size"])
    features: tuple[Literal[FEATURES], ...] = Field(("x1", "x2"), min_length=1)  # type: ignore[valid-type]
    hidden_layers: tuple[int, ...] = Field((4, 2), max_length=CAPS["hidden_layers"])
    activation: Activation = "tanh"
    regularization: Regularization = "none"
    rate: float = Field(0.0, ge=0.0, le=CAPS["rate"], allow_inf_nan=False)
    learning_rate: float = Field(0.03, gt=0.0, le=CAPS["learning_rate"], allow_inf_nan=False)
    seed: int = Field(0, ge=0, le=2**31 - 1)

    @field_validator("features", "hidden_layers", mode="before")
    @classmethod
    def _lists_from_strings(cls, value: Any) -> Any:
        return _split(value)

    @field_validator("features")
    @classmethod
    def _features_once_in_order(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(f for f in FEATURES if f in value)

    @field_validator("hidden_layers")
    @classmethod
    def _units(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        for units in value:
            if not 1 <= units <= CAPS["hidden_units"]:
                raise ValueError(f"each layer needs 1 to {CAPS['hidden_units']} units, got {units}")
        return value

    @model_validator(mode="after")
    def _dropout_below_one(self) -> "Setting":
        if self.regularization == "dropout" and self.rate >= 1.0:
            raise ValueError("rate: dropout's rate is the probability of dropping a unit, below 1")
        if self.regularization == "dropout" and not self.hidden_layers:
            raise ValueError("regularization: dropout needs at least one hidden layer")
        return self

    @classmethod
    def from_query(cls, query: dict[str, Any]) -> "Setting":
        """Validate a URL query or JSON body (``-`` or ``_`` in names); a bad value is a ConfigError naming it."""
        data = {str(k).replace("-", "_"): v for k, v in query.items()}
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise setting_error(exc) from None

    def to_query(self) -> dict[str, str]:
        """The setting as the URL writes it (``from_query`` reads it back equal)."""
        out = {}
        for name, value in self.model_dump().items():
            text = ",".join(map(str, value)) if isinstance(value, tuple) else _number(value) if isinstance(
                value, float) else str(value)
            out[name.replace("_", "-")] = text
        return out

    def with_changes(self, changes: dict[str, Any]) -> "Setting":
        """This setting with some fields changed (validated as a whole)."""
        return Setting.from_query({**self.model_dump(), **{k.replace("-", "_"): v for k, v in changes.items()}})

    def model_features(self) -> dict[str, Any]:
        """The ``[model]`` keys of the chosen inputs: ``raw`` for x1, x2, else the Playground map and a subset.

        >>> Setting(features=("x1", "x2")).model_features(), Setting(features=FEATURES).model_features()
        ({'features': 'raw'}, {'features': 'playground'})
        >>> Setting(features=("x2", "sinx1")).model_features()
        {'features': 'playground', 'feature_names': ['x2', 'sinx1']}
        """
        if self.features == ("x1", "x2"):
            return {"features": "raw"}
        if self.features == FEATURES:
            return {"features": "playground"}
        return {"features": "playground", "feature_names": list(self.features)}

    def regularizer_entries(self) -> list[dict[str, Any]]:
        """The ``[[regularizer]]`` list this setting's regularization and rate stand for."""
        kind, rate = self.regularization, self.rate
        if kind == "none" or rate == 0.0:
            return []
        if kind == "weight-decay":
            return [{"kind": "weight_decay", "wd": rate}]
        if kind == "dropout":
            return [{"kind": "dropout", "p": rate}]
        return [{"kind": kind.replace("-", "_"), "alpha": rate}]

    def l2_alpha(self) -> float:
        """The α of the shrink factors λ/(λ + α): L2's α, or weight decay's wd (equal under plain SGD); else 0."""
        return self.rate if self.regularization in ("l2", "weight-decay") else 0.0

    def run_config(self, epochs: int = 1) -> RunConfig:
        """The ``reglab train`` config of this setting (with ``epochs`` epochs), on the CPU.

        The session trains a Trainer built from exactly this config, so the exported
        config reproduces the run for any choice of inputs.
        """
        model = {"kind": "mlp", "hidden": list(self.hidden_layers), "activation": self.activation,
                 **self.model_features()}
        if not self.hidden_layers:
            model = {"kind": "logistic", **self.model_features()}
        raw = {
            "name": "playground " + " ".join(f"{k}={v}" for k, v in self.to_query().items()),
            "data": {"name": self.dataset, "n_points": self.points, "noise": self.noise,
                     "train_ratio": self.train_ratio, "seed": self.seed},
            "model": model,
            "train": {"epochs": max(1, min(epochs, CAPS["epochs"])), "seed": self.seed,
                      "batch_size": self.batch_size, "lr": self.learning_rate, "device": "cpu"},
            "regularizer": self.regularizer_entries(),
        }
        return parse_config(raw)


def setting_error(exc: ValidationError) -> ConfigError:
    """A ConfigError naming the first bad field (URL spelling) and what it allows."""
    first = exc.errors()[0]
    loc = [str(part) for part in first["loc"] if not isinstance(part, int)]
    message = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        allowed = ", ".join(n.replace("_", "-") for n in Setting.model_fields)
        message = f"unknown setting; the settings are {allowed}"
    if not loc and ":" in message:  # a rule over several fields names the one at fault first
        head, _, message = message.partition(": ")
        loc = [head]
    name = loc[0].replace("_", "-") if loc else None
    got = first.get("input")
    shown = f" (got {got!r})" if loc and not isinstance(got, dict) and first["type"] != "extra_forbidden" else ""
    return ConfigError(f"{name or 'setting'}: {message}{shown}", field=name)
