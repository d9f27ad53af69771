"""Pydantic models of a run config: ``[data]``, ``[model]``, ``[train]``, ``[[regularizer]]``.

Every model forbids unknown keys, ∞ and NaN (unless a field allows ∞: a radius)
and is frozen, so a config is plain, validated data; the resolved config
(defaults filled in) is what is stored with each run and hashed into its id.

Strength convention (see docs/conventions.md): ``alpha`` multiplies the penalty
added to the *mean* training loss C₀ — C = C₀ + (α/2)‖w‖² for L2 — which is
torch SGD's ``weight_decay`` and Goodfellow et al.'s α. Nielsen's λ (seed 003)
penalises C₀ + (λ/2n)‖w‖², n the training-set size, so α = λ/n;
``convention = "nielsen"`` on a regularizer converts.

Layering: each regularizer's config class lives next to its piece in
``reglab.regularize`` and is re-exported here; ``[[regularizer]]`` entries are
validated by ``RegularizerConfig``, which dispatches on ``kind`` through the
registry ``reglab.regularize._registry`` (so a newly registered kind is accepted
without touching this module). ``reglab.regularize`` never imports
``reglab.config``; the shared pydantic base is ``reglab.regularize._schema``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import SerializerFunctionWrapHandler, ValidationInfo, field_validator, model_serializer, model_validator

from reglab.config._data import DataSection, DigitsDataConfig
from reglab.config._sections import AugmentConfig, VerifyConfig
from reglab.regularize import RegularizerConfig
from reglab.regularize._schema import Field, Schema

__all__ = ["ModelConfig", "TrainConfig", "RunConfig"]

IMAGE_DATASETS = ("digits", "mnist", "mnist-full")
PLAYGROUND_FEATURES = ("x1", "x2", "x1sq", "x2sq", "x1x2", "sinx1", "sinx2")
"""The names of ``model.feature_names``, in the order of ``reglab.models.PlaygroundFeatures``."""


class ModelConfig(Schema):
    """The network: an MLP, linear or logistic regression, a LeNet-style CNN, or the user's own module.

    ``kind = "cnn"`` (image data sets only): blocks of a 2-D convolution with
    ``channels[i]`` filters of ``kernel_size``×``kernel_size`` (no padding), the
    activation and ``pool``×``pool`` max-pooling, then dense layers of sizes
    ``hidden`` and the output layer (Nielsen ch. 6). ``kind = "python"``:
    ``factory = "package.module:function"`` is called as
    ``function(input_features, outputs)`` and must return a ``torch.nn.Module``.
    ``init`` chooses how weights and biases are drawn (from ``init_seed``, else
    ``train.seed``): ``default`` is torch's own, ``normal`` N(0, 1), ``nielsen``
    N(0, 1/fan_in) weights with N(0, 1) biases, ``xavier`` Glorot-uniform,
    ``kaiming`` N(0, 2/fan_in) (see :mod:`reglab.models._init`).
    ``feature_names`` (with ``features = "playground"`` only) keeps a subset of the
    Playground's seven inputs, in their canonical order whatever the order written;
    unset, all seven. An unset ``feature_names`` is left out of the dump, so the
    hash of a config that does not set it is what it was before the key existed.
    """

    kind: Literal["mlp", "linear", "logistic", "cnn", "python"] = "mlp"
    hidden: list[Annotated[int, Field(ge=1)]] = Field(
        default_factory=lambda: [64], description="hidden layer sizes (mlp), dense layers after the blocks (cnn)")
    activation: Literal["sigmoid", "tanh", "relu", "linear"] = "relu"
    features: Literal["raw", "playground", "poly"] = Field(
        "raw", description="input map: raw, the Playground map (x1, x2, x1², x2², x1·x2, sin x1, sin x2), or poly"
    )
    feature_names: list[Literal["x1", "x2", "x1sq", "x2sq", "x1x2", "sinx1", "sinx2"]] | None = Field(
        None, description="features='playground': the inputs kept (default all seven), in canonical order")
    poly_degree: int = Field(1, ge=1, le=30, description="features='poly': powers x¹…x^d of a 1-D input")
    bias: bool = True
    init: Literal["default", "normal", "nielsen", "xavier", "kaiming"] = Field(
        "default", description="weight init: torch's default, N(0,1), N(0,1/fan_in), Glorot-uniform, He-normal")
    init_seed: int | None = Field(None, ge=0, description="seed of the weight init (default: train.seed)")
    channels: list[Annotated[int, Field(ge=1)]] | None = Field(
        None, description="cnn: filters per conv–pool block (default [20])")
    kernel_size: int | None = Field(None, ge=1, le=64, description="cnn: side of the square kernels (default 5)")
    pool: int | None = Field(None, ge=1, le=16, description="cnn: side of the max-pooling window (default 2)")
    factory: str | None = Field(
        None, pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$",
        description="python: 'package.module:function' returning an nn.Module, called as function(n_in, n_out)")

    @model_validator(mode="before")
    @classmethod
    def _cnn_defaults(cls, data: Any) -> Any:
        """Fill in the CNN's defaults (Nielsen's first ch. 6 net) so the resolved config shows them."""
        if isinstance(data, dict) and data.get("kind") == "cnn":
            data = {"channels": [20], "kernel_size": 5, "pool": 2, **data}
        return data

    @field_validator("feature_names")
    @classmethod
    def _feature_subset(cls, value: list[str] | None, info: ValidationInfo) -> list[str] | None:
        if value is None:
            return None
        features = info.data.get("features")
        if features != "playground":
            raise ValueError(f"model.feature_names is for model.features = 'playground' (features is {features!r})")
        if not value:
            raise ValueError(f"model.feature_names: name at least one of {', '.join(PLAYGROUND_FEATURES)} "
                             "(or leave it out for all seven)")
        repeated = sorted({name for name in value if value.count(name) > 1}, key=PLAYGROUND_FEATURES.index)
        if repeated:
            raise ValueError(f"model.feature_names names {', '.join(repeated)} more than once; "
                             f"each of {', '.join(PLAYGROUND_FEATURES)} at most once")
        return [name for name in PLAYGROUND_FEATURES if name in value]

    @model_serializer(mode="wrap")
    def _dump(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """Leave an unset ``feature_names`` out, so configs without it keep their hash."""
        data = handler(self)
        if self.feature_names is None:
            data.pop("feature_names", None)
        return data

    @model_validator(mode="after")
    def _check(self) -> "ModelConfig":
        cnn_only = [k for k in ("channels", "kernel_size", "pool") if getattr(self, k) is not None]
        if cnn_only and self.kind != "cnn":
            raise ValueError(f"model.{cnn_only[0]} is for model.kind = 'cnn' (kind is {self.kind!r})")
        if (self.factory is None) == (self.kind == "python"):
            raise ValueError("model.kind = 'python' needs model.factory = 'package.module:function'"
                             if self.factory is None else
                             f"model.factory is for model.kind = 'python' (kind is {self.kind!r})")
        if self.kind in ("cnn", "python"):
            if self.features != "raw":
                raise ValueError(f"model.features = {self.features!r} is for mlp and linear models, "
                                 f"not model.kind = {self.kind!r}")
            if not self.bias:
                raise ValueError(f"model.bias = false is for mlp and linear models, not model.kind = {self.kind!r}")
        return self


class TrainConfig(Schema):
    """The optimisation loop."""

    epochs: int = Field(10, ge=1, le=1_000_000)
    seed: int = Field(0, ge=0)
    batch_size: int = Field(64, ge=1)
    lr: float = Field(0.1, gt=0.0)
    optimizer: Literal["sgd", "adam", "adamw"] = "sgd"
    momentum: float = Field(0.0, ge=0.0, lt=1.0)
    nesterov: bool = False
    betas: tuple[Annotated[float, Field(ge=0.0, lt=1.0)], Annotated[float, Field(ge=0.0, lt=1.0)]] = (0.9, 0.999)
    loss: Literal["auto", "cross_entropy", "sigmoid_cross_entropy", "quadratic", "half_mse", "mse"] = Field(
        "auto", description="auto: cross_entropy (softmax) for classification, half_mse (½·mean squared error) for "
        "regression; sigmoid_cross_entropy and quadratic put sigmoid units on the outputs (Nielsen's costs, "
        "notes eq. 21), each a mean over examples"
    )
    device: Literal["auto", "cpu", "cuda"] = "auto"
    dtype: Literal["float32", "float64"] = "float32"
    checkpoint: bool = True
    checkpoint_every: int = Field(1, ge=1, description="epochs between checkpoints (the last epoch is always saved)")

    @model_validator(mode="after")
    def _check(self) -> "TrainConfig":
        if self.nesterov and (self.optimizer != "sgd" or self.momentum == 0.0):
            raise ValueError("train.nesterov needs train.optimizer = 'sgd' and train.momentum > 0")
        return self


class RunConfig(Schema):
    """A whole run: data, model, training loop and an ordered list of regularizers."""

    name: str | None = None
    data: DataSection = Field(default_factory=DigitsDataConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    regularizer: list[RegularizerConfig] = Field(default_factory=list)
    augment: AugmentConfig | None = None
    verify: VerifyConfig | None = None

    @model_validator(mode="after")
    def _check(self) -> "RunConfig":
        if self.train.optimizer == "adamw" and not any(r.kind == "weight_decay" for r in self.regularizer):
            raise ValueError(
                "train.optimizer = 'adamw' is Adam plus decoupled decay: add a [[regularizer]] "
                "with kind = 'weight_decay' (or use optimizer = 'adam')"
            )
        if self.model.kind == "cnn" and self.data.name not in IMAGE_DATASETS:
            raise ValueError(f"model.kind = 'cnn' needs an image data set ({', '.join(IMAGE_DATASETS)}); "
                             f"data.name = {self.data.name!r} is not one")
        return self
