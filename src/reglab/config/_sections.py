"""Optional run-config tables: ``[augment]`` (artificial expansion of the data) and ``[verify]``."""

from __future__ import annotations

from typing import Annotated, Literal, Union

from reglab.regularize._schema import Field, Schema

__all__ = ["AugmentConfig", "VerifyConfig"]


class AugmentConfig(Schema):
    """Artificial expansion of image training data (Nielsen ch. 3; Simard et al. 2003).

    ``mode = "online"`` transforms each mini-batch afresh with the run's generator;
    ``"offline"`` appends ``copies`` transformed copies to the training set once.
    Angles in degrees, shifts and elastic α/σ in pixels, shear as a factor.
    """

    mode: Literal["online", "offline"] = "online"
    copies: int = Field(1, ge=1, le=50, description="offline: transformed copies per training image")
    rotation: float = Field(0.0, ge=0.0, le=180.0, description="max |angle| in degrees")
    translation: int = Field(0, ge=0, le=10, description="max shift in whole pixels")
    skew: float = Field(0.0, ge=0.0, le=1.0, description="max |shear| factor")
    elastic_alpha: float = Field(0.0, ge=0.0, le=100.0, description="elastic displacement scale α (pixels)")
    elastic_sigma: float = Field(4.0, gt=0.0, le=20.0, description="elastic smoothing σ (pixels)")
    probability: float = Field(1.0, ge=0.0, le=1.0, description="chance that an image is transformed")


class VerifyConfig(Schema):
    """Defaults of ``reglab verify`` for this config (command-line flags override them)."""

    alphas: list[Annotated[float, Field(gt=0.0)]] = Field(default_factory=lambda: [0.01, 0.1, 1.0, 10.0],
                                                          min_length=1)
    penalty: Literal["l2", "l1"] = "l2"
    mask: Union[Literal["weights", "all"], list[str]] = "weights"
    threshold: float = Field(0.05, gt=0.0)
    tol: float = Field(1e-9, gt=0.0, description="gradient tolerance (max-norm) of the minimizers")
    max_iter: int = Field(3000, ge=100)
    reference_alpha: float | None = Field(None, gt=0.0, description="α₀ when there is no finite minimizer")
