"""Models: MLP, linear and logistic regression, a LeNet-style CNN, the user's own module, feature maps.

:func:`build_model` turns a ``[model]`` config into a network; it is the one
place a run's model is built (the trainer and ``reglab.train.load_run`` call it).
Initialisation schemes (``model.init``) are in :func:`initialize`.
"""

from reglab.models._build import ACTIVATIONS, build_model, linear_model, mlp
from reglab.models._cnn import ToImages, cnn, cnn_geometry
from reglab.models._features import PLAYGROUND_FEATURE_NAMES, PlaygroundFeatures, PolynomialFeatures
from reglab.models._init import INITS, fans, initialize
from reglab.models._python import load_factory, python_model

__all__ = [
    "mlp",
    "linear_model",
    "cnn",
    "cnn_geometry",
    "ToImages",
    "build_model",
    "python_model",
    "load_factory",
    "initialize",
    "INITS",
    "fans",
    "ACTIVATIONS",
    "PlaygroundFeatures",
    "PolynomialFeatures",
    "PLAYGROUND_FEATURE_NAMES",
]
