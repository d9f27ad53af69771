"""Load a run config from TOML, apply ``--set key=value`` overrides, validate, hash, write back.

Every way a config can be wrong — a missing, empty, binary or non-UTF-8 file, a
directory, bad TOML, an override of a list entry that does not exist, a value out
of range — is a :class:`~reglab.errors.ConfigError` that names the file or the
dotted key and what is allowed.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from pathlib import Path
from typing import Any

import tomli_w
from pydantic import BaseModel, ValidationError

from reglab.config._schema import RunConfig
from reglab.errors import ConfigError
from reglab.regularize._schema import describe_errors, error_keys

__all__ = ["load_config", "parse_config", "apply_overrides", "flatten_config", "config_hash", "config_to_toml"]


def load_config(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> RunConfig:
    """Read a TOML file, apply ``key=value`` overrides and validate.

    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "run.toml"
    >>> _ = path.write_text('[train]\\nepochs = 10\\n[[regularizer]]\\nkind = "l2"\\nalpha = 1e-3\\n')
    >>> load_config(path, ["train.epochs=3"]).train.epochs
    3
    """
    return parse_config(apply_overrides(_upgrade_stored(read_toml(path)), overrides))


# Every key of the single [data] table that resolved configs stored before [data] became one class
# per data-set family (run folders written by reglab ≤ this change list them all).
_LEGACY_DATA_KEYS = frozenset({"seed", "val_fraction", "test_fraction", "verify_checksums", "n_points", "noise",
                               "train_ratio", "degree", "n", "n_test", "dim", "whiten", "noise_std"})


def _upgrade_stored(raw: dict[str, Any]) -> dict[str, Any]:
    """Read a run folder's config.toml written before the per-family [data] tables.

    Such a file lists every data knob of every family (the resolved config of the
    time); the knobs of other families had no effect on the run, so they are left
    out. A [data] table written by hand never lists all of them and is not touched.
    """
    data = raw.get("data")
    if not (isinstance(data, dict) and _LEGACY_DATA_KEYS <= data.keys()):
        return raw
    from reglab.config._data import DATA_FAMILIES

    family = DATA_FAMILIES.get(data.get("name", "digits"))
    if family is None:
        return raw
    return {**raw, "data": {k: v for k, v in data.items() if k in family.model_fields}}


def read_toml(path: str | Path) -> dict[str, Any]:
    """The table a TOML config file holds; a :class:`ConfigError` naming the file if there is none."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"config {path} is a directory, not a file; give the path of a .toml file")
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config {path} is not a UTF-8 text file (byte {exc.start} cannot be decoded); "
                          "a config is TOML text") from None
    except OSError as exc:
        raise ConfigError(f"config {path} cannot be read: {exc.strerror or exc}") from None
    if "\x00" in text:
        raise ConfigError(f"config {path} is a binary file (it contains NUL bytes); a config is TOML text")
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    if not raw:
        raise ConfigError(f"config {path} is empty: it sets nothing (write at least one table, e.g. [train])")
    return raw


def parse_config(raw: dict[str, Any], model: type[BaseModel] = RunConfig) -> Any:
    """Validate a plain dict; errors name the dotted key and the allowed values.

    The :class:`ConfigError` also carries ``field``, the dotted key of the first
    problem (for ``--json`` error documents).
    """
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        keys = [k for k in error_keys(exc) if k != "config"]  # a whole-config rule has no one field
        raise ConfigError("invalid config: " + describe_errors(exc, model), field=keys[0] if keys else None) from None


def apply_overrides(raw: dict[str, Any], overrides: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """Return a copy of ``raw`` with each ``a.b.c=value`` set; the value is read as TOML.

    ``regularizer.0.alpha=0.1`` indexes the list of regularizers. A value that is
    not valid TOML (``data.name=mnist``) is taken as a string.
    """
    raw = json.loads(json.dumps(raw))
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set expects key=value, got {item!r}")
        _set_path(raw, key.strip().split("."), _parse_value(text.strip()), key.strip())
    return raw


def flatten_config(config: Any, prefix: str = "", *, empty_lists: bool = True) -> dict[str, Any]:
    """Leaves of a config dict under their ``--set`` keys (the inverse of :func:`apply_overrides`'s paths).

    A list of dicts is indexed, other lists stay one leaf; an empty list is a leaf too unless
    ``empty_lists=False`` (then it has no keys at all).

    >>> flatten_config({"train": {"lr": 0.1}, "model": {"hidden": [32]},
    ...                 "regularizer": [{"kind": "l2", "alpha": 0.001}]})
    {'train.lr': 0.1, 'model.hidden': [32], 'regularizer.0.kind': 'l2', 'regularizer.0.alpha': 0.001}
    >>> flatten_config({"regularizer": []}), flatten_config({"regularizer": []}, empty_lists=False)
    ({'regularizer': []}, {})
    """
    if config == [] and not empty_lists:
        return {}
    if isinstance(config, dict):
        items = config.items()
    elif isinstance(config, list) and config and all(isinstance(v, dict) for v in config):
        items = ((str(i), v) for i, v in enumerate(config))
    else:
        return {prefix: config}
    flat: dict[str, Any] = {}
    for key, value in items:
        flat.update(flatten_config(value, f"{prefix}.{key}" if prefix else str(key), empty_lists=empty_lists))
    return flat


def _parse_value(text: str) -> Any:
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def _set_path(node: Any, parts: list[str], value: Any, full: str) -> None:
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        here = ".".join(parts[:i])
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                entries = ("the list is empty" if not node else
                           f"the list has {len(node)} entr{'y' if len(node) == 1 else 'ies'}, "
                           f"{'0' if len(node) == 1 else f'0 to {len(node) - 1}'}")
                raise ConfigError(f"--set {full}: there is no {here} {part} ({entries})", field=full)
            if last:
                node[int(part)] = value
            else:
                node = node[int(part)]
        elif isinstance(node, dict):
            if last:
                node[part] = value
            elif part not in node and parts[i + 1].isdigit():
                raise ConfigError(f"--set {full}: there is no {'.'.join(parts[:i + 1])} {parts[i + 1]} "
                                  f"(the list is empty); the config has no [[{part}]] entries", field=full)
            else:
                node = node.setdefault(part, {})
        else:
            raise ConfigError(f"--set {full}: '{here}' is not a table", field=full)


def config_hash(cfg: BaseModel) -> str:
    """SHA-256 of the canonical JSON of the resolved config (stable run ids)."""
    blob = json.dumps(cfg.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


def config_to_toml(cfg: BaseModel) -> str:
    """Write a resolved config back as TOML (for the run directory); ``parse_config`` reads it back equal.

    Unset optional values (None) are left out, as TOML has no null.

    >>> from reglab.config import parse_config
    >>> cfg = parse_config({"regularizer": [{"kind": "l2_ball", "radius": float("inf")}]})
    >>> print(config_to_toml(cfg).splitlines()[1])
        { mask = "weights", kind = "l2_ball", radius = inf },
    >>> parse_config(tomllib.loads(config_to_toml(cfg))) == cfg
    True
    """
    return tomli_w.dumps(_drop_none(cfg.model_dump(mode="python")))


def _drop_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_drop_none(v) for v in value]
    return value
