"""The user's own ``nn.Module``: ``model.kind = "python"``, ``model.factory = "package.module:function"``."""

from __future__ import annotations

import importlib
from typing import Any, Callable

import torch
from torch import nn

from reglab.errors import ConfigError

__all__ = ["load_factory", "python_model"]

_FIELD = "model.factory"


def load_factory(spec: str) -> Callable[..., Any]:
    """Import ``"package.module:function"`` and return the callable it names.

    ``function`` may be a dotted path inside the module (``"pkg.mod:Class.build"``).
    Raises :class:`ConfigError` naming ``model.factory`` when the spec is malformed,
    the module cannot be imported, the name is missing or is not callable.

    >>> load_factory("torch.nn:Linear") is torch.nn.Linear
    True
    """
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise ConfigError(f"model.factory must read 'package.module:function', got {spec!r}", field=_FIELD)
    try:
        obj: Any = importlib.import_module(module_name)
    except Exception as exc:  # an import error, or the module's own code failing: either way the user's input
        raise ConfigError(f"model.factory = {spec!r}: module {module_name!r} cannot be imported "
                          f"({type(exc).__name__}: {exc}); is it on PYTHONPATH?", field=_FIELD) from None
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ConfigError(f"model.factory = {spec!r}: {module_name!r} has no attribute {attr!r}", field=_FIELD)
        obj = getattr(obj, part)
    if not callable(obj):
        raise ConfigError(f"model.factory = {spec!r} is a {type(obj).__name__}, not a callable", field=_FIELD)
    return obj


def python_model(spec: str, n_in: int, n_out: int, *, seed: int) -> nn.Module:
    """Call the factory ``spec`` as ``factory(n_in, n_out)`` and check it returns an ``nn.Module``.

    ``n_in`` is the number of input features of one example (C·H·W for an image
    data set, whose batches reach the module as (N, C, H, W) tensors, so a module
    for images flattens or convolves them itself); ``n_out`` is the number of
    classes (the module returns logits) or of regression targets. The factory
    runs with torch's global generator seeded with ``seed`` inside
    ``torch.random.fork_rng``, so a module that initialises itself the torch way
    gets the same weights for the same seed, and the caller's global random state
    is left as it was.
    """
    factory = load_factory(spec)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        try:
            model = factory(n_in, n_out)
        except Exception as exc:
            raise ConfigError(f"model.factory = {spec!r} raised {type(exc).__name__} when called as "
                              f"factory({n_in}, {n_out}): {exc}", field=_FIELD) from None
    if not isinstance(model, nn.Module):
        raise ConfigError(f"model.factory = {spec!r} returned a {type(model).__name__}, not a torch.nn.Module",
                          field=_FIELD)
    if not any(p.requires_grad for p in model.parameters()):
        raise ConfigError(f"model.factory = {spec!r} returned a module without trainable parameters",
                          field=_FIELD)
    return model
