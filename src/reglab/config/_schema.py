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

from typing import Annotated, Literal

from pydantic import model_validator

from reglab.config._data import DataConfig, DataSection, DigitsDataConfig
from reglab.config._sections import AugmentConfig, VerifyConfig
from reglab.regularize import RegularizerConfig
from reglab.regularize._schema import Field, Schema

__all__ = ["ModelConfig", "TrainConfig", "RunConfig"]

class ModelConfig(Schema):
    """The network: an MLP, linear regression or logistic regression."""

    kind: Literal["mlp", "linear", "logistic"] = "mlp"
    hidden: list[Annotated[int, Field(ge=1)]] = Field(default_factory=lambda: [64])
    activation: Literal["sigmoid", "tanh", "relu", "linear"] = "relu"
    features: Literal["raw", "playground", "poly"] = Field(
        "raw", description="input map: raw, the Playground map (x1, x2, x1², x2², x1·x2, sin x1, sin x2), or poly"
    )
    poly_degree: int = Field(1, ge=1, le=30, description="features='poly': powers x¹…x^d of a 1-D input")
    bias: bool = True
    init_seed: int | None = Field(None, ge=0, description="seed of the weight init (default: train.seed)")


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
    loss: Literal["auto", "cross_entropy", "half_mse", "mse"] = Field(
        "auto", description="auto: cross_entropy for classification, half_mse (½·mean squared error) for regression"
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
        return self
