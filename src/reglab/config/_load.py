"""Load a run config from TOML, apply ``--set key=value`` overrides, validate, hash."""

from __future__ import annotations

import hashlib
import json
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from reglab.config._schema import RunConfig
from reglab.errors import ConfigError

__all__ = ["load_config", "parse_config", "apply_overrides", "config_hash", "config_to_toml"]


def load_config(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> RunConfig:
    """Read a TOML file, apply ``key=value`` overrides and validate.

    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "run.toml"
    >>> _ = path.write_text('[train]\\nepochs = 10\\n[[regularizer]]\\nkind = "l2"\\nalpha = 1e-3\\n')
    >>> load_config(path, ["train.epochs=3"]).train.epochs
    3
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    return parse_config(apply_overrides(raw, overrides))


def parse_config(raw: dict[str, Any], model: type[BaseModel] = RunConfig) -> Any:
    """Validate a plain dict; errors name the dotted key and the allowed values."""
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, model)) from None


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


def _parse_value(text: str) -> Any:
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def _set_path(node: Any, parts: list[str], value: Any, full: str) -> None:
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise ConfigError(f"--set {full}: '{part}' is not an index of a list of {len(node)} entries")
            if last:
                node[int(part)] = value
            else:
                node = node[int(part)]
        elif isinstance(node, dict):
            if last:
                node[part] = value
            else:
                node = node.setdefault(part, {})
        else:
            raise ConfigError(f"--set {full}: '{'.'.join(parts[:i])}' is not a table")


def _loc_to_key(loc: tuple[Any, ...]) -> str:
    out = ""
    for i, part in enumerate(loc):
        if isinstance(part, int):
            out += f"[{part}]"
        elif i > 0 and isinstance(loc[i - 1], int) and loc[0] == "regularizer" and i == 2 and len(loc) > 3:
            continue  # pydantic puts the discriminator tag in the location; users never write it
        else:
            out += ("." if out else "") + str(part)
    return out


def _allowed_keys(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    current: Any = model
    for part in loc[:-1]:
        if isinstance(part, int) or current is None:
            continue
        fields = getattr(current, "model_fields", {})
        if part in fields:
            ann = fields[part].annotation
            current = _first_model(ann)
        else:
            current = _tagged_model(part)
    return sorted(getattr(current, "model_fields", {})) if current is not None else []


def _first_model(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _first_model(arg)
        if found is not None:
            return found
    return None


def _tagged_model(tag: str) -> Any:
    from reglab.config import _schema

    for obj in vars(_schema).values():
        if isinstance(obj, type) and issubclass(obj, BaseModel) and "kind" in obj.model_fields:
            ann = obj.model_fields["kind"].annotation
            if tag in getattr(ann, "__args__", ()):
                return obj
    return None


def _describe(exc: ValidationError, model: type[BaseModel]) -> str:
    lines = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        key = _loc_to_key(loc) or "config"
        if err["type"] == "extra_forbidden":
            allowed = ", ".join(_allowed_keys(model, loc))
            lines.append(f"unknown key '{key}'; allowed keys here: {allowed}")
        elif err["type"] == "union_tag_invalid":
            lines.append(f"{key}: {err['msg']}")
        elif err["type"] == "value_error":
            lines.append(str(err["msg"]).removeprefix("Value error, "))
        else:
            got = err.get("input")
            got_text = f" (got {got!r})" if not isinstance(got, dict | list) else ""
            lines.append(f"{key}: {err['msg']}{got_text}")
    return "invalid config: " + "; ".join(lines)


def config_hash(cfg: BaseModel) -> str:
    """SHA-256 of the canonical JSON of the resolved config (stable run ids)."""
    blob = json.dumps(cfg.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


def config_to_toml(cfg: BaseModel) -> str:
    """Write a resolved config back as TOML (for the run directory)."""
    data = cfg.model_dump(mode="json", exclude_none=True)
    lines: list[str] = []
    regs = data.pop("regularizer", [])
    for key, value in data.items():
        if not isinstance(value, dict):
            lines.append(f"{key} = {_toml_value(value)}")
    for key, value in data.items():
        if isinstance(value, dict):
            lines.append(f"\n[{key}]")
            lines.extend(f"{k} = {_toml_value(v)}" for k, v in value.items())
    for reg in regs:
        lines.append("\n[[regularizer]]")
        lines.extend(f"{k} = {_toml_value(v)}" for k, v in reg.items())
    return "\n".join(lines).lstrip() + "\n"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, float):
        return repr(value) if value == value and abs(value) != float("inf") else str(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return str(value)
