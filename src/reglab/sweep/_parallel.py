"""MLP members trained side by side on the CPU's cores: one thread per core, a segment of a member's steps per call.

At small mini-batches on a CPU the batched formulation (:mod:`reglab.sweep._mlp`)
is bound by memory traffic, not arithmetic: every step of the stack reads and
writes every member's weights (5.4 MB for five 784-256-256-10 networks), more
than a core's L2 cache holds, while a hand-written loop keeps its one network
(1.1 MB) cache-resident for the whole epoch. So on a CPU, for MLPs trained with
SGD (plain, momentum, Nesterov), the engine trains the members the other way round: member by member,
a segment of consecutive steps at a time, with the members spread over threads,
one per core (torch's thread count; every op on one intra-op thread, or on
threads // M when there are fewer members M than threads). A segment
is one call of a TorchScript function (:func:`sgd_segment`), which runs without
Python's GIL, so the threads really run at once, and which does by hand what
the notes' backpropagation equations say (BP1–BP4), for plain SGD::

    z_l = h_{l−1} W_lᵀ + b_l,  h_l = φ(z_l)                     the forward pass
    δ_L = (softmax(z_L) − onehot(y)) / B                        BP1 for the mean cross-entropy
    δ_{l−1} = (δ_l W_l) ⊙ φ'(z_{l−1})                           BP2, with W_l before its step
    W_l ← c_W·W_l − η·δ_lᵀ h_{l−1},  b_l ← c_b·b_l − η·δ_lᵀ1    BP3/BP4 and the SGD step in one addmm_/addmv_

with c = 1 − η·α for L2 (α on the mean loss, the old weights), Π(1 − η·wd) for
decoupled decay (see :meth:`VectorizedTrainer._decay`); with momentum (and Nesterov's)
the gradient δ_lᵀh_{l−1} + α·W_l is formed and torch.optim.SGD's step taken. Members are independent,
so which thread runs which segment changes nothing: a member's numbers are the
same bit for bit whatever the schedule and whatever the thread count, as long as
there are at least as many members as threads (a test), and equal its
separate :func:`reglab.train.train` run up to the rounding of matrix products.

TorchScript (``torch.jit.script``) is deprecated in torch 2.x but still ships;
it is the one way in torch to run a loop of ops without the GIL and without a
C++ compiler at install time (``torch.compile`` needs one, and tens of seconds
to compile). Where it is missing or refuses the function, the same function
runs as Python: the numbers are the same, only the threads then take turns.
"""

from __future__ import annotations

import contextlib
import functools
import queue
import threading
import warnings
from collections.abc import Iterator, Sequence
from typing import Callable, List

import torch
from torch import nn

__all__ = ["ACTIVATION_CODES", "THREAD_COUNT_LOCK", "MemberThreads", "compiled_segment", "sgd_segment", "SEGMENT_STEPS"]

SEGMENT_STEPS = 50  # steps of one member per call: the threads balance to within a segment
ACTIVATION_CODES: dict[type, int] = {nn.ReLU: 1, nn.Tanh: 2, nn.Sigmoid: 3}  # 0: none (identity)


def _momentum_step(w: torch.Tensor, delta: torch.Tensor, h_in: torch.Tensor, scratch: torch.Tensor,
                   buf: torch.Tensor, decay: float, l2: float, lr: float, momentum: float, nesterov: bool) -> None:
    """torch.optim.SGD's momentum step on ``w`` for the gradient ``δᵀh + α·w``, after the decay ``w ← decay·w``.

    ``buf ← μ·buf + g`` with the buffer at zero before the first step (torch's ``buf = g``
    exactly); then ``w ← decay·w − η·buf``, or with Nesterov ``− η·(g + μ·buf)``. Without
    Nesterov, g is never stored: the buffer takes ``δᵀh`` in one ``addmm_`` with β = μ.
    """
    if nesterov:
        g = torch.addmm(w, delta.t(), h_in, beta=l2, out=scratch)
        buf.mul_(momentum).add_(g)
        g.add_(buf, alpha=momentum)
        if decay != 1.0:
            w.mul_(decay)
        w.add_(g, alpha=-lr)
    else:
        buf.addmm_(delta.t(), h_in, beta=momentum)
        if l2 != 0.0:
            buf.add_(w, alpha=l2)
        if decay != 1.0:
            w.mul_(decay)
        w.add_(buf, alpha=-lr)


