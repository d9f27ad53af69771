"""The vectorized engine: many runs that share data and architecture, trained in one pass.

The members' parameters are stacked along a leading member axis
(``torch.func.stack_module_state``); one mini-batch step evaluates every member
on its own batch and takes per-member gradients: for MLP templates in a batched
formulation (:mod:`reglab.sweep._mlp`: ``baddbmm`` over the stacked weights, one
backward of the sum of the members' mean losses, gradients into buffers reused
from step to step; with plain SGD the gradient is never stored, see
:meth:`VectorizedTrainer._decay`), for any other model with ``vmap`` over
``functional_call`` and ``torch.func.grad``. On a CPU, MLPs with plain SGD and
cross-entropy (L2 and decay, nothing after the optimizer step) train side by side
instead: member by member on one thread per core, whole segments of steps per
TorchScript call (:mod:`reglab.sweep._parallel`), which keeps each network in its
core's cache. Each member keeps what makes it its own run:

* its init (``build_model`` with its ``train.seed`` / ``model.init_seed``) and its
  shuffle order (a ``torch.Generator`` seeded with its ``train.seed``, drawing one
  ``randperm`` per epoch, as :class:`reglab.train.Trainer` does);
* its learning rate, and the kinds and parameters of its regularizers.

A step repeats the order of the separate loop exactly::

    g = ∇C₀(batch) [+ α·sign(w) for l1, through autograd of ops.l1_penalty]
    g += α·w for l2 (ops.l2_penalty_grad)           # add_penalty_grad
    w ← (1 − η·wd)·w for weight_decay              # pre_step
    optimizer step (SGD / momentum / Nesterov / Adam, per-member η)
    prox_l1 (threshold η·α), L2-ball and max-norm   # post_step, in chain order

Element-wise steps take each member's parameter as a broadcast column (members
of another kind keep their values exactly, through ``torch.where``); the
projections run once per distinct radius on the members that share it. So every
member computes what its separate :func:`reglab.train.train` run computes, up to
the rounding of batched matrix products (the tests hold it to 1e-6 in float64). A member whose loss or weights become
non-finite is recorded as diverged (with the separate run's reason) and dropped
from the stack; the others go on. Given run folders, each member writes a separate
run's checkpoint and per-epoch metrics there and resumes from them
(:mod:`reglab.sweep._checkpoint`).
"""

from __future__ import annotations

import copy
import dataclasses
import math
import statistics
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import torch
import torch.nn.functional as F
from torch.func import functional_call, grad_and_value, stack_module_state, vmap

from reglab.config import RunConfig
from reglab.data import Split, Splits, load_dataset
from reglab.models import build_model
from reglab.regularize import ops, select_parameters
from reglab.sweep._checkpoint import MemberCheckpoints, checkpoint_epoch
from reglab.sweep._mlp import StackedMLP, _Layer, mlp_layers
from reglab.sweep._parallel import ACTIVATION_CODES, MemberThreads, compiled_segment
from reglab.train import FINAL_KEYS, get_loss, resolve_device

__all__ = ["VectorizedTrainer", "MemberResult", "train_vectorized", "SeparateIsFaster", "PROBE_STEPS"]

PROBE_STEPS = 5  # steps of the pass that ``probe`` times (after one warm-up step)


class SeparateIsFaster(Exception):
    """Raised by a pass whose ``probe`` found separate runs faster (``--engine auto``); nothing was stored."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"a vectorized step took {seconds * 1e3:.2f} ms")
        self.seconds = seconds

_EVAL_CHUNK = 8192  # as reglab.train's evaluate: chunks weighted by size give the exact mean


@dataclass
class MemberResult:
    """One member's outcome, shaped like :class:`reglab.train.RunResult`'s fields."""

    status: str
    reason: str | None
    history: list[dict[str, float]]
    final: dict[str, float | None]
    penalized: list[str]
    duration_s: float = 0.0
    error_kind: str | None = None  # failed points: "input" (a ReglabError) or "internal" (a bug)
    resumed_from: int = 0  # the epoch of the checkpoint this training continued from (0: from the start)
    model: Any = field(default=None, repr=False)  # the trained network, when asked for (keep_models=True)


def _strength(entry: Any, n_train: int) -> float:
    return entry.alpha / n_train if entry.convention == "nielsen" else entry.alpha


class _Slot:
    """One position of the regularizer chain across the members: each member's kind and parameter."""

    def __init__(self, entries: Sequence[Any], names: list[str], n_train: int) -> None:
        self.names = names
        self.kinds = [e.kind for e in entries]
        self.value = [_strength(e, n_train) if e.kind in ("l2", "l1", "l1_prox") else
                      e.wd if e.kind == "weight_decay" else e.radius if e.kind == "l2_ball" else e.max_norm
                      for e in entries]

    def compact(self, keep: list[int]) -> None:
        self.kinds = [self.kinds[i] for i in keep]
        self.value = [self.value[i] for i in keep]


