"""Composable regularizers with explicit masks.

Penalties added to the mean loss (L2), steps around the optimizer (decoupled
weight decay), all chained with :func:`chain`. Strength convention: α multiplies
the penalty on the *mean* training loss (torch's ``weight_decay``); Nielsen's λ = α·n.
"""

from reglab.regularize._base import BindContext, Bound, Chain, Regularizer, chain
from reglab.regularize._from_config import from_config
from reglab.regularize._l2 import L2, WeightDecay
from reglab.regularize._masks import select_parameters

__all__ = [
    "Regularizer",
    "Bound",
    "BindContext",
    "Chain",
    "chain",
    "L2",
    "WeightDecay",
    "select_parameters",
    "from_config",
]
