r"""The mean training loss of a model as a function of one flat parameter vector.

:class:`Objective` owns the flat layout used everywhere in reglab (curvature
operators, ``verify``'s minimizers, the experiments): the selected parameters,
each flattened row-major, concatenated in the order given (default: every
parameter with ``requires_grad``, in ``model.named_parameters()`` order). Over
batches ``b`` with ``n_b`` of the ``N`` examples,

.. math::
    C_0(w) = \sum_b \frac{n_b}{N}\,\ell\big(f(x_b; w), y_b\big),
    \qquad C(w) = C_0(w) + \frac{\alpha}{2}\,\lVert m \odot w\rVert^2 ,

the exact mean loss even when batch sizes differ; ``m`` is the penalty mask
(``penalized``) and ``α`` the strength on the *mean* loss, the α of
:mod:`reglab.theory` (torch's ``weight_decay``; Nielsen's λ = α·n).

**Non-mutating.** The objective works on a private copy of the model (cast to
``dtype``, in eval mode, so dropout is off and batch norm uses its running
statistics) and evaluates it with ``torch.func.functional_call`` at the flat
vector it is given; the caller's model, its dtype, train/eval flags and weights
are never touched, and training it later does not change the objective.

**Chunks.** With ``batch_size`` every batch is cut into chunks of at most that
many examples, each weighted ``n_b / N`` as above, so a product holds the graph
of one chunk at a time: peak memory is set by ``batch_size``, not by ``N``, and
the sums are the one-pass values up to rounding (≈ 1e-15 relative in float64).
``device`` (``"cpu"``, ``"cuda"``, ``"auto"``) puts the copy and the data there.
"""

from __future__ import annotations

import copy
import functools
import warnings
from collections.abc import Callable, Iterable, Sequence

import torch
from torch.func import functional_call, jvp

from reglab.curvature._device import resolve_device, resolve_dtype
from reglab.errors import ConfigError
from reglab.regularize.ops import l2_penalty, l2_penalty_grad

__all__ = ["Objective", "flatten", "unflatten"]

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
Data = tuple[torch.Tensor, torch.Tensor] | Iterable[tuple[torch.Tensor, torch.Tensor]]


def flatten(tensors: Sequence[torch.Tensor], lead: int = 0) -> torch.Tensor:
    """Concatenate tensors, each flattened row-major, into one vector.

    With ``lead=1`` the first dimension is a batch dimension and is kept (``k × P``).

    >>> flatten([torch.ones(2, 2), torch.zeros(1)])
    tensor([1., 1., 1., 1., 0.])
    """
    return torch.cat([t.reshape(*t.shape[:lead], -1) for t in tensors], dim=-1)


def unflatten(v: torch.Tensor, shapes: Sequence[torch.Size]) -> tuple[torch.Tensor, ...]:
    """Split a flat vector (or a ``k × P`` block, leading dims kept) into tensors of ``shapes`` (views)."""
    lead = v.shape[:-1]
    sizes = [s.numel() for s in shapes]
    return tuple(c.reshape(*lead, *s) for c, s in zip(torch.split(v, sizes, dim=-1), shapes, strict=True))