class VectorizedTrainer:
    """Train several configs that differ only in what :mod:`reglab.sweep._plan` lets vary, together.

    >>> from reglab.config import parse_config
    >>> cfgs = [parse_config({"train": {"epochs": 1, "seed": s}}) for s in (0, 1)]
    >>> [r.status for r in VectorizedTrainer(cfgs).run()]
    ['completed', 'completed']
    """

    def __init__(self, configs: Sequence[RunConfig], *, splits: Splits | None = None,
                 batched_mlp: bool = True, member_threads: bool = True,
                 run_dirs: Sequence[str | None] | None = None,
                 probe: Callable[[float], bool] | None = None) -> None:
        if not configs:
            raise ValueError("a vectorized group needs at least one config")
        self.configs = list(configs)
        tc = self.configs[0].train
        self.device = resolve_device(tc.device)
        self.dtype = torch.float64 if tc.dtype == "float64" else torch.float32
        self.splits = splits or load_dataset(self.configs[0].data)
        self.classification = self.splits.task == "classification"
        self.loss_name, self.loss_fn = get_loss(tc.loss, self.splits.task)
        n_train = len(self.splits.train)
        if n_train == 0:
            raise ValueError("the training split is empty")
        models = [build_model(c.model, self.splits.example_shape, self.splits.output_dim, seed=c.train.seed)
                  .to(device=self.device, dtype=self.dtype) for c in self.configs]
        self.template = models[0]
        params, _ = stack_module_state(models)
        self.params = {n: t.detach().clone() for n, t in params.items()}
        self.generators = [torch.Generator().manual_seed(c.train.seed) for c in self.configs]
        self.lrs = [c.train.lr for c in self.configs]
        self.weight_names = [n for n, _ in select_parameters(self.template, "weights")]
        self.slots = [_Slot([c.regularizer[j] for c in self.configs],
                            [n for n, _ in select_parameters(self.template, _mask(e.mask))], n_train)
                      for j, e in enumerate(self.configs[0].regularizer)]
        self.penalized = [n for slot in self.slots for n in slot.names]
        self.data = {name: self._to_device(getattr(self.splits, name)) for name in ("train", "val", "test")}
        self.active = list(range(len(self.configs)))  # member index of each row of the stacks
        self.results: dict[int, MemberResult] = {}
        self.histories: list[list[dict[str, float]]] = [[] for _ in self.configs]
        self.state: dict[str, dict[str, torch.Tensor]] = {}
        self.steps = 0
        self._columns: dict[Any, Any] = {}  # per-member step parameters, rebuilt after compaction
        self._xbuf: torch.Tensor | None = None
        self._ybuf: torch.Tensor | None = None
        self._onehot: torch.Tensor | None = None
        self._ones: torch.Tensor | None = None
        layers = mlp_layers(self.template) if batched_mlp else None
        self.mlp = StackedMLP(layers, self.params, self.loss_fn) if layers else None
        self.checkpoints = (MemberCheckpoints(self.configs, list(run_dirs), self._splits_as_trained())
                            if run_dirs is not None and any(d is not None for d in run_dirs) else None)
        self.resumed_from = self._resume() if self.checkpoints is not None else 0
        self.probe = probe
        self._probe_start, self._probe_times = 0.0, []
        kinds = {k for slot in self.slots for k in slot.kinds}
        self.fused_sgd = self.mlp is not None and tc.optimizer == "sgd" and tc.momentum == 0.0 and "l1" not in kinds
        self.threads = (torch.get_num_threads() if member_threads and self.mlp is not None and tc.optimizer == "sgd"
                        and "l1" not in kinds and self.device.type == "cpu" and self.loss_fn is F.cross_entropy
                        and not self._has_post_step() else 0)
        if self.threads:
            self.formulation = (f"MLP members side by side on {min(self.threads, len(self.configs))} thread(s), "
                                f"{'fused SGD' if self.fused_sgd else 'SGD with momentum'}"
                                f"{' (TorchScript)' if compiled_segment()[1] else ''}")
        else:
            self.formulation = ("batched MLP, fused SGD" if self.fused_sgd else "batched MLP" if self.mlp is not None
                                else "vmap + functional_call")

    def _has_post_step(self) -> bool:
        """Whether any member has work after the optimizer step (prox-L1, an L2 ball, a max-norm)."""
        return any((k == "l1_prox" and v != 0.0) or (k in ("l2_ball", "max_norm") and not math.isinf(v))
                   for slot in self.slots if slot.names for k, v in zip(slot.kinds, slot.value))

    def _splits_as_trained(self) -> Splits:
        """The splits with the tensors this pass trains on (device, dtype), so that the members'
        checkpoint trainers share them instead of each converting its own copy."""
        if all(self.data[n][0] is getattr(self.splits, n).x for n in self.data):
            return self.splits
        return dataclasses.replace(self.splits, **{n: Split(*self.data[n]) for n in self.data})

    def _resume(self) -> int:
        """Continue every member from its checkpoint; they must all stop at one epoch (the caller groups them)."""
        assert self.checkpoints is not None
        epochs = {checkpoint_epoch(d) for d in self.checkpoints.run_dirs}
        if len(epochs) != 1:
            raise ValueError(f"members of one pass must resume from the same epoch; their checkpoints are at {epochs}")
        epoch = epochs.pop()
        if epoch == 0:
            for m in range(len(self.configs)):
                self.checkpoints.reset_metrics(m)
            return 0
        for m in range(len(self.configs)):
            params, opt_state, history, generator = self.checkpoints.load(m)
            for name, t in params.items():
                self.params[name][m].copy_(t)
                for key, value in opt_state[name].items():
                    stack = self.state.setdefault(name, {}).get(key)
                    if stack is None:
                        stack = self.state[name][key] = torch.zeros_like(self.params[name])
                    stack[m].copy_(value)
            self.generators[m].set_state(generator)
            self.histories[m] = history
            self.checkpoints.truncate_metrics(m, history)
        if any("exp_avg" in s for s in self.state.values()):
            for s in self.state.values():
                s["denom"] = torch.empty_like(s["exp_avg"])
        n, bs = len(self.data["train"][0]), self.configs[0].train.batch_size
        self.steps = epoch * math.ceil(n / bs)
        return epoch

    def _to_device(self, split: Any) -> tuple[torch.Tensor, torch.Tensor]:
        y = split.y.to(self.device)
        return split.x.to(self.device, self.dtype), (y if y.dtype == torch.int64 else y.to(self.dtype))

    @property
    def epoch(self) -> int:
        return max((len(h) for h in self.histories), default=0)

    # ---- one step -------------------------------------------------------------------------------
    def _loss(self, p: dict[str, torch.Tensor], x: torch.Tensor, y: torch.Tensor,
              l1_alpha: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        data_loss = self.loss_fn(functional_call(self.template, p, (x,)), y)
        loss = data_loss
        for j, slot in enumerate(s for s in self.slots if "l1" in s.kinds):
            loss = loss + ops.l1_penalty([p[n] for n in slot.names], l1_alpha[j])
        return loss, data_loss

    def _l1_alphas(self) -> torch.Tensor:
        cols = [[v if k == "l1" else 0.0 for k, v in zip(s.kinds, s.value)] for s in self.slots if "l1" in s.kinds]
        table = torch.tensor(cols, dtype=self.dtype, device=self.device).reshape(len(cols), len(self.active))
        return table.T.contiguous()

    def _grads(self, xb: torch.Tensor, yb: torch.Tensor, l1_alpha: torch.Tensor
               ) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """Every member's gradient of its mean data loss (+ its L1 term) on its batch, and its data loss."""
        if self.mlp is None:
            grads, (_, data_loss) = vmap(grad_and_value(self._loss, has_aux=True))(self.params, xb, yb, l1_alpha)
            return grads, data_loss
        grads, data_loss = self.mlp.grads(self.params, xb, yb)
        for slot in self.slots:  # + α·sign(w): autograd's derivative of ops.l1_penalty (0 at w = 0)
            column = self._column(slot, "l1", lambda lr, alpha: alpha)
            if column is not None:
                for n in slot.names:
                    grads[n].addcmul_(_per_member(column, grads[n]), self.params[n].sign())
        return grads, data_loss

    def _batch(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Each member's mini-batch (M, B, …), gathered into buffers reused from step to step."""
        x, y = self.data["train"]
        members, size = idx.shape
        flat = idx.reshape(-1)
        if self._xbuf is None or self._xbuf.shape[0] < flat.numel():
            self._xbuf = torch.empty((flat.numel(), *x.shape[1:]), dtype=x.dtype, device=x.device)
            self._ybuf = torch.empty((flat.numel(), *y.shape[1:]), dtype=y.dtype, device=y.device)
        xb = torch.index_select(x, 0, flat, out=self._xbuf[: flat.numel()])
        yb = torch.index_select(y, 0, flat, out=self._ybuf[: flat.numel()])
        return xb.view(members, size, *x.shape[1:]), yb.view(members, size, *y.shape[1:])

    @torch.no_grad()
    def _step(self, idx: torch.Tensor, l1_alpha: torch.Tensor) -> torch.Tensor:
        xb, yb = self._batch(idx)
        if self.fused_sgd:  # plain SGD on an MLP: L2 and decay folded into one update per weight matrix
            _, lr_column = self._lr_column()
            data_loss = self.mlp.sgd_step(self.params, xb, yb, self.lrs_active, lr_column, self._decay())
            self.steps += 1
            for slot in self.slots:
                self._post_step(slot)
            return data_loss
        grads, data_loss = self._grads(xb, yb, l1_alpha)
        for slot in self.slots:
            column = self._column(slot, "l2", lambda lr, alpha: alpha)
            if column is not None:  # g += α·w (ops.l2_penalty_grad's term); members without L2 here add 0·w
                alpha = column
                for n in slot.names:
                    grads[n].addcmul_(_per_member(alpha, grads[n]), self.params[n])
        for slot in self.slots:
            column = self._column(slot, "weight_decay", lambda lr, wd: 1.0 - lr * wd)
            if column is not None:
                for n in slot.names:
                    w = self.params[n]
                    w.mul_(_per_member(column, w))  # members without decay are multiplied by exactly 1
        self._optimizer_step(grads)
        for slot in self.slots:
            self._post_step(slot)
        return data_loss.detach()

    @property
    def lrs_active(self) -> list[float]:
        return [self.lrs[m] for m in self.active]

    def _column(self, slot: _Slot, kind: str, value: Callable[[float, float], float]) -> torch.Tensor | None:
        """``value(lr, parameter)`` per member (an (M,) tensor), or None when no member of ``kind`` has a
        non-zero parameter (the separate pieces skip a zero strength, too).

        Members that do not take the step get ``value(lr, 0)``, which leaves them exactly as
        they are (α = 0 adds 0·w, a factor 1 − η·0 = 1, a threshold 0), so one pass over the
        whole stack serves a group that mixes kinds (up to the sign of a zero).
        """
        key = (id(slot), kind)
        if key not in self._columns:
            rows = [k == kind and v != 0.0 for k, v in zip(slot.kinds, slot.value)]
            values = [value(lr, v) if on else value(lr, 0.0) for lr, v, on in zip(self.lrs_active, slot.value, rows)]
            self._columns[key] = torch.tensor(values, dtype=self.dtype, device=self.device) if any(rows) else None
        return self._columns[key] if slot.names else None

    def _post_step(self, slot: _Slot) -> None:
        column = self._column(slot, "l1_prox", lambda lr, alpha: lr * alpha)
        if column is not None:
            threshold = column
            for n in slot.names:
                w = self.params[n]
                w.copy_(ops.prox_l1(w, _per_member(threshold, w)))  # threshold 0: w itself
        for radius, rows in _groups(slot, "l2_ball", skip=math.isinf):
            if not slot.names:
                continue
            taken = [_take(self.params[n], rows) for n in slot.names]
            projected = vmap(lambda *ts, r=radius: tuple(ops.project_l2_ball(list(ts), r)))(*taken)
            for n, new in zip(slot.names, projected):
                _update(self.params[n], rows, lambda w, new=new: new)
        for c, rows in _groups(slot, "max_norm", skip=math.isinf):
            for n in slot.names:
                _update(self.params[n], rows, lambda w, c=c: vmap(lambda t: ops.project_max_norm(t, c, 0))(w))

    def _decay(self) -> dict[str, tuple[list[float], torch.Tensor]]:
        """Per tensor, each member's factor c in w ← c·w − η·∇C₀ (plain SGD; see StackedMLP.sgd_step).

        The separate loop adds α·w to the gradient (L2, on the weights before the step),
        multiplies w by 1 − η·wd (decoupled decay), then steps: in exact arithmetic
        c = Π(1 − η·wd) − η·Σα over the slots that hold the tensor (:meth:`_decay_and_l2`).
        A tensor whose factor is 1 for every member is left out.
        """
        if "decay" not in self._columns:
            fused = {n: [d - lr * a for d, a, lr in zip(decay, l2, self.lrs_active)]
                     for n, (decay, l2) in self._decay_and_l2().items()}
            self._columns["decay"] = {n: (c, torch.tensor(c, dtype=self.dtype, device=self.device))
                                      for n, c in fused.items() if any(f != 1.0 for f in c)}
        return self._columns["decay"]

    def _decay_and_l2(self) -> dict[str, tuple[list[float], list[float]]]:
        """Per tensor, each member's decoupled-decay factor Π(1 − η·wd) and summed L2 strength Σα (with momentum
        side by side: the gradient ∇C₀ + Σα·w, then the decay, then torch's momentum step; fused in ``_decay``)."""
        lrs = self.lrs_active
        out = {n: ([1.0] * len(lrs), [0.0] * len(lrs)) for n in self.params}
        for slot in self.slots:
            for n in slot.names:
                decay, l2 = out[n]
                for row, (k, v) in enumerate(zip(slot.kinds, slot.value)):
                    if k == "weight_decay" and v != 0.0:
                        decay[row] *= 1.0 - lrs[row] * v
                    elif k == "l2":
                        l2[row] += v
        return out

    def _lr_column(self) -> tuple[float | None, torch.Tensor]:
        """The one learning rate when every member shares it (else None), and the (M,) column."""
        if "lr" not in self._columns:
            lrs = self.lrs_active
            self._columns["lr"] = (lrs[0] if all(lr == lrs[0] for lr in lrs) else None,
                                   torch.tensor(lrs, dtype=self.dtype, device=self.device))
        return self._columns["lr"]

    def _optimizer_step(self, grads: dict[str, torch.Tensor]) -> None:
        """torch.optim.SGD / Adam's update, per member (its own η), in place on the stacks."""
        tc = self.configs[0].train
        uniform, lr_col = self._lr_column()
        self.steps += 1
        if tc.optimizer != "sgd":
            beta1, beta2 = tc.betas
            bias_correction1 = 1 - beta1**self.steps
            bias_correction2_sqrt = (1 - beta2**self.steps) ** 0.5
        for n, p in self.params.items():
            g, state = grads[n], self.state.setdefault(n, {})
            col = _per_member(lr_col, p)
            if tc.optimizer == "sgd":
                if tc.momentum != 0.0:
                    buf = state.get("momentum")
                    if buf is None:
                        buf = state["momentum"] = g.clone()
                    else:
                        buf.mul_(tc.momentum).add_(g)
                    g = g.add_(buf, alpha=tc.momentum) if tc.nesterov else buf
                if uniform is not None:
                    p.add_(g, alpha=-uniform)
                else:
                    p.addcmul_(g, col, value=-1)
                continue
            if "exp_avg" not in state:
                state["exp_avg"], state["exp_avg_sq"] = torch.zeros_like(p), torch.zeros_like(p)
                state["denom"] = torch.empty_like(p)  # scratch, reused every step
            exp_avg, exp_avg_sq, denom = state["exp_avg"], state["exp_avg_sq"], state["denom"]
            exp_avg.lerp_(g, 1 - beta1)
            exp_avg_sq.mul_(beta2).addcmul_(g, g, value=1 - beta2)
            torch.sqrt(exp_avg_sq, out=denom).div_(bias_correction2_sqrt).add_(1e-8)  # torch.optim.Adam's eps
            if uniform is not None:
                p.addcdiv_(exp_avg, denom, value=-(uniform / bias_correction1))
            else:
                p.addcmul_(torch.div(exp_avg, denom, out=denom), col, value=-1 / bias_correction1)

    # ---- one epoch ------------------------------------------------------------------------------
    def run_epoch(self) -> None:
        """Train every live member one epoch, measure it, and retire the members that diverged."""
        start = time.perf_counter()
        n, bs = len(self.data["train"][0]), self.configs[0].train.batch_size
        orders = torch.stack([torch.randperm(n, generator=self.generators[m]) for m in self.active]).to(self.device)
        if self.threads:
            step_losses = self._side_by_side_epoch(orders)
        else:
            l1_alpha = self._l1_alphas()
            losses = []
            for k, i in enumerate(range(0, n, bs)):
                if self.probe is not None and 1 <= k <= 1 + PROBE_STEPS:
                    self._check_probe(k)
                losses.append(self._step(orders[:, i : i + bs], l1_alpha))
            step_losses = torch.stack(losses)  # (steps, members)
        self.probe = None  # the first epoch only
        epoch = self.epoch + 1
        metrics = self._measure(epoch)
        keep: list[int] = []
        for row, m in enumerate(self.active):
            lr = self.lrs[m]
            bad = (~torch.isfinite(step_losses[:, row])).nonzero()
            if len(bad):
                step = int(bad[0]) + 1
                value = float(step_losses[step - 1, row])
                self._retire(m, f"non-finite training loss ({value}) at epoch {epoch}, step {step} of "
                                f"{step_losses.shape[0]} (lr = {lr}); try a smaller train.lr")
                continue
            row_metrics = metrics[row]
            row_metrics["step_loss"] = float(step_losses[:, row].double().mean())
            row_metrics["epoch_time"] = time.perf_counter() - start
            if not all(math.isfinite(row_metrics[k]) for k in ("train_loss", "weight_norm")):
                self._retire(m, f"non-finite parameters or loss after epoch {epoch} (lr = {lr})")
                continue
            self.histories[m].append(row_metrics)
            keep.append(row)
            if self.checkpoints is not None:  # as a separate run: the checkpoint, then the epoch's line
                if self.checkpoints.due(m, epoch):
                    self.checkpoints.save(m, self.params, self.state, row, self.steps, self.generators[m],
                                          self.histories[m])
                self.checkpoints.append_metrics(m, row_metrics)
        if len(keep) < len(self.active):
            self._compact(keep)

    def _side_by_side_epoch(self, orders: torch.Tensor) -> torch.Tensor:
        """One epoch of every member, member by member on the threads (:mod:`reglab.sweep._parallel`);
        the step losses (steps, members). ``auto``'s probe times steps 2…1+PROBE_STEPS of all members."""
        n, bs = len(self.data["train"][0]), self.configs[0].train.batch_size
        total = math.ceil(n / bs)
        losses = torch.empty((len(self.active), total), dtype=self.dtype)
        steps = self.side_by_side_steps(orders, losses)
        runner, everyone, start = MemberThreads(self.threads), range(len(self.active)), 0
        if self.probe is not None and total > 1 + PROBE_STEPS:
            runner.run(steps, everyone, 0, 1)  # the first step warms up (the compiled function, first touches)
            begin = time.perf_counter()
            runner.run(steps, everyone, 1, 1 + PROBE_STEPS, segment=PROBE_STEPS)
            seconds = (time.perf_counter() - begin) / PROBE_STEPS
            start = 1 + PROBE_STEPS
            probe, self.probe = self.probe, None
            if not probe(seconds):
                raise SeparateIsFaster(seconds)
        runner.run(steps, everyone, start, total)
        self.steps += total
        return losses.T

    def side_by_side_steps(self, orders: torch.Tensor, losses: torch.Tensor) -> Callable[[int, int, int], None]:
        """``steps(row, a, b)``: member ``row``'s steps a…b−1 of the epoch in which it draws ``orders[row]``,
        its step losses into ``losses[row]`` (for :class:`~reglab.sweep._parallel.MemberThreads`)."""
        x, y = self.data["train"]
        bs = self.configs[0].train.batch_size
        if self._onehot is None:
            self._onehot = F.one_hot(y, self.splits.output_dim).to(self.dtype)
            self._ones = torch.ones(bs, dtype=self.dtype)
        flat = x.flatten(start_dim=1)
        tc = self.configs[0].train
        layers, lrs, members = self.mlp.layers, self.lrs_active, len(self.active)
        activations = [ACTIVATION_CODES[type(l.activation)] if l.activation is not None else 0 for l in layers]
        has_bias = [l.bias is not None for l in layers]
        empty = torch.empty(0, dtype=self.dtype)
        if self.fused_sgd:  # c = Π(1 − η·wd) − η·Σα in one factor; no gradient, no buffer
            decay = self._decay()
            coefficients = {n: (decay[n][0] if n in decay else [1.0] * members, [0.0] * members)
                            for n in self.params}
        else:
            coefficients = self._decay_and_l2()

        def rows(name: str | None, stacks: dict[str, torch.Tensor] | None = None) -> Sequence[torch.Tensor]:
            if name is None or stacks is None:
                return [empty] * members
            return stacks[name].unbind(0)

        def per_member(values: Callable[[_Layer], Sequence[Any]]) -> list[list[Any]]:
            return [list(v) for v in zip(*[values(l) for l in layers])]

        weights = per_member(lambda l: rows(l.weight, self.params))
        biases = per_member(lambda l: rows(l.bias, self.params))
        weight_beta, weight_l2 = (per_member(lambda l, k=k: coefficients[l.weight][k]) for k in (0, 1))
        unused = ([1.0] * members, [0.0] * members)  # a layer without bias: factor 1, no L2 (never read)
        bias_beta, bias_l2 = (per_member(lambda l, k=k: coefficients[l.bias][k] if l.bias else unused[k])
                              for k in (0, 1))
        if self.fused_sgd:
            scratch_w = scratch_b = bufs_w = bufs_b = [[] for _ in range(members)]
        else:
            for n, p in self.params.items():  # zero before the first step (see _parallel._momentum_step)
                if "momentum" not in self.state.setdefault(n, {}):
                    self.state[n]["momentum"] = torch.zeros_like(p)
            momentum = {n: self.state[n]["momentum"] for n in self.params}
            scratch_w = per_member(lambda l: rows(l.weight, self.mlp.buffers))
            scratch_b = per_member(lambda l: rows(l.bias, self.mlp.buffers))
            bufs_w = per_member(lambda l: rows(l.weight, momentum))
            bufs_b = per_member(lambda l: rows(l.bias, momentum))
        segment, _ = compiled_segment()

        def steps(row: int, start: int, stop: int) -> None:
            segment(flat, self._onehot, y, orders[row], weights[row], biases[row], has_bias, activations,
                    weight_beta[row], bias_beta[row], weight_l2[row], bias_l2[row], lrs[row], tc.momentum,
                    tc.nesterov, scratch_w[row], scratch_b[row], bufs_w[row], bufs_b[row], bs, start, stop,
                    self._ones, losses[row])

        return steps

    def _check_probe(self, k: int) -> None:
        """``auto``: time steps 2…1+PROBE_STEPS of the first epoch; ask the probe (their median) whether to go on."""
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        now = time.perf_counter()
        if k > 1:
            self._probe_times.append(now - self._probe_start)
        self._probe_start = now
        if k <= PROBE_STEPS:
            return
        seconds = statistics.median(self._probe_times)
        probe, self.probe = self.probe, None
        if probe is not None and not probe(seconds):
            raise SeparateIsFaster(seconds)

    def _retire(self, member: int, reason: str) -> None:
        history = self.histories[member]
        self.results[member] = MemberResult("diverged", reason, history, _final(history), self.penalized)

    def _compact(self, keep: list[int]) -> None:
        rows = torch.tensor(keep, dtype=torch.long, device=self.device)
        self.params = {n: t.index_select(0, rows) for n, t in self.params.items()}
        self.state = {n: {k: t.index_select(0, rows) for k, t in s.items()} for n, s in self.state.items()}
        for slot in self.slots:
            slot.compact(keep)
        self._columns.clear()
        self.active = [self.active[r] for r in keep]
        if self.mlp is not None:
            self.mlp.resize(self.params)

    # ---- metrics --------------------------------------------------------------------------------
    @torch.no_grad()
    def _evaluate(self, x: torch.Tensor, y: torch.Tensor) -> tuple[list[float], list[float]]:
        members, n = len(self.active), len(x)
        if n == 0:
            return [float("nan")] * members, [float("nan")] * members
        total = torch.zeros(members, dtype=torch.float64, device=self.device)
        wrong = torch.zeros(members, dtype=torch.int64, device=self.device)
        forward = (vmap(lambda p, xb: functional_call(self.template, p, (xb,)), in_dims=(0, None))
                   if self.mlp is None else lambda p, xb: self.mlp.forward(p, xb, shared=True)[-1])
        per_member_loss = vmap(self.loss_fn, in_dims=(0, None))
        for start in range(0, n, _EVAL_CHUNK):
            xb, yb = x[start : start + _EVAL_CHUNK], y[start : start + _EVAL_CHUNK]
            out = forward(self.params, xb)
            total += per_member_loss(out, yb).double() * len(xb)
            if self.classification:
                wrong += (out.argmax(dim=-1) != yb).sum(dim=-1)
        losses = [t / n for t in total.tolist()]
        errors = [w / n for w in wrong.tolist()] if self.classification else [float("nan")] * members
        return losses, errors

    @torch.no_grad()
    def _measure(self, epoch: int) -> list[dict[str, Any]]:
        """The keys and values of :meth:`reglab.train.Trainer.measure`, for every live member."""
        out: list[dict[str, Any]] = [{"epoch": epoch} for _ in self.active]
        for name, (x, y) in self.data.items():
            losses, errors = self._evaluate(x, y)
            for row, metrics in enumerate(out):
                metrics[f"{name}_loss"], metrics[f"{name}_error"] = losses[row], errors[row]
        gap_key = "error" if self.classification else "loss"
        for row, metrics in enumerate(out):
            metrics["penalty"] = self._penalty(row)
            metrics["objective"] = metrics["train_loss"] + metrics["penalty"]
            metrics["weight_norm"], metrics["sparsity"] = _weight_stats(
                [self.params[n][row] for n in self.weight_names])
            metrics["gap"] = metrics[f"test_{gap_key}"] - metrics[f"train_{gap_key}"]
            metrics["lr"] = self.lrs[self.active[row]]
        return out

    def _penalty(self, row: int) -> float:
        terms = []
        for slot in self.slots:
            kind, value = slot.kinds[row], slot.value[row]
            tensors = [self.params[n][row] for n in slot.names]
            if not tensors or kind not in ("l2", "l1", "l1_prox") or value == 0.0:
                continue
            terms.append(ops.l2_penalty(tensors, value) if kind == "l2" else ops.l1_penalty(tensors, value))
        if not terms:
            return 0.0
        return float(torch.stack(terms).sum() if len(terms) > 1 else terms[0])

    def member_model(self, member: int) -> torch.nn.Module:
        """A live member's network with its current weights: a module of its own (no storage shared with the stacks)."""
        row = self.active.index(member)
        model = copy.deepcopy(self.template)
        with torch.no_grad():
            for name, p in model.named_parameters():
                p.copy_(self.params[name][row])
        return model

    # ---- the whole run --------------------------------------------------------------------------
    def run(self, progress: Callable[[int, int], None] | None = None, *,
            keep_models: bool = False) -> list[MemberResult]:
        """Train all epochs; one result per config, in the order given (with each completed member's
        network as ``model`` when ``keep_models``)."""
        start = time.perf_counter()
        epochs = self.configs[0].train.epochs
        while self.active and self.epoch < epochs:
            self.run_epoch()
            if progress is not None:
                progress(self.epoch, epochs)
        duration = time.perf_counter() - start
        for m in self.active:
            history = self.histories[m]
            self.results[m] = MemberResult("completed", None, history, _final(history), self.penalized,
                                           model=self.member_model(m) if keep_models else None)
        for result in self.results.values():
            result.duration_s = duration
            result.resumed_from = self.resumed_from
        return [self.results[m] for m in range(len(self.configs))]


def train_vectorized(configs: Sequence[RunConfig], *, splits: Splits | None = None,
                     progress: Callable[[int, int], None] | None = None, batched_mlp: bool = True,
                     member_threads: bool = True, run_dirs: Sequence[str | None] | None = None,
                     probe: Callable[[float], bool] | None = None, keep_models: bool = False) -> list[MemberResult]:
    """Train ``configs`` in one vectorized pass (see the module docstring); one result per config.

    ``batched_mlp=False`` keeps MLPs on the generic ``vmap`` path (for comparisons);
    ``member_threads=False`` keeps CPU MLPs with SGD batched instead of side by side.
    With ``run_dirs`` (one run folder or None per config), each member writes its
    checkpoint every ``train.checkpoint_every`` epochs and its epochs' metrics there,
    as a separate run does, and members whose folder holds a checkpoint continue
    from it (all from the same epoch: see :mod:`reglab.sweep._checkpoint`). ``probe(seconds)``
    is called once with the median time of the first epoch's steps 2…1+``PROBE_STEPS``; when it
    returns False the pass stops with :class:`SeparateIsFaster` (``--engine auto``).
    ``keep_models``: each completed member's result carries its trained network (``model``).
    """
    return VectorizedTrainer(configs, splits=splits, batched_mlp=batched_mlp, member_threads=member_threads,
                             run_dirs=run_dirs, probe=probe).run(progress, keep_models=keep_models)


def _mask(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def _final(history: list[dict[str, float]]) -> dict[str, float | None]:
    last = history[-1] if history else {}
    return {k: last.get(k) for k in FINAL_KEYS}


def _weight_stats(weights: list[torch.Tensor]) -> tuple[float, float]:
    """‖w‖₂ over the tensors and the fraction of exact zeros, as :class:`reglab.train.Trainer` reports them."""
    if not weights:
        return 0.0, 0.0
    sq = sum(w.double().pow(2).sum() for w in weights)
    zeros = sum(int((w == 0).sum()) for w in weights)
    return float(sq.sqrt()), zeros / sum(w.numel() for w in weights)


def _groups(slot: _Slot, kind: str, skip: Callable[[float], bool]) -> list[tuple[float, list[int] | None]]:
    """Rows of the members with ``kind`` at this slot, grouped by their parameter (a projection's radius).

    The rows are None when a group is every member (the update then runs on the whole stack).
    """
    found: dict[float, list[int]] = {}
    for row, (k, v) in enumerate(zip(slot.kinds, slot.value)):
        if k == kind and not skip(v):
            found.setdefault(v, []).append(row)
    return [(v, None if len(rows) == len(slot.kinds) else rows) for v, rows in found.items()]


def _per_member(column: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """A (members,) column shaped to broadcast over a stacked (members, …) tensor."""
    return column.reshape((-1,) + (1,) * (like.dim() - 1))


def _take(t: torch.Tensor, rows: list[int] | None) -> torch.Tensor:
    return t if rows is None else t[rows]


def _update(t: torch.Tensor, rows: list[int] | None, fn: Callable[[torch.Tensor], torch.Tensor]) -> None:
    """t[rows] ← fn(t[rows]) in place (all of t when rows is None)."""
    if rows is None:
        t.copy_(fn(t))
    else:
        index = torch.tensor(rows, dtype=torch.long, device=t.device)
        t.index_copy_(0, index, fn(t.index_select(0, index)))
