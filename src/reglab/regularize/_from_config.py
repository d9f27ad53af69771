"""Build a regularizer chain from the ``[[regularizer]]`` entries of a config."""

from __future__ import annotations

from typing import Sequence

from reglab.config import RegularizerConfig
from reglab.regularize._base import Chain, Regularizer
from reglab.regularize._constraints import L2Ball, MaxNorm
from reglab.regularize._dropout import Dropout
from reglab.regularize._early_stopping import EarlyStopping
from reglab.regularize._l1 import L1, L1Prox
from reglab.regularize._l2 import L2, WeightDecay

__all__ = ["from_config"]


def _mask(value: object) -> object:
    return tuple(value) if isinstance(value, list) else value


def _one(cfg: RegularizerConfig) -> Regularizer:
    if cfg.kind == "l2":
        return L2(alpha=cfg.alpha, convention=cfg.convention, mask=_mask(cfg.mask))
    if cfg.kind == "weight_decay":
        return WeightDecay(wd=cfg.wd, mask=_mask(cfg.mask))
    if cfg.kind == "l1":
        return L1(alpha=cfg.alpha, convention=cfg.convention, mask=_mask(cfg.mask))
    if cfg.kind == "l1_prox":
        return L1Prox(alpha=cfg.alpha, convention=cfg.convention, mask=_mask(cfg.mask))
    if cfg.kind == "l2_ball":
        return L2Ball(radius=cfg.radius, mask=_mask(cfg.mask))
    if cfg.kind == "max_norm":
        return MaxNorm(max_norm=cfg.max_norm, mask=_mask(cfg.mask))
    if cfg.kind == "dropout":
        return Dropout(p=_mask(cfg.p), input_p=cfg.input_p, mode=cfg.mode)
    if cfg.kind == "early_stopping":
        return EarlyStopping(monitor=cfg.monitor, patience=cfg.patience, min_delta=cfg.min_delta, mode=cfg.mode,
                             restore_best=cfg.restore_best)
    raise ValueError(f"unknown regularizer kind {cfg.kind!r}")


def from_config(entries: Sequence[RegularizerConfig]) -> Chain:
    """The chain of regularizers, in the order the config lists them."""
    return Chain(pieces=tuple(_one(e) for e in entries))
