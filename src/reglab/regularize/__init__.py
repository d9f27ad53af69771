"""Composable regularizers with explicit masks.

Penalties added to the mean loss (:class:`L2`, :class:`L1`), steps around the
optimizer (decoupled :class:`WeightDecay`; :class:`L1Prox` soft-thresholding;
projections :class:`L2Ball` and :class:`MaxNorm`), :class:`Dropout` (changes the
network) and :class:`EarlyStopping` (a callback), all chained with :func:`chain`.
Strength convention: α multiplies the penalty on the *mean* training loss
(torch's ``weight_decay``); Nielsen's λ = α·n.

>>> reg = chain(Dropout(p=0.5), L1(alpha=1e-4), MaxNorm(max_norm=3.0), EarlyStopping(patience=5))
"""

from reglab.regularize._base import BindContext, Bound, Chain, Regularizer, chain
from reglab.regularize._constraints import L2Ball, MaxNorm
from reglab.regularize._dropout import Dropout, DropoutLayer
from reglab.regularize._early_stopping import EarlyStopping
from reglab.regularize._from_config import from_config
from reglab.regularize._l1 import L1, L1Prox
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
    "L1",
    "L1Prox",
    "L2Ball",
    "MaxNorm",
    "Dropout",
    "DropoutLayer",
    "EarlyStopping",
    "select_parameters",
    "from_config",
]
