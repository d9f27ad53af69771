"""Which grid points train together: grouping for the vectorized engine.

Points go into one vectorized group when they share everything except what the
engine can give each member on its own: the strengths and other parameters of
the regularizers (and their kinds, among L2, weight decay, L1, L1-prox, the L2
ball and max-norm), ``train.seed`` (init and shuffle order), ``model.init_seed``,
``train.lr`` and the run's name. Points with dropout, early stopping or
augmentation, and points that share their settings with no other point, run
separately through :func:`reglab.train.train`; the plan says why.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Sequence

from reglab.config import RunConfig
from reglab.sweep._spec import GridPoint

__all__ = ["WorkUnit", "Member", "plan_units", "VECTORIZABLE_KINDS", "separate_reason", "ENGINES"]

ENGINES = ("vectorized", "auto", "separate")

VECTORIZABLE_KINDS = ("l2", "weight_decay", "l1", "l1_prox", "l2_ball", "max_norm")

_NOT_VECTORIZED = {
    "dropout": "dropout changes the network and draws its own masks",
    "early_stopping": "early stopping ends each run at its own epoch",
}


@dataclass(frozen=True)
class Member:
    """A grid point as a worker sees it: plain, picklable data."""

    index: int
    id: str
    config: dict[str, Any]
    run_dir: str | None = None


@dataclass(frozen=True)
class WorkUnit:
    """The unit of work an executor hands to a worker: one vectorized group, or one separate point."""

    engine: str  # "vectorized" | "auto" (the worker times both) | "separate"
    reason: str
    members: tuple[Member, ...] = field(default_factory=tuple)

    def with_run_dirs(self, run_dirs: dict[int, str]) -> "WorkUnit":
        members = tuple(Member(m.index, m.id, m.config, run_dirs.get(m.index, m.run_dir)) for m in self.members)
        return WorkUnit(self.engine, self.reason, members)


def separate_reason(cfg: RunConfig) -> str | None:
    """Why this point cannot join a vectorized group, or None when it can."""
    for entry in cfg.regularizer:
        if entry.kind in _NOT_VECTORIZED:
            return _NOT_VECTORIZED[entry.kind]
        if entry.kind not in VECTORIZABLE_KINDS:
            return f"the vectorized engine does not implement regularizer kind {entry.kind!r}"
    if cfg.augment is not None:
        return "data augmentation transforms each run's batches on its own"
    return None


def group_key(cfg: RunConfig) -> str:
    """What members of one vectorized group must share (everything the engine does not vary per member)."""
    data = cfg.model_dump(mode="json")
    data.pop("name", None)
    data["model"].pop("init_seed", None)
    for key in ("seed", "lr", "checkpoint", "checkpoint_every"):
        data["train"].pop(key, None)
    data["regularizer"] = [{"mask": r.get("mask")} for r in data["regularizer"]]
    return json.dumps(data, sort_keys=True)


def plan_units(points: Sequence[GridPoint], *, max_members: int | None = None,
               engine: str = "vectorized") -> list[WorkUnit]:
    """Group the points into work units, in grid order of each unit's first point.

    ``max_members`` caps the size of a vectorized group (larger groups are split in
    grid order). ``engine``: ``"vectorized"`` wherever it applies (the default: the
    plan then does not depend on the executor, so every executor runs every point
    on the same engine and gives the same numbers), ``"auto"`` (the worker times a
    few steps of both engines on each group and keeps the faster; see
    :mod:`reglab.sweep._timing`) or ``"separate"`` (every point on its own).
    """
    if max_members is not None and max_members < 1:
        raise ValueError("max_members must be >= 1")
    if engine not in ENGINES:
        from reglab.errors import ConfigError

        raise ConfigError(f"--engine must be one of {', '.join(ENGINES)}; got {engine!r}", field="--engine")
    if engine == "separate":
        return [_single(p, "--engine separate: every point trains on its own") for p in points]
    groups: dict[str, list[GridPoint]] = {}
    units: list[tuple[int, WorkUnit]] = []
    for point in points:
        why = separate_reason(point.config)
        if why is not None:
            units.append((point.index, _single(point, why)))
        else:
            groups.setdefault(group_key(point.config), []).append(point)
    for members in groups.values():
        if len(members) == 1:
            units.append((members[0].index, _single(
                members[0], "no other grid point shares its data, model and training settings")))
            continue
        size = max_members or len(members)
        for start in range(0, len(members), size):
            chunk = members[start : start + size]
            if len(chunk) == 1:
                units.append((chunk[0].index, _single(chunk[0], "alone after splitting its group")))
                continue
            reason = (f"{len(chunk)} points that share data, model and training settings, trained together"
                      + (f" (group split at {size} members)" if len(members) > size else ""))
            units.append((chunk[0].index, WorkUnit(engine, reason, tuple(_member(p) for p in chunk))))
    return [unit for _, unit in sorted(units, key=lambda item: item[0])]


def _member(point: GridPoint) -> Member:
    return Member(point.index, point.id, point.config.model_dump(mode="json"))


def _single(point: GridPoint, why: str) -> WorkUnit:
    return WorkUnit("separate", why, (_member(point),))
