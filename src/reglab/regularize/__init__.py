"""Composable regularizers with explicit masks.

Penalties added to the mean loss (:class:`L2`, :class:`L1`), steps around the
optimizer (decoupled :class:`WeightDecay`; :class:`L1Prox` soft-thresholding;
projections :class:`L2Ball` and :class:`MaxNorm`), :class:`Dropout` (changes the
network) and :class:`EarlyStopping` (a callback), all chained with :func:`chain`.
Three kinds of piece (:mod:`reglab.regularize._base`): steps (penalties and
steps on the parameters an explicit ``mask`` selects), model transforms (dropout)
and callbacks (early stopping); their math is :mod:`reglab.regularize.ops`. Each
piece's pydantic config class (``L2Config`` …) sits next to it and builds it
(``L2Config(kind="l2", alpha=0.1).build()``); :func:`register` adds a new kind.
Strength convention: α multiplies the penalty on the *mean* training loss
(torch's ``weight_decay``); Nielsen's λ = α·n.

>>> reg = chain(Dropout(p=0.5), L1(alpha=1e-4), MaxNorm(max_norm=3.0), EarlyStopping(patience=5))
"""

from reglab.regularize._base import (
    BindContext,
    Bound,
    BoundCallback,
    BoundChain,
    BoundStep,
    BoundTransform,
    Callback,
    Chain,
    Regularizer,
    Step,
    Strength,
    Transform,
    chain,
)
from reglab.regularize._config import MaskedConfig, PieceConfig, StrengthConfig
from reglab.regularize._constraints import L2Ball, L2BallConfig, MaxNorm, MaxNormConfig
from reglab.regularize._dropout import Dropout, DropoutConfig, DropoutLayer
from reglab.regularize._early_stopping import EarlyStopping, EarlyStoppingConfig
from reglab.regularize._l1 import L1, L1Config, L1Prox, L1ProxConfig
from reglab.regularize._l2 import L2, L2Config, WeightDecay, WeightDecayConfig
from reglab.regularize._masks import select_parameters
from reglab.regularize._registry import REGISTRY, RegularizerConfig, from_config, register

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
    "Step",
    "Strength",
    "Transform",
    "Callback",
    "BoundStep",
    "BoundCallback",
    "BoundTransform",
    "BoundChain",
    "PieceConfig",
    "MaskedConfig",
    "StrengthConfig",
    "L2Config",
    "WeightDecayConfig",
    "L1Config",
    "L1ProxConfig",
    "L2BallConfig",
    "MaxNormConfig",
    "DropoutConfig",
    "EarlyStoppingConfig",
    "RegularizerConfig",
    "REGISTRY",
    "register",
]
