"""The loss of a model on a data set as a function of a flat parameter vector.

A :class:`Problem` snapshots everything a curvature product needs: the selected
parameters (cloned, optionally cast), the fixed parameters and buffers, and the
batches with their weights ``n_b / N``, so that

    C₀(w) = Σ_b (n_b / N) · loss_fn(model(x_b; w), y_b)

is the mean loss over all ``N`` examples even when batch sizes differ.
"""

from __future__ import annotations

import contextlib
import functools
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

import torch
from torch.func import functional_call, jvp

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
Data = tuple[torch.Tensor, torch.Tensor] | Iterable[tuple[torch.Tensor, torch.Tensor]]


@dataclass(frozen=True)
class Problem:
    """A model, its loss and its data, with the parameters split into selected and fixed."""

    model: torch.nn.Module
    loss_fn: LossFn
    names: tuple[str, ...]
    primals: tuple[torch.Tensor, ...]
    fixed: dict[str, torch.Tensor]
    batches: tuple[tuple[torch.Tensor, torch.Tensor], ...]
    weights: tuple[float, ...]

    @property
    def shapes(self) -> tuple[torch.Size, ...]:
        return tuple(p.shape for p in self.primals)

    @property
    def size(self) -> int:
        return sum(p.numel() for p in self.primals)

    def output(self, primals: Sequence[torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        state = {**self.fixed, **dict(zip(self.names, primals, strict=True))}
        return functional_call(self.model, state, (x,))

    def batch_loss(self, primals: Sequence[torch.Tensor], x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.loss_fn(self.output(primals, x), y)


def build_problem(
    model: torch.nn.Module,
    loss_fn: LossFn,
    data: Data,
    params: Sequence[str] | None,
    dtype: torch.dtype | None,
) -> Problem:
    """Validate the arguments of an operator factory and snapshot the problem."""
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not callable(loss_fn):
        raise TypeError("loss_fn must be callable as loss_fn(outputs, targets)")
    if dtype is not None and not dtype.is_floating_point:
        raise ValueError(f"dtype must be a floating dtype, got {dtype}")
    names = _select(model, params)
    named = dict(model.named_parameters())
    primals = tuple(_snapshot(named[n], dtype) for n in names)
    device = primals[0].device
    fixed = {n: _snapshot(p, dtype) for n, p in named.items() if n not in names}
    fixed.update({n: _snapshot(b, dtype) for n, b in model.named_buffers()})
    batches = _batches(data, device, dtype)
    total = sum(x.shape[0] for x, _ in batches)
    weights = tuple(x.shape[0] / total for x, _ in batches)
    return Problem(model, loss_fn, names, primals, fixed, batches, weights)


def _select(model: torch.nn.Module, params: Sequence[str] | None) -> tuple[str, ...]:
    named = dict(model.named_parameters())
    if params is None:
        names = tuple(n for n, p in named.items() if p.requires_grad)
    else:
        if isinstance(params, str):
            raise TypeError("params must be a list of parameter names, not a single string")
        names = tuple(params)
        unknown = [n for n in names if n not in named]
        if unknown:
            raise ValueError(f"params has names the model does not have: {unknown}; known: {list(named)}")
        if len(set(names)) != len(names):
            raise ValueError(f"params lists a name twice: {list(names)}")
    if not names:
        raise ValueError("params selects no parameters")
    bad = [n for n in names if not named[n].is_floating_point()]
    if bad:
        raise ValueError(f"params must be floating point tensors: {bad}")
    return names


def _snapshot(t: torch.Tensor, dtype: torch.dtype | None) -> torch.Tensor:
    # A copy, so that training the model later does not change the operator.
    cast = dtype if (dtype is not None and t.is_floating_point()) else t.dtype
    return t.detach().to(dtype=cast, copy=True)


def _batches(data: Data, device: torch.device, dtype: torch.dtype | None) -> tuple[tuple[torch.Tensor, torch.Tensor], ...]:
    if isinstance(data, tuple) and len(data) == 2 and all(isinstance(t, torch.Tensor) for t in data):
        pairs: Iterable = [data]
    else:
        pairs = data
    batches = []
    for pair in pairs:
        if not (isinstance(pair, (tuple, list)) and len(pair) == 2 and all(isinstance(t, torch.Tensor) for t in pair)):
            raise TypeError("data must be a tuple (X, Y) of tensors or an iterable of (x, y) tensor batches")
        x, y = pair
        if x.shape[0] != y.shape[0]:
            raise ValueError(f"a batch has {x.shape[0]} inputs but {y.shape[0]} targets")
        batches.append((_to(x, device, dtype), _to(y, device, dtype)))
    if not batches or sum(x.shape[0] for x, _ in batches) == 0:
        raise ValueError("data holds no examples")
    return tuple(batches)


def _to(t: torch.Tensor, device: torch.device, dtype: torch.dtype | None) -> torch.Tensor:
    cast = dtype if (dtype is not None and t.is_floating_point()) else t.dtype
    return t.detach().to(device=device, dtype=cast)


@contextlib.contextmanager
def eval_mode(model: torch.nn.Module) -> Iterator[None]:
    """Put every submodule in eval mode, then restore each one's own flag."""
    flags = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield
    finally:
        for m, flag in flags:
            m.training = flag


def flatten(tensors: Sequence[torch.Tensor], lead: int = 0) -> torch.Tensor:
    """Concatenate tensors, each flattened row-major, into one vector.

    With ``lead=1`` the first dimension is a batch dimension and is kept (``k × P``).
    """
    return torch.cat([t.reshape(*t.shape[:lead], -1) for t in tensors], dim=-1)


def unflatten(v: torch.Tensor, shapes: Sequence[torch.Size]) -> tuple[torch.Tensor, ...]:
    """Split a flat vector (or a ``k × P`` block, leading dim kept) into tensors of ``shapes``."""
    lead = v.shape[:-1]
    sizes = [s.numel() for s in shapes]
    return tuple(c.reshape(*lead, *s) for c, s in zip(torch.split(v, sizes, dim=-1), shapes, strict=True))


@functools.cache
def prepare_forward_ad() -> None:
    """Run one tiny forward-mode product so that torch loads its JVP decompositions now.

    On first use torch scripts them with ``torch.jit.script``, which emits a
    ``DeprecationWarning`` from inside torch (torch 2.13) that says nothing about
    the caller's code; it is silenced here, once, and nowhere else.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*torch\.jit\.script.* is deprecated", category=DeprecationWarning)
        jvp(torch.sin, (torch.zeros(1),), (torch.ones(1),))
