"""Where and in what precision curvature products run: ``device`` and ``dtype`` as users give them."""

from __future__ import annotations

import torch

from reglab.errors import ConfigError

__all__ = ["resolve_device", "resolve_dtype", "DEVICES", "DTYPES"]

DEVICES = ("cpu", "cuda", "auto")
DTYPES = {"float32": torch.float32, "float64": torch.float64}


def resolve_device(device: str | torch.device | None) -> torch.device | None:
    """``"auto"`` → CUDA when available, else the CPU; ``"cpu"``, ``"cuda"``, ``"cuda:1"`` or a
    :class:`torch.device` as given; ``None`` → ``None`` (keep the model's device).

    >>> resolve_device("cpu")
    device(type='cpu')
    >>> resolve_device("auto").type in ("cpu", "cuda")
    True
    """
    if device is None or isinstance(device, torch.device):
        return device
    if not isinstance(device, str):
        raise ConfigError(f"device must be one of {DEVICES} or a torch.device, got {device!r}", field="device")
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError:
        raise ConfigError(f"device must be one of {DEVICES} (or 'cuda:N'), got {device!r}", field="device") from None
    if resolved.type not in ("cpu", "cuda"):
        raise ConfigError(f"device must be one of {DEVICES} (or 'cuda:N'), got {device!r}", field="device")
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {device!r} asked for, but torch sees no CUDA device here; use 'cpu' or 'auto'",
                          field="device")
    return resolved


def resolve_dtype(dtype: str | torch.dtype | None) -> torch.dtype | None:
    """``"float32"``/``"float64"`` or a floating :class:`torch.dtype`; ``None`` stays ``None``.

    >>> resolve_dtype("float32")
    torch.float32
    """
    if dtype is None:
        return None
    if isinstance(dtype, str):
        if dtype not in DTYPES:
            raise ConfigError(f"dtype must be one of {tuple(DTYPES)}, got {dtype!r}", field="dtype")
        return DTYPES[dtype]
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise ConfigError(f"dtype must be a floating dtype ({', '.join(DTYPES)}), got {dtype}", field="dtype")
    return dtype
