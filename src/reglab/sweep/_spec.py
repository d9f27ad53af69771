"""Sweep configs: a base run config plus a ``[sweep]`` table of axes, expanded to a grid.

A sweep file is a run config (``[data]``, ``[model]``, ``[train]``,
``[[regularizer]]``, …) with one more table, ``[sweep]``, whose keys are the
dotted keys of ``--set`` and whose values are the axis' values::

    [sweep]
    "regularizer.0.alpha" = {log = [1e-5, 1e-1], num = 5}   # 1e-5, 1e-4, …, 1e-1
    "regularizer.0.kind" = ["l2", "l1_prox"]                  # a list of values
    "train.seed" = [0, 1]
    "train.lr" = {linear = [0.05, 0.2], num = 4}              # evenly spaced

An axis is a non-empty list, or ``{log = [lo, hi], num = N}`` (N values evenly
spaced in log10 between lo > 0 and hi > 0, both included), or
``{linear = [lo, hi], num = N}``. Range values are rounded to 12 significant
digits, so ``{log = [1e-5, 1e-1], num = 5}`` gives exactly 1e-05 … 0.1 (and the
config hashes stay readable and stable). The grid is the cartesian product of the
axes, the first axis varying slowest. ``--set key=value`` overrides change the
base config (an axis key cannot be overridden: change it in ``[sweep]``).

Every grid point is validated as a full :class:`~reglab.config.RunConfig` before
anything runs; an invalid one raises :class:`~reglab.errors.ConfigError` naming
the point and the key. A point's stable id is its resolved config's
:func:`~reglab.config.config_hash`; the sweep's id is derived from the ids of
its points, so the same grid has the same id wherever and whenever it is expanded.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from reglab.config import RunConfig, apply_overrides, config_hash, flatten_config, parse_config
from reglab.errors import ConfigError

__all__ = ["GridPoint", "Sweep", "load_sweep", "parse_sweep", "sweep_of", "axis_values"]


@dataclass(frozen=True)
class GridPoint:
    """One point of the grid: its index, the axes' values, the validated config and its id."""

    index: int
    values: dict[str, Any]
    config: RunConfig
    id: str

    def label(self) -> str:
        return ", ".join(f"{k}={_show(v)}" for k, v in self.values.items())


@dataclass(frozen=True)
class Sweep:
    """A base config, its axes and the expanded, validated grid."""

    id: str
    name: str | None
    axes: dict[str, list[Any]]
    points: list[GridPoint]

    def __len__(self) -> int:
        return len(self.points)


def _show(value: Any) -> str:
    return json.dumps(value) if isinstance(value, str | list | dict) else repr(value)


def _number(value: Any, key: str, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(f"[sweep] {key}: {what} must be finite numbers, got {value!r}", field=f"sweep.{key}")
    return float(value)


def _round(value: float) -> float:
    return float(f"{value:.12g}")


def axis_values(key: str, spec: Any) -> list[Any]:
    """The values of one axis: a list as it is, or a ``log``/``linear`` range.

    >>> axis_values("regularizer.0.alpha", {"log": [1e-5, 1e-1], "num": 5})
    [1e-05, 0.0001, 0.001, 0.01, 0.1]
    >>> axis_values("train.lr", {"linear": [0.1, 0.4], "num": 4})
    [0.1, 0.2, 0.3, 0.4]
    """
    field = f"sweep.{key}"
    if isinstance(spec, list):
        if not spec:
            raise ConfigError(f"[sweep] {key}: an axis needs at least one value", field=field)
        return list(spec)
    if not isinstance(spec, dict):
        raise ConfigError(f"[sweep] {key}: an axis is a list of values or a range such as "
                          f"{{log = [1e-5, 1e-1], num = 5}}; got {spec!r}", field=field)
    kinds = [k for k in ("log", "linear") if k in spec]
    extra = sorted(set(spec) - {"log", "linear", "num"})
    if len(kinds) != 1 or extra or "num" not in spec:
        raise ConfigError(f"[sweep] {key}: a range has exactly one of 'log' or 'linear' = [lo, hi] and "
                          f"'num' = N; got keys {sorted(spec)}", field=field)
    kind = kinds[0]
    bounds, num = spec[kind], spec["num"]
    if not isinstance(bounds, list) or len(bounds) != 2:
        raise ConfigError(f"[sweep] {key}: {kind} = [lo, hi] takes two numbers, got {bounds!r}", field=field)
    lo, hi = (_number(b, key, f"the bounds of '{kind}'") for b in bounds)
    if isinstance(num, bool) or not isinstance(num, int) or num < 1:
        raise ConfigError(f"[sweep] {key}: num must be an integer >= 1, got {num!r}", field=field)
    if kind == "log":
        if lo <= 0 or hi <= 0:
            raise ConfigError(f"[sweep] {key}: log = [lo, hi] needs lo > 0 and hi > 0, got [{lo}, {hi}]; "
                              "list 0 explicitly if you want it", field=field)
        lo, hi = math.log10(lo), math.log10(hi)
    steps = [lo + (hi - lo) * i / (num - 1) for i in range(num)] if num > 1 else [lo]
    return [_round(10.0**s if kind == "log" else s) for s in steps]


def _toml_inline(value: Any) -> str:
    """A value as TOML text, for :func:`reglab.config.apply_overrides` to read back unchanged."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_inline(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(str(k))} = {_toml_inline(v)}" for k, v in value.items()) + "}"
    raise ConfigError(f"[sweep] cannot use the value {value!r} in an axis")


def load_sweep(path: str | Path, overrides: Sequence[str] = ()) -> Sweep:
    """Read a sweep TOML file, apply ``--set`` overrides to its base config, expand and validate the grid."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"sweep config file not found: {path}", field="CONFIG")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}", field="CONFIG") from None
    return parse_sweep(raw, overrides)