def sgd_segment(x: torch.Tensor, onehot: torch.Tensor, targets: torch.Tensor, order: torch.Tensor,
                weights: List[torch.Tensor], biases: List[torch.Tensor], has_bias: List[bool],
                activations: List[int], weight_beta: List[float], bias_beta: List[float],
                weight_l2: List[float], bias_l2: List[float], lr: float, momentum: float, nesterov: bool,
                weight_scratch: List[torch.Tensor], bias_scratch: List[torch.Tensor],
                weight_bufs: List[torch.Tensor], bias_bufs: List[torch.Tensor],
                batch_size: int, start: int, stop: int, ones: torch.Tensor, losses: torch.Tensor) -> None:
    """Steps ``start…stop−1`` of one member's epoch, in place on its weights; each step's mean loss into ``losses``.

    ``order`` is the member's permutation of the training set for this epoch (step s
    takes ``order[s·B : (s+1)·B]``, the last batch possibly smaller); ``x`` (n, in) and
    ``onehot`` (n, classes) the training inputs and one-hot labels, ``targets`` the labels.
    Layer l computes ``x Wᵀ + b`` then activation code ``activations[l]`` (0 none,
    1 ReLU, 2 tanh, 3 sigmoid); ``ones`` is a vector of at least ``batch_size`` ones.

    Plain SGD (``momentum == 0``): ``weight_beta``/``bias_beta`` hold each tensor's fused
    factor c (L2 and decay in one), and the other lists may be empty. With momentum
    (Nesterov's too): ``weight_beta``/``bias_beta`` hold the decoupled decay's
    Π(1 − η·wd), ``weight_l2``/``bias_l2`` the summed L2 strengths α (on the mean loss),
    the scratch tensors receive each gradient ∇C₀ + α·w and the buffers are the
    momentum buffers (zero before the first step), all shaped like their parameters.
    """
    n = order.size(0)
    layers = len(weights)
    for s in range(start, stop):
        lo = s * batch_size
        hi = min(lo + batch_size, n)
        size = hi - lo
        idx = order[lo:hi]
        h = x.index_select(0, idx)
        outs: List[torch.Tensor] = [h]
        for i in range(layers):
            if has_bias[i]:
                z = torch.addmm(biases[i], h, weights[i].t())
            else:
                z = torch.mm(h, weights[i].t())
            code = activations[i]
            if code == 1:
                z = z.clamp_min_(0.0)
            elif code == 2:
                z = z.tanh_()
            elif code == 3:
                z = z.sigmoid_()
            h = z
            outs.append(h)
        logp = torch.log_softmax(h, 1)
        losses[s] = torch.nn.functional.nll_loss(logp, targets.index_select(0, idx))
        delta = logp.exp_().sub_(onehot.index_select(0, idx)).div_(size)  # BP1
        for i in range(layers - 1, -1, -1):
            h_in = outs[i]
            back = delta
            if i > 0:  # BP2 with the weights before their step
                back = torch.mm(delta, weights[i])
                code = activations[i - 1]
                if code == 1:
                    back = torch.ops.aten.threshold_backward(back, h_in, 0.0)
                elif code == 2:
                    back = torch.ops.aten.tanh_backward(back, h_in)
                elif code == 3:
                    back = torch.ops.aten.sigmoid_backward(back, h_in)
            if momentum == 0.0:
                weights[i].addmm_(delta.t(), h_in, beta=weight_beta[i], alpha=-lr)  # BP4 and the step
                if has_bias[i]:
                    biases[i].addmv_(delta.t(), ones[:size], beta=bias_beta[i], alpha=-lr)  # BP3 and the step
            else:  # BP4 (and BP3, the bias as a weight on an input of ones) inside the momentum step
                _momentum_step(weights[i], delta, h_in, weight_scratch[i], weight_bufs[i], weight_beta[i],
                               weight_l2[i], lr, momentum, nesterov)
                if has_bias[i]:
                    _momentum_step(biases[i].unsqueeze(1), delta, ones[:size].unsqueeze(1),
                                   bias_scratch[i].unsqueeze(1), bias_bufs[i].unsqueeze(1), bias_beta[i],
                                   bias_l2[i], lr, momentum, nesterov)
            delta = back


