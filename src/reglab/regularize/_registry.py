"""The one place regularizers are registered: ``kind`` → config class (which names its piece).

``reglab.config`` validates every ``[[regularizer]]`` entry with
:data:`RegularizerConfig`, which looks the entry's ``kind`` up in :data:`REGISTRY`
when it validates, so a regularizer registered later (a plug-in, a test) is
accepted by configs like a built-in one. Adding a regularizer takes three things:
its module (the piece and its config class, side by side), and one line here in
``_BUILTIN`` (or a call to :func:`register` from outside reglab). See
CONTRIBUTING.md, "Adding a regularizer".

>>> from reglab.config import parse_config
>>> from_config(parse_config({"regularizer": [{"kind": "l2", "alpha": 0.1}]}).regularizer)
Chain(pieces=(L2(mask='weights', alpha=0.1, convention='reglab'),))
"""

from __future__ import annotations

from typing import Annotated, Sequence

from reglab.regularize._base import Chain
from reglab.regularize._config import PieceConfig
from reglab.regularize._constraints import L2BallConfig, MaxNormConfig
from reglab.regularize._dropout import DropoutConfig
from reglab.regularize._early_stopping import EarlyStoppingConfig
from reglab.regularize._l1 import L1Config, L1ProxConfig
from reglab.regularize._l2 import L2Config, WeightDecayConfig
from reglab.regularize._schema import Dispatch

__all__ = ["REGISTRY", "RegularizerConfig", "register", "from_config"]

REGISTRY: dict[str, type[PieceConfig]] = {}


def register(config_class: type[PieceConfig]) -> type[PieceConfig]:
    """Make ``kind = "<its kind>"`` in a config build ``config_class``'s piece; returns the class.

    A kind registered to another class is an error (unregister with ``REGISTRY.pop(kind)``).
    """
    if not (isinstance(config_class, type) and issubclass(config_class, PieceConfig)):
        raise TypeError(f"register takes a PieceConfig subclass, got {config_class!r}")
    if "piece" not in vars(config_class):
        raise TypeError(f"{config_class.__name__} must name the piece it builds (piece: ClassVar = ...)")
    kind = config_class.kind_name()
    if REGISTRY.get(kind, config_class) is not config_class:
        raise ValueError(f"regularizer kind {kind!r} is already registered to {REGISTRY[kind].__name__}")
    REGISTRY[kind] = config_class
    return config_class


_BUILTIN = (L2Config, WeightDecayConfig, L1Config, L1ProxConfig, L2BallConfig, MaxNormConfig, DropoutConfig,
            EarlyStoppingConfig)
for _cls in _BUILTIN:
    register(_cls)

RegularizerConfig = Annotated[PieceConfig, Dispatch(REGISTRY, "kind")]
"""The type of one ``[[regularizer]]`` entry: the registered config class its ``kind`` names."""


def from_config(entries: Sequence[PieceConfig]) -> Chain:
    """The chain of regularizers, in the order the config lists them (each entry builds its piece)."""
    return Chain(pieces=tuple(entry.build() for entry in entries))
