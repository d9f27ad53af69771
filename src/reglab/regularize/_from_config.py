"""Build a regularizer chain from the ``[[regularizer]]`` entries of a config."""

from __future__ import annotations

from typing import Sequence

from reglab.config import RegularizerConfig
from reglab.regularize._base import Chain, Regularizer
from reglab.regularize._l2 import L2, WeightDecay

__all__ = ["from_config"]


def _mask(value: object) -> object:
    return tuple(value) if isinstance(value, list) else value


def _one(cfg: RegularizerConfig) -> Regularizer:
    if cfg.kind == "l2":
        return L2(alpha=cfg.alpha, convention=cfg.convention, mask=_mask(cfg.mask))
    if cfg.kind == "weight_decay":
        return WeightDecay(wd=cfg.wd, mask=_mask(cfg.mask))
    raise ValueError(f"unknown regularizer kind {cfg.kind!r}")


def from_config(entries: Sequence[RegularizerConfig]) -> Chain:
    """The chain of regularizers, in the order the config lists them."""
    return Chain(pieces=tuple(_one(e) for e in entries))
