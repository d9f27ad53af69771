"""``[data]``: one config class per data-set family, chosen by ``name``.

A knob belongs to the family that uses it, so ``noise = 10`` with
``name = "digits"`` is an error naming ``data.noise`` (and listing the keys
digits has) instead of being silently ignored. ``name``, ``seed`` and ``n_train``
are common to every family.

:class:`DataConfig` is the base of the families and chooses one itself:
``DataConfig(name="circle", noise=10.0)`` and ``DataConfig.model_validate({...})``
return a :class:`ToyDataConfig`; without a name the family is ``digits``.

>>> type(DataConfig(name="circle", noise=10.0)).__name__
'ToyDataConfig'
>>> DataConfig().name
'digits'
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import TypeAdapter, model_validator

from reglab.regularize._schema import Dispatch, Field, Schema

__all__ = ["DataConfig", "DigitsDataConfig", "MnistDataConfig", "MnistFullDataConfig", "ToyDataConfig",
           "PolynomialDataConfig", "LinearDataConfig", "DATA_FAMILIES", "DataSection", "TOY_NAMES"]

TOY_NAMES = ("circle", "xor", "gauss", "spiral")
DatasetName = Literal["digits", "mnist", "mnist-full", "circle", "xor", "gauss", "spiral", "polynomial", "linear"]


class DataConfig(Schema):
    """Which data set (``name``), the seed of its split, and how many training examples to use.

    The base of the per-family classes; constructing or validating ``DataConfig``
    itself returns the class of the family that ``name`` names.
    """

    name: DatasetName = "digits"
    seed: int = Field(0, ge=0, description="seed of the split (and of synthetic data)")
    n_train: int | None = Field(None, ge=1, description="use only the first n_train training examples")

    def __new__(cls, *args: Any, **data: Any) -> Any:
        if cls is DataConfig:
            cls = DATA_FAMILIES.get(data.get("name", "digits"), DataConfig)
        return super().__new__(cls)

    @classmethod
    def model_construct(cls, _fields_set: set[str] | None = None, **values: Any) -> Any:
        if cls is DataConfig:
            return DATA_FAMILIES.get(values.get("name", "digits"), DigitsDataConfig).model_construct(
                _fields_set, **values)
        return super().model_construct(_fields_set, **values)

    @classmethod
    def model_validate(cls, obj: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        if cls is DataConfig:
            return _ADAPTER.validate_python(obj)
        return super().model_validate(obj, **kwargs)


class DigitsDataConfig(DataConfig):
    """scikit-learn's 8×8 digits, split at random into train / validation / test."""

    name: Literal["digits"] = "digits"
    val_fraction: float = Field(0.2, ge=0.0, lt=1.0, description="share of the data for validation")
    test_fraction: float = Field(0.2, gt=0.0, lt=1.0, description="share of the data for testing")

    @model_validator(mode="after")
    def _check(self) -> "DigitsDataConfig":
        if self.val_fraction + self.test_fraction >= 1.0:
            raise ValueError("data.val_fraction + data.test_fraction must be below 1")
        return self


class MnistDataConfig(DataConfig):
    """The MNIST sample bundled with reglab (fixed 5,000 / 1,000 / 1,000 split)."""

    name: Literal["mnist"] = "mnist"


class MnistFullDataConfig(DataConfig):
    """Standard MNIST from the four IDX files in a folder."""

    name: Literal["mnist-full"] = "mnist-full"
    data_dir: str | None = Field(None, description="folder with the four IDX files (else $REGLAB_DATA)")
    verify_checksums: bool = Field(True, description="check the files' MD5 against the published values")


class ToyDataConfig(DataConfig):
    """The 2-D sets of the TensorFlow Playground: circle, xor, gauss, spiral."""

    name: Literal["circle", "xor", "gauss", "spiral"]
    n_points: int = Field(500, ge=10, le=100_000, description="number of points")
    noise: float = Field(0.0, ge=0.0, le=50.0, description="noise in percent (0-50)")
    train_ratio: float = Field(50.0, ge=10.0, le=90.0, description="percent of points for training")


class _RegressionDataConfig(DataConfig):
    n: int = Field(200, ge=2, le=1_000_000, description="number of training examples")
    n_test: int = Field(200, ge=1, le=1_000_000, description="validation and test size each")
    noise_std: float = Field(0.1, ge=0.0, description="std of the additive noise on y")


class PolynomialDataConfig(_RegressionDataConfig):
    """1-D polynomial regression: y = p(x) + noise."""

    name: Literal["polynomial"] = "polynomial"
    degree: int = Field(3, ge=0, le=30, description="degree of the true polynomial")


class LinearDataConfig(_RegressionDataConfig):
    """Least squares with a chosen Hessian spectrum."""

    name: Literal["linear"] = "linear"
    dim: int = Field(10, ge=1, le=10_000, description="number of features")
    spectrum: list[Annotated[float, Field(gt=0.0)]] | None = Field(
        None, description="eigenvalues of H = XᵀX/n (default: logspace(-2, 1, dim))"
    )
    whiten: bool = Field(False, description="axis-aligned (diagonal) Hessian, as after PCA whitening")

    @model_validator(mode="after")
    def _check(self) -> "LinearDataConfig":
        if self.spectrum is not None and len(self.spectrum) != self.dim:
            raise ValueError(f"data.spectrum has {len(self.spectrum)} values but data.dim is {self.dim}")
        return self


DATA_FAMILIES: dict[str, type[DataConfig]] = {
    "digits": DigitsDataConfig,
    "mnist": MnistDataConfig,
    "mnist-full": MnistFullDataConfig,
    **{name: ToyDataConfig for name in TOY_NAMES},
    "polynomial": PolynomialDataConfig,
    "linear": LinearDataConfig,
}

_DISPATCH = Dispatch(DATA_FAMILIES, "name", default="digits")
DataSection = Annotated[DataConfig, _DISPATCH]
"""The type of ``[data]`` in a run config: the family class that ``name`` chooses."""
_ADAPTER: TypeAdapter[DataConfig] = TypeAdapter(DataSection)