def parse_sweep(raw: dict[str, Any], overrides: Sequence[str] = ()) -> Sweep:
    """Expand a sweep given as a plain dict (a run config with a ``sweep`` table).

    >>> sweep = parse_sweep({"train": {"epochs": 1}, "regularizer": [{"kind": "l2", "alpha": 0.0}],
    ...                      "sweep": {"regularizer.0.alpha": [0.0, 1e-3], "train.seed": [0, 1]}})
    >>> len(sweep), sweep.points[1].values
    (4, {'regularizer.0.alpha': 0.0, 'train.seed': 1})
    """
    raw = dict(raw)
    table = raw.pop("sweep", None)
    if not isinstance(table, dict) or not table:
        raise ConfigError("a sweep config needs a [sweep] table with at least one axis, e.g. "
                          "\"regularizer.0.alpha\" = [1e-3, 1e-4]", field="sweep")
    axes = {str(k): axis_values(str(k), v) for k, v in table.items()}
    for item in overrides:
        key = item.partition("=")[0].strip()
        if key in axes:
            raise ConfigError(f"--set {key}: this key is an axis of the sweep; change its values in [sweep]",
                              field="--set")
    base = apply_overrides(raw, list(overrides))
    points = [_point(i, base, dict(zip(axes, combo)), len(axes))
              for i, combo in enumerate(itertools.product(*axes.values()))]
    return _sweep(base.get("name"), axes, points)


def sweep_of(configs: Sequence[RunConfig], *, name: str | None = None,
             labels: Sequence[dict[str, Any]] | None = None) -> Sweep:
    """A sweep of given run configs (a list rather than a grid), e.g. an experiment's runs.

    ``labels`` are the points' values (stored as each run's ``axes`` tag); by default the
    dotted keys in which the configs differ (the run's name aside), as a grid's axes would
    be. The configs must be distinct, as a grid's points are.

    >>> from reglab.config import parse_config
    >>> sweep = sweep_of([parse_config({"train": {"seed": s}, "regularizer": [{"kind": "l2", "alpha": a}]})
    ...                   for s in (0, 1) for a in (0.0, 0.1)], name="two seeds")
    >>> len(sweep), sweep.points[3].values
    (4, {'regularizer.0.alpha': 0.1, 'train.seed': 1})
    """
    labels = list(labels) if labels is not None else _differing(configs)
    if len(labels) != len(configs):
        raise ValueError("one label per config")
    points = [GridPoint(index=i, values=dict(v), config=c, id=config_hash(c))
              for i, (c, v) in enumerate(zip(configs, labels))]
    return _sweep(name, {}, points)


def _differing(configs: Sequence[RunConfig]) -> list[dict[str, Any]]:
    """Per config, its values at the dotted keys (``--set`` style) where the configs differ, the name aside."""
    flat = [flatten_config(c.model_dump(mode="json"), empty_lists=False) for c in configs]
    keys = sorted({k for f in flat for k in f} - {"name"})
    varying = [k for k in keys if len({json.dumps(f.get(k), sort_keys=True) for f in flat}) > 1]
    if not varying:  # one config, or configs that differ in their names only
        return [{"name": c.name} for c in configs]
    return [{k: f.get(k) for k in varying} for f in flat]


def _sweep(name: str | None, axes: dict[str, list[Any]], points: list[GridPoint]) -> Sweep:
    """The sweep of these points; its id derives from the points' ids, so the same grid has the same id."""
    _check_distinct(points)
    digest = hashlib.sha256("\n".join(p.id for p in points).encode()).hexdigest()
    return Sweep(id=f"sweep-{digest[:12]}", name=name, axes=axes, points=points)


def _point(index: int, base: dict[str, Any], values: dict[str, Any], n_axes: int) -> GridPoint:
    label = ", ".join(f"{k}={_show(v)}" for k, v in values.items())
    try:
        raw = apply_overrides(base, [f"{k}={_toml_inline(v)}" for k, v in values.items()])
        cfg = parse_config(raw)
    except ConfigError as exc:
        message = str(exc).replace("--set ", "axis ")
        field = next((k for k in values if k in message or _bracketed(k) in message), None)
        raise ConfigError(f"sweep point {index + 1} ({label}): {message}",
                          field=f"sweep.{field}" if field else "sweep") from None
    return GridPoint(index=index, values=values, config=cfg, id=config_hash(cfg))


def _bracketed(key: str) -> str:
    """``regularizer.0.alpha`` as the config's error messages write it: ``regularizer[0].alpha``."""
    return re.sub(r"\.(\d+)(?=\.|$)", r"[\1]", key)


def _check_distinct(points: list[GridPoint]) -> None:
    seen: dict[str, GridPoint] = {}
    for point in points:
        if point.id in seen:
            other = seen[point.id]
            raise ConfigError(f"sweep points {other.index + 1} ({other.label()}) and {point.index + 1} "
                              f"({point.label()}) resolve to the same config; remove the duplicate value",
                              field="sweep")
        seen[point.id] = point
