"""Models: MLP builder, linear and logistic regression, Playground and polynomial feature maps."""

from reglab.models._build import ACTIVATIONS, build_model, linear_model, mlp
from reglab.models._features import PLAYGROUND_FEATURE_NAMES, PlaygroundFeatures, PolynomialFeatures

__all__ = [
    "mlp",
    "linear_model",
    "build_model",
    "ACTIVATIONS",
    "PlaygroundFeatures",
    "PolynomialFeatures",
    "PLAYGROUND_FEATURE_NAMES",
]
