"""Pydantic models of a run config: ``[data]``, ``[model]``, ``[train]``, ``[[regularizer]]``.

Every model forbids unknown keys and is frozen, so a config is plain, validated
data; the resolved config (defaults filled in) is what is stored with each run
and hashed into its id.

Strength convention (see docs/conventions.md): ``alpha`` multiplies the penalty
added to the *mean* training loss C₀ — C = C₀ + (α/2)‖w‖² for L2 — which is
torch SGD's ``weight_decay`` and Goodfellow et al.'s α. Nielsen's λ (seed 003)
penalises C₀ + (λ/2n)‖w‖², n the training-set size, so α = λ/n;
``convention = "nielsen"`` on a regularizer converts.
"""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from reglab.config._sections import AugmentConfig, VerifyConfig

__all__ = [
    "DataConfig",
    "ModelConfig",
    "TrainConfig",
    "L2Config",
    "WeightDecayConfig",
    "L1Config",
    "L1ProxConfig",
    "L2BallConfig",
    "MaxNormConfig",
    "DropoutConfig",
    "EarlyStoppingConfig",
    "RegularizerConfig",
    "RunConfig",
]


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


DatasetName = Literal[
    "digits", "mnist", "mnist-full", "circle", "xor", "gauss", "spiral", "polynomial", "linear"
]


class DataConfig(_Frozen):
    """Which data set, how it is split, and the generator knobs of the synthetic ones."""

    name: DatasetName = "digits"
    seed: int = Field(0, ge=0, description="seed of the split (and of synthetic data)")
    val_fraction: float = Field(0.2, ge=0.0, lt=1.0, description="digits: share of the data for validation")
    test_fraction: float = Field(0.2, gt=0.0, lt=1.0, description="digits: share of the data for testing")
    data_dir: str | None = Field(None, description="mnist-full: folder with the four IDX files (else $REGLAB_DATA)")
    verify_checksums: bool = Field(True, description="mnist-full: check the files' MD5 against the published values")
    n_train: int | None = Field(None, ge=1, description="use only the first n_train training examples")
    # 2-D Playground sets
    n_points: int = Field(500, ge=10, le=100_000, description="toy sets: number of points")
    noise: float = Field(0.0, ge=0.0, le=50.0, description="toy sets: noise in percent (0-50)")
    train_ratio: float = Field(50.0, ge=10.0, le=90.0, description="toy sets: percent of points for training")
    # regression
    degree: int = Field(3, ge=0, le=30, description="polynomial: degree of the true polynomial")
    n: int = Field(200, ge=2, le=1_000_000, description="regression: number of training examples")
    n_test: int = Field(200, ge=1, le=1_000_000, description="regression: validation and test size each")
    dim: int = Field(10, ge=1, le=10_000, description="linear: number of features")
    spectrum: list[Annotated[float, Field(gt=0.0)]] | None = Field(
        None, description="linear: eigenvalues of H = XᵀX/n (default: logspace(-2, 1, dim))"
    )
    whiten: bool = Field(False, description="linear: axis-aligned (diagonal) Hessian, as after PCA whitening")
    noise_std: float = Field(0.1, ge=0.0, description="regression: std of the additive noise on y")

    @model_validator(mode="after")
    def _check(self) -> "DataConfig":
        if self.val_fraction + self.test_fraction >= 1.0:
            raise ValueError("data.val_fraction + data.test_fraction must be below 1")
        if self.spectrum is not None and len(self.spectrum) != self.dim:
            raise ValueError(f"data.spectrum has {len(self.spectrum)} values but data.dim is {self.dim}")
        return self


class ModelConfig(_Frozen):
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


class TrainConfig(_Frozen):
    """The optimisation loop."""

    epochs: int = Field(10, ge=0, le=1_000_000)
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


MaskSpec = Union[Literal["weights", "all", "biases"], list[str]]


class _RegBase(_Frozen):
    mask: MaskSpec = Field(
        "weights",
        description="which parameters: 'weights' (Linear/Conv weights, the default), 'all', 'biases', "
        "or a list of parameter names / glob patterns",
    )


class _StrengthBase(_RegBase):
    alpha: float = Field(ge=0.0, description="strength on the mean loss (for L2: = torch weight_decay)")
    convention: Literal["reglab", "nielsen"] = Field(
        "reglab", description="nielsen: alpha is Nielsen's λ, whose penalty is divided by n: α = λ/n "
        "(n = training-set size)"
    )


class L2Config(_StrengthBase):
    """L2 penalty in the loss: C = C₀ + (α/2)‖w‖² on the mean loss C₀."""

    kind: Literal["l2"]


class WeightDecayConfig(_RegBase):
    """Decoupled weight decay (AdamW style): w ← w − η·wd·w outside the gradient."""

    kind: Literal["weight_decay"]
    wd: float = Field(ge=0.0, description="decay per unit learning rate: each step multiplies w by (1 − η·wd)")


class L1Config(_StrengthBase):
    """L1 penalty in the loss: C = C₀ + α‖w‖₁ on the mean loss C₀, minimized by its subgradient."""

    kind: Literal["l1"]


class L1ProxConfig(_StrengthBase):
    """Proximal L1: after each step w ← sign(w)·max(|w| − ηα, 0) (threshold lr·α); exact zeros. Same α as ``l1``."""

    kind: Literal["l1_prox"]


class L2BallConfig(_RegBase):
    """Projection after each step onto the ball ‖w‖₂ ≤ radius (the masked tensors jointly)."""

    kind: Literal["l2_ball"]
    radius: float = Field(gt=0.0, description="k in ‖w‖₂ ≤ k; inf means no constraint")


class MaxNormConfig(_RegBase):
    """Max-norm: after each step every unit's incoming weight vector is rescaled to norm ≤ max_norm."""

    kind: Literal["max_norm"]
    max_norm: float = Field(gt=0.0, description="c in ‖w_unit‖₂ ≤ c (Srivastava et al.: 3-4); inf means none")


_Probability = Annotated[float, Field(ge=0.0, lt=1.0)]


class DropoutConfig(_Frozen):
    """Dropout after each hidden activation of the MLP (and optionally on the inputs)."""

    kind: Literal["dropout"]
    p: Union[_Probability, list[_Probability]] = Field(
        0.5, description="drop probability of hidden units: one number, or a list with one per hidden layer"
    )
    input_p: _Probability = Field(0.0, description="drop probability of the input units")
    mode: Literal["inverted", "halving"] = Field(
        "inverted", description="inverted: per-example masks scaled by 1/(1-p); "
        "halving: Nielsen's one mask per mini-batch, activations × (1-p) at test time"
    )

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


class EarlyStoppingConfig(_Frozen):
    """Stop when the validation metric has not improved for ``patience`` epochs; restore the best weights."""

    kind: Literal["early_stopping"]
    monitor: Literal["val_loss", "val_error"] = "val_loss"
    patience: int = Field(5, ge=0, description="epochs without improvement before stopping")
    min_delta: float = Field(0.0, ge=0.0, description="an improvement must lower the metric by more than this")
    mode: Literal["min"] = "min"
    restore_best: bool = Field(True, description="load the weights of the best epoch when training ends")


RegularizerConfig = Annotated[
    Union[L2Config, WeightDecayConfig, L1Config, L1ProxConfig, L2BallConfig, MaxNormConfig, DropoutConfig,
          EarlyStoppingConfig],
    Field(discriminator="kind"),
]


class RunConfig(_Frozen):
    """A whole run: data, model, training loop and an ordered list of regularizers."""

    name: str | None = None
    data: DataConfig = Field(default_factory=DataConfig)
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