@functools.cache
def compiled_segment() -> tuple[Callable[..., None], bool]:
    """:func:`sgd_segment` through TorchScript (True), or the Python function itself where that fails (False)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch.jit.script's DeprecationWarning (see the module docstring)
            scripted = torch.jit.script(sgd_segment)
    except Exception:
        return sgd_segment, False
    return scripted, not isinstance(scripted, type(sgd_segment))  # PYTORCH_JIT=0 hands back the function


THREAD_COUNT_LOCK = threading.Lock()  # held while a pass runs its members at its own intra-op count


@contextlib.contextmanager
def _intra_op_threads(count: int) -> Iterator[None]:
    """torch's intra-op threads at ``count`` while a pass runs its members, then back to the calling thread's.

    torch's count is partly per thread (OpenMP keeps one per thread, MKL one per process),
    so passes in threads of one process take turns here rather than overlap, and code that
    sets the count while passes may run (a Dask task's start) takes ``THREAD_COUNT_LOCK``.
    """
    with THREAD_COUNT_LOCK:
        previous = torch.get_num_threads()
        torch.set_num_threads(count)
        try:
            yield
        finally:
            torch.set_num_threads(previous)


class MemberThreads:
    """Run every member's steps ``start…stop−1`` on ``threads`` threads, a segment per call.

    ``step(row, a, b)`` runs member ``row``'s steps a…b−1. Each member's segments run in
    order, one at a time; the members queue for the threads. torch's intra-op thread
    count is 1 while they run (each op on its calling thread), or ``threads // M`` when
    there are fewer members M than threads (one member on a 2-core machine: its ops use
    both cores), and is restored after; two runs in threads of one process take turns.
    An exception in a thread stops the others after their current segment and is
    raised here; so is a KeyboardInterrupt of the calling thread.
    """

    def __init__(self, threads: int) -> None:
        self.threads = max(1, threads)

    def run(self, step: Callable[[int, int, int], None], members: Sequence[int], start: int, stop: int,
            segment: int = SEGMENT_STEPS) -> None:
        if stop <= start or not members:
            return
        work: queue.SimpleQueue[tuple[int, int]] = queue.SimpleQueue()
        for row in members:
            work.put((row, start))
        stopping = threading.Event()
        errors: list[BaseException] = []

        def worker() -> None:
            with torch.no_grad(), torch.jit.optimized_execution(False):  # the plain interpreter: no profiling runs
                while not stopping.is_set():
                    try:
                        row, at = work.get_nowait()
                    except queue.Empty:
                        return
                    end = min(at + segment, stop)
                    try:
                        step(row, at, end)
                    except BaseException as exc:  # noqa: BLE001 - handed to the calling thread
                        errors.append(exc)
                        stopping.set()
                        return
                    if end < stop:
                        work.put((row, end))

        count = min(self.threads, len(members))
        with _intra_op_threads(max(1, self.threads // count)):
            if count == 1:
                worker()
            else:
                pool = [threading.Thread(target=worker, name=f"reglab-member-{k}", daemon=True) for k in range(count)]
                for t in pool:
                    t.start()
                try:
                    for t in pool:
                        t.join()
                except BaseException:
                    stopping.set()
                    for t in pool:
                        t.join()
                    raise
        if errors:
            raise errors[0]