class Objective:
    r"""The mean loss ``C₀(w)`` of ``model`` on ``data`` (and its L2-penalized ``C(w)``) on a flat vector.

    Args:
        model: the network; copied, never modified.
        loss_fn: ``loss_fn(outputs, targets)`` returning the *mean* loss of a batch.
        data: a tuple ``(X, Y)`` of tensors, or an iterable of ``(x, y)`` batches
            (weighted ``n_b / N``; read once and held).
        params: names of the parameters that make up ``w`` (default: all with
            ``requires_grad``); the others and the buffers are held at their values.
        dtype: compute in this floating dtype on cast copies (default: the model's).
        penalized: names (a subset of ``params``) whose coordinates the L2 penalty
            of :meth:`loss`/:meth:`grad` applies to; default every coordinate of ``w``.
        batch_size: cut the data into chunks of at most this many examples (the
            last one may be smaller); products and gradients run one chunk at a
            time. Default: the batches as given (one pass for a tuple ``(X, Y)``).
        device: ``"cpu"``, ``"cuda"``, ``"auto"`` (CUDA when available) or a
            :class:`torch.device`; default: the model's.

    ``names``, ``shapes``, ``size``, :meth:`vector`, :meth:`unflatten` and ``mask``
    describe the layout; ``module`` is the private eval-mode copy that is evaluated; :meth:`loss`, :meth:`grad` and :meth:`hvp` take any ``w``
    (default: the model's values when the objective was built).

    Example:
        >>> import torch
        >>> model = torch.nn.Linear(2, 1, bias=False)
        >>> X, Y = torch.eye(2), torch.zeros(2, 1)
        >>> obj = Objective(model, torch.nn.functional.mse_loss, (X, Y), dtype=torch.float64)
        >>> w = torch.tensor([1.0, 2.0], dtype=torch.float64)
        >>> obj.loss(w).item(), obj.grad(w).tolist(), obj.hvp(torch.ones(2, dtype=torch.float64)).tolist()
        (2.5, [1.0, 2.0], [1.0, 1.0])
        >>> obj.loss(w, alpha=0.5).item()  # C₀ + (0.5/2)·‖w‖²
        3.75
    """

    def __init__(self, model: torch.nn.Module, loss_fn: LossFn, data: Data, params: Sequence[str] | None = None, *,
                 dtype: torch.dtype | str | None = None, penalized: Sequence[str] | None = None,
                 batch_size: int | None = None, device: str | torch.device | None = None) -> None:
        if not isinstance(model, torch.nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        if not callable(loss_fn):
            raise TypeError("loss_fn must be callable as loss_fn(outputs, targets)")
        if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, int)
                                       or batch_size < 1):
            raise ConfigError(f"batch_size must be a positive integer or None, got {batch_size!r}",
                              field="batch_size")
        dtype = resolve_dtype(dtype)
        self.names = _select(model, params)
        self.loss_fn = loss_fn
        self.batch_size = batch_size
        self.module = _frozen_copy(model, dtype, resolve_device(device))
        named = dict(self.module.named_parameters())
        self.primals = tuple(named[n].detach().clone() for n in self.names)
        self.batches = _batches(data, self.primals[0].device, dtype, batch_size)
        total = sum(x.shape[0] for x, _ in self.batches)
        self.weights = tuple(x.shape[0] / total for x, _ in self.batches)
        self.mask = self.mask_for(self.names if penalized is None else penalized)

    # -- the layout -------------------------------------------------------------------------------------------
    @property
    def shapes(self) -> tuple[torch.Size, ...]:
        return tuple(p.shape for p in self.primals)

    @property
    def size(self) -> int:
        return sum(p.numel() for p in self.primals)

    @property
    def dtype(self) -> torch.dtype:
        return self.primals[0].dtype

    @property
    def device(self) -> torch.device:
        return self.primals[0].device

    def vector(self) -> torch.Tensor:
        """The flat ``w`` at which the objective was built (a new tensor)."""
        return flatten(self.primals)

    def unflatten(self, w: torch.Tensor) -> dict[str, torch.Tensor]:
        """Split a flat vector into a ``{name: tensor}`` dict in the parameters' shapes (views of ``w``)."""
        return dict(zip(self.names, unflatten(w, self.shapes), strict=True))

    def mask_for(self, names: Sequence[str]) -> torch.Tensor:
        """The boolean flat mask of the coordinates that belong to the parameters ``names``."""
        if isinstance(names, str):
            raise TypeError("names must be a list of parameter names, not a single string")
        unknown = sorted(set(names) - set(self.names))
        if unknown:
            raise ValueError(f"penalized parameters {unknown} are not among the objective's parameters "
                             f"{list(self.names)}")
        chosen = set(names)
        return torch.cat([torch.full((p.numel(),), n in chosen, dtype=torch.bool, device=self.device)
                          for n, p in zip(self.names, self.primals, strict=True)])

    def at(self, w: torch.Tensor) -> Objective:
        """The same objective with its point moved to ``w`` (what operators built on it are taken at)."""
        moved = copy.copy(self)
        moved.primals = tuple(t.detach().to(device=self.device, dtype=self.dtype).clone()
                              for t in unflatten(w, self.shapes))
        return moved

    # -- values -----------------------------------------------------------------------------------------------
    def output(self, primals: Sequence[torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        """``f(x; w)`` with the selected parameters given as tensors (differentiable in them)."""
        return functional_call(self.module, dict(zip(self.names, primals, strict=True)), (x,))

    def batch_loss(self, primals: Sequence[torch.Tensor], x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.loss_fn(self.output(primals, x), y)

    def over_batches(self, fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> torch.Tensor:
        """``Σ_b (n_b / N)·fn(x_b, y_b)``: the one place the batch weights are applied."""
        total = None
        for weight, (x, y) in zip(self.weights, self.batches, strict=True):
            term = weight * fn(x, y)
            total = term if total is None else total + term
        return total

    def loss(self, w: torch.Tensor | None = None, alpha: float = 0.0) -> torch.Tensor:
        """``C₀(w) + (α/2)‖m ⊙ w‖²`` as a 0-dim tensor, differentiable in ``w`` (penalty: ``ops.l2_penalty``)."""
        w = self.vector() if w is None else w
        primals = unflatten(w, self.shapes)
        value = self.over_batches(lambda x, y: self.batch_loss(primals, x, y))
        if alpha:
            value = value + l2_penalty([w * self.mask], alpha)
        return value

    def grad(self, w: torch.Tensor | None = None, alpha: float = 0.0) -> torch.Tensor:
        """The flat gradient ``∇C₀(w) + α·m ⊙ w``, one batch at a time (penalty: ``ops.l2_penalty_grad``)."""
        w = self.vector() if w is None else w.detach()

        def batch_grad(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            with torch.enable_grad():
                p = tuple(t.detach().requires_grad_() for t in unflatten(w, self.shapes))
                return flatten(torch.autograd.grad(self.batch_loss(p, x, y), p, materialize_grads=True))

        total = self.over_batches(batch_grad)
        if alpha:
            total = total + l2_penalty_grad([w * self.mask], alpha)[0]
        return total

    def hvp(self, v: torch.Tensor, w: torch.Tensor | None = None) -> torch.Tensor:
        """``∇²C₀(w) v`` by double-backward, one batch at a time (the penalized Hessian adds ``α·m ⊙ v``)."""
        point = self if w is None else self.at(w)
        tangents = unflatten(v.to(device=self.device, dtype=self.dtype), self.shapes)

        def batch_hvp(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            loss = functools.partial(point.batch_loss, x=x, y=y)
            return flatten(double_backward(loss, point.primals, [tangents])[0])

        return self.over_batches(batch_hvp)

    def outputs(self, w: torch.Tensor | None = None) -> torch.Tensor:
        """The model's outputs on every example, batches concatenated (no graph)."""
        primals = unflatten(self.vector() if w is None else w, self.shapes)
        with torch.no_grad():
            return torch.cat([self.output(primals, x) for x, _ in self.batches])

    @property
    def targets(self) -> torch.Tensor:
        return torch.cat([y for _, y in self.batches])

    def __repr__(self) -> str:
        return f"Objective(P={self.size}, batches={len(self.batches)}, dtype={self.dtype}, device={self.device})"


def double_backward(loss: Callable[[Sequence[torch.Tensor]], torch.Tensor], primals: Sequence[torch.Tensor],
                    tangent_sets: Sequence[Sequence[torch.Tensor]]) -> list[tuple[torch.Tensor, ...]]:
    """``H v`` for each ``v`` in ``tangent_sets`` from one graph of the gradient of ``loss(primals)``."""
    with torch.enable_grad():
        p = tuple(t.detach().requires_grad_() for t in primals)
        g = torch.autograd.grad(loss(p), p, create_graph=True, materialize_grads=True)
        # A gradient that is constant in the parameters has no graph; its rows of H are 0.
        live = [i for i, gi in enumerate(g) if gi.requires_grad]
        if not live:
            return [tuple(torch.zeros_like(t) for t in primals) for _ in tangent_sets]
        outputs = [g[i] for i in live]
        return [
            torch.autograd.grad(outputs, p, [v[i] for i in live], retain_graph=True, materialize_grads=True)
            for v in tangent_sets
        ]


def _frozen_copy(model: torch.nn.Module, dtype: torch.dtype | None, device: torch.device | None) -> torch.nn.Module:
    """A private copy of ``model`` in eval mode (cast to ``dtype``), so the caller's is never modified."""
    clone = copy.deepcopy(model)
    for p in clone.parameters():
        # Held values: products differentiate only the tensors passed in, never these.
        p.grad = None
        p.requires_grad_(False)
    if dtype is not None:
        clone = clone.to(dtype=dtype)
    if device is not None:
        clone = clone.to(device=device)
    return clone.eval()


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


def _batches(data: Data, device: torch.device, dtype: torch.dtype | None,
             batch_size: int | None = None) -> tuple[tuple[torch.Tensor, torch.Tensor], ...]:
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
        x, y = _to(x, device, dtype), _to(y, device, dtype)
        if batch_size is None:
            batches.append((x, y))
        else:  # views of the held tensors: chunking costs no copy
            batches.extend(zip(x.split(batch_size), y.split(batch_size), strict=True))
    if not batches or sum(x.shape[0] for x, _ in batches) == 0:
        raise ValueError("data holds no examples")
    return tuple(batches)


def _to(t: torch.Tensor, device: torch.device, dtype: torch.dtype | None) -> torch.Tensor:
    cast = dtype if (dtype is not None and t.is_floating_point()) else t.dtype
    return t.detach().to(device=device, dtype=cast)


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
