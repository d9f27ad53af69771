"""The CPU formulation for MLPs with SGD: members side by side on threads, each its own separate run.

References: each member's separate ``reglab.train.train`` run (float64, to 1e-6), and the
same function run as plain Python instead of TorchScript; a member's numbers must not
depend on the thread count or on how its epoch is cut into segments (bit for bit).
"""

from __future__ import annotations

import threading

import pytest
import torch

from reglab.config import parse_config
from reglab.sweep import VectorizedTrainer, train_vectorized
from reglab.train import train
from reglab.sweep._engine import SeparateIsFaster
from reglab.sweep._parallel import MemberThreads, compiled_segment, sgd_segment

from test_sweep_engine import _splits, assert_same_as_separate, cfg


def mlp(reg, *, activation="relu", bias=True, hidden=(12, 7), **kw):
    base = cfg(reg, hidden=hidden, **kw)
    return parse_config({**base.model_dump(), "model": {**base.model.model_dump(), "activation": activation,
                                                         "bias": bias}})


def _side_by_side(configs, **kw):
    trainer = VectorizedTrainer(configs, splits=_splits(), **kw)
    assert trainer.formulation.startswith("MLP members side by side"), trainer.formulation
    return trainer


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid"])
def test_members_equal_their_separate_runs(activation):
    """L2 (both conventions), decoupled decay, per-member η and seeds, three epochs with a last short batch
    (150 = 4·32 + 22); then chains of L2 on every tensor (mask "all": biases decay too) and decay.
    (Members of one pass share their masks: the planner groups them so.)"""
    configs = [
        mlp([{"kind": "l2", "alpha": 1e-2}], activation=activation, seed=0, lr=0.1, epochs=3),
        mlp([{"kind": "l2", "alpha": 3.0, "convention": "nielsen"}], activation=activation, seed=1, lr=0.05, epochs=3),
        mlp([{"kind": "weight_decay", "wd": 1e-1}], activation=activation, seed=2, lr=0.1, epochs=3),
        mlp([{"kind": "l2", "alpha": 0.0}], activation=activation, seed=3, lr=0.2, epochs=3),
    ]
    trainer = _side_by_side(configs)
    assert_same_as_separate(configs, trainer.run())
    chains = [mlp([{"kind": "l2", "alpha": 1e-2, "mask": "all"}, {"kind": "weight_decay", "wd": 5e-2}],
                  activation=activation, seed=s, lr=lr) for s, lr in ((0, 0.1), (1, 0.03))]
    assert_same_as_separate(chains, _side_by_side(chains).run())


@pytest.mark.parametrize("nesterov", [False, True])
def test_momentum_and_nesterov_members_equal_their_separate_runs(nesterov):
    """torch.optim.SGD's momentum after L2 (gradient + α·w) and decoupled decay (on w), per-member η."""
    configs = [
        mlp([{"kind": "l2", "alpha": 1e-2}], seed=0, lr=0.05, momentum=0.9, nesterov=nesterov, epochs=3),
        mlp([{"kind": "weight_decay", "wd": 1e-1}], seed=1, lr=0.02, momentum=0.9, nesterov=nesterov, epochs=3),
        mlp([{"kind": "l2", "alpha": 0.0}], seed=2, lr=0.05, momentum=0.9, nesterov=nesterov, epochs=3),
        mlp([{"kind": "l2", "alpha": 3.0, "convention": "nielsen"}], seed=3, lr=0.01, momentum=0.9,
            nesterov=nesterov, epochs=3, activation="tanh"),
    ]
    trainer = _side_by_side(configs[:3])
    assert trainer.formulation.startswith("MLP members side by side on 1 thread(s), SGD with momentum")
    assert_same_as_separate(configs[:3], trainer.run())
    assert_same_as_separate(configs[3:], _side_by_side(configs[3:]).run())
    chains = [mlp([{"kind": "l2", "alpha": 1e-2, "mask": "all"}, {"kind": "weight_decay", "wd": 5e-2}],
                  seed=s, lr=0.03, momentum=0.5, nesterov=nesterov, bias=b) for s, b in ((0, True), (1, True))]
    assert_same_as_separate(chains, _side_by_side(chains).run())


def test_without_biases_a_deeper_net_and_one_member():
    configs = [mlp([{"kind": "l2", "alpha": a}], bias=False, hidden=(9, 8, 7), seed=s, batch_size=16)
               for a, s in ((1e-2, 0), (0.0, 1), (3e-3, 2))]
    assert_same_as_separate(configs, _side_by_side(configs).run())
    one = [mlp([{"kind": "weight_decay", "wd": 1e-2}], seed=5)]
    assert_same_as_separate(one, _side_by_side(one).run())


def test_where_it_does_not_apply_the_batched_formulation_runs():
    post = [mlp([{"kind": "l1_prox", "alpha": 1e-2}], seed=0), mlp([{"kind": "max_norm", "max_norm": 0.5}], seed=1)]
    assert VectorizedTrainer(post, splits=_splits()).formulation == "batched MLP, fused SGD"
    adam = [mlp([{"kind": "l2", "alpha": 1e-2}], seed=s, optimizer="adam", lr=1e-3) for s in (0, 1)]
    assert VectorizedTrainer(adam, splits=_splits()).formulation == "batched MLP"
    l1 = [mlp([{"kind": "l1", "alpha": 1e-3}], seed=s) for s in (0, 1)]
    assert VectorizedTrainer(l1, splits=_splits()).formulation == "batched MLP"
    inert = [mlp([{"kind": "l1_prox", "alpha": 0.0}], seed=0), mlp([{"kind": "l2_ball", "radius": float("inf")}],
                                                                    seed=1)]
    assert_same_as_separate(inert, _side_by_side(inert).run())  # no post-step work: side by side


def _trained_weights(configs, threads):
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        trainer = VectorizedTrainer(configs, splits=_splits())
        trainer.run()
        return trainer, {n: t.clone() for n, t in trainer.params.items()}
    finally:
        torch.set_num_threads(previous)


def test_bit_for_bit_the_same_on_one_thread_or_two_and_for_any_segment_length(monkeypatch):
    configs = [mlp([{"kind": "l2", "alpha": a}], seed=s, lr=lr, epochs=2)
               for a, s, lr in ((1e-2, 0, 0.1), (0.0, 1, 0.05), (1e-3, 2, 0.2))]
    one, w1 = _trained_weights(configs, 1)
    two, w2 = _trained_weights(configs, 2)
    assert one.formulation.startswith("MLP members side by side on 1 thread")
    assert two.formulation.startswith("MLP members side by side on 2 thread")
    monkeypatch.setattr("reglab.sweep._parallel.SEGMENT_STEPS", 1)
    monkeypatch.setattr(MemberThreads.run, "__defaults__", (1,))
    _, w3 = _trained_weights(configs, 2)
    for name in w1:
        assert torch.equal(w1[name], w2[name]), name
        assert torch.equal(w1[name], w3[name]), name
    assert torch.get_num_threads() == 1  # the conftest's, restored after every pass


def _problem():
    gen = torch.Generator().manual_seed(0)
    x, y = torch.randn(23, 6, generator=gen, dtype=torch.float64), torch.randint(0, 3, (23,), generator=gen)
    return x, y, torch.nn.functional.one_hot(y, 3).double(), torch.randperm(23, generator=gen)


def _params():
    g = torch.Generator().manual_seed(1)
    return ([torch.randn(5, 6, generator=g, dtype=torch.float64), torch.randn(3, 5, generator=g, dtype=torch.float64)],
            [torch.randn(5, generator=g, dtype=torch.float64), torch.randn(3, generator=g, dtype=torch.float64)])


def _segment(f, w, b, stop, *, momentum=0.0, nesterov=False, bufs=None):
    """A tanh layer and a linear output, batch 10; plain: factors (0.99, 1.0) / (1.0, 0.98); with momentum:
    decay (0.99, 1.0) / (1.0, 0.98) and L2 (0.5, 0.0) / (0.0, 0.25)."""
    x, y, onehot, order = _problem()
    losses = torch.empty(stop, dtype=torch.float64)
    scratch = ([torch.empty_like(t) for t in w], [torch.empty_like(t) for t in b]) if momentum else ([], [])
    bufs = bufs if bufs is not None else (([torch.zeros_like(t) for t in w], [torch.zeros_like(t) for t in b])
                                          if momentum else ([], []))
    with torch.no_grad():
        f(x, onehot, y, order, w, b, [True, True], [2, 0], [0.99, 1.0], [1.0, 0.98], [0.5, 0.0], [0.0, 0.25],
          0.1, momentum, nesterov, scratch[0], scratch[1], bufs[0], bufs[1], 10, 0, stop,
          torch.ones(10, dtype=torch.float64), losses)
    return losses


@pytest.mark.parametrize("momentum, nesterov", [(0.0, False), (0.9, False), (0.9, True)])
def test_the_compiled_segment_equals_the_python_function_and_autograd(momentum, nesterov):
    fn, compiled = compiled_segment()
    assert compiled  # torch 2.x ships TorchScript; the fallback is for a torch without it
    results = []
    for f in (fn, sgd_segment):  # three steps, the last one short (23 = 2·10 + 3)
        w, b = _params()
        losses = _segment(f, w, b, 3, momentum=momentum, nesterov=nesterov)
        results.append(w + b + [losses])
    for got, want in zip(*results):
        assert torch.allclose(got, want, rtol=1e-13, atol=0)
    # two steps by hand: autograd's gradient of the mean cross-entropy, then torch.optim.SGD's update
    x, y, _, order = _problem()
    ref_w, ref_b = _params()
    params = ref_w + ref_b
    decay, l2 = [0.99, 1.0, 1.0, 0.98], [0.5, 0.0, 0.0, 0.25]
    buf = [torch.zeros_like(t) for t in params]
    want_losses = []
    for step in range(2):
        p = [t.clone().requires_grad_() for t in params]
        idx = order[step * 10:(step + 1) * 10]
        loss = torch.nn.functional.cross_entropy(torch.tanh(x[idx] @ p[0].T + p[2]) @ p[1].T + p[3], y[idx])
        grads = torch.autograd.grad(loss, p)
        want_losses.append(loss.item())
        new = []
        for k, (t, g) in enumerate(zip(params, grads)):
            if momentum == 0.0:  # the fused factor c = 1 − η·α for L2 alone, or Π(1 − η·wd) as given
                new.append(decay[k] * t - 0.1 * g)
                continue
            g = g + l2[k] * t
            buf[k] = momentum * buf[k] + g
            step_dir = g + momentum * buf[k] if nesterov else buf[k]
            new.append(decay[k] * t - 0.1 * step_dir)
        params = new
    w, b = _params()
    losses = _segment(fn, w, b, 2, momentum=momentum, nesterov=nesterov)
    assert losses.tolist() == pytest.approx(want_losses, rel=1e-12)
    for got, want in zip(w + b, params):
        assert torch.allclose(got, want, rtol=1e-11, atol=1e-13)


def test_a_member_that_diverges_is_recorded_and_the_others_go_on():
    configs = [mlp([{"kind": "l2", "alpha": 1e-3}], seed=0, lr=0.1, epochs=2),
               mlp([{"kind": "l2", "alpha": 1e-3}], seed=1, lr=1e6, epochs=2)]
    results = _side_by_side(configs).run()
    assert [r.status for r in results] == ["completed", "diverged"]
    assert "non-finite" in results[1].reason
    assert_same_as_separate(configs, results)  # the same reason, epoch and step as the separate run's


def test_auto_probe_times_the_pass_and_can_stop_it():
    configs = [mlp([{"kind": "l2", "alpha": a}], seed=s, batch_size=10) for a, s in ((1e-2, 0), (0.0, 1))]
    seen = []
    trainer = VectorizedTrainer(configs, splits=_splits(), probe=lambda seconds: seen.append(seconds) or False)
    with pytest.raises(SeparateIsFaster):
        trainer.run()
    assert len(seen) == 1 and seen[0] > 0
    kept = VectorizedTrainer(configs, splits=_splits(), probe=lambda seconds: True).run()
    assert_same_as_separate(configs, kept)


def test_an_error_in_one_thread_stops_the_others_and_is_raised():
    done: list[tuple[int, int]] = []
    lock = threading.Lock()

    def step(row, start, stop):
        if row == 1 and start >= 4:
            raise RuntimeError("member 1 failed")
        with lock:
            done.append((row, start))

    previous = torch.get_num_threads()
    with pytest.raises(RuntimeError, match="member 1 failed"):
        MemberThreads(2).run(step, [0, 1, 2], 0, 1000, segment=2)
    assert torch.get_num_threads() == previous
    assert max(start for _, start in done) < 990  # the others stopped, not ran to the end


def test_train_vectorized_matches_the_batched_formulation():
    configs = [mlp([{"kind": "l2", "alpha": a}], seed=s) for a, s in ((1e-2, 0), (0.0, 1))]
    side = train_vectorized(configs, splits=_splits())
    batched = VectorizedTrainer(configs, splits=_splits(), member_threads=False).run()
    for a, b in zip(side, batched):
        assert a.final == pytest.approx(b.final, rel=1e-9, abs=1e-12, nan_ok=True)


def test_passes_in_threads_of_one_process_take_turns_and_restore_each_threads_count():
    """Two passes started at once in two threads: never inside together (torch's count is partly per thread),
    every member step on one intra-op thread, and each calling thread and the process back at 2 after."""
    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        inside, overlaps, seen, after = [], [], [], []
        lock = threading.Lock()

        def step(row, start, stop):
            with lock:
                overlaps.append(len(inside))
                inside.append(row)
            seen.append(torch.get_num_threads())
            threading.Event().wait(0.01)
            with lock:
                inside.remove(row)

        def one_pass(row):
            torch.set_num_threads(2)  # this thread's own count, as a caller would have it
            MemberThreads(1).run(step, [row], 0, 5, segment=1)
            after.append(torch.get_num_threads())

        threads = [threading.Thread(target=one_pass, args=(r,)) for r in (0, 1)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert overlaps == [0] * 10 and seen == [1] * 10
        assert after == [2, 2]
        fresh = []  # a thread started now reads the process-wide count
        probe = threading.Thread(target=lambda: fresh.append(torch.get_num_threads()))
        probe.start()
        probe.join()
        assert fresh == [2] and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(previous)


def test_mlp_layers_takes_exact_classes_and_no_activation_after_the_output():
    from torch import nn

    from reglab.sweep._mlp import mlp_layers

    class MyReLU(nn.ReLU):
        def forward(self, x):
            return super().forward(x) * 2

    assert [l.weight for l in mlp_layers(nn.Sequential(nn.Flatten(), nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2)))] \
        == ["1.weight", "3.weight"]
    assert mlp_layers(nn.Sequential(nn.Linear(4, 3), MyReLU(), nn.Linear(3, 2))) is None
    assert mlp_layers(nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2), nn.Tanh())) is None


def test_float32_members_equal_their_separate_runs_to_float32_rounding():
    configs = []
    for s, (reg, momentum) in enumerate([({"kind": "l2", "alpha": 1e-2}, 0.0), ({"kind": "weight_decay", "wd": 1e-1}, 0.9),
                                         ({"kind": "l2", "alpha": 0.0}, 0.9)]):
        c = mlp([reg], seed=s, momentum=momentum, lr=0.05)
        configs.append(parse_config({**c.model_dump(), "train": {**c.train.model_dump(), "dtype": "float32"}}))
    by_momentum = [configs[:1], configs[1:]]
    for group in by_momentum:
        trainer = _side_by_side(group)
        assert trainer.dtype == torch.float32
        assert_same_as_separate(group, trainer.run(), rel=1e-4)


def test_momentum_members_bit_for_bit_on_one_thread_or_two_and_after_one_diverges():
    configs = [mlp([{"kind": "l2", "alpha": a}], seed=s, lr=lr, momentum=0.9, nesterov=n, epochs=3)
               for a, s, lr, n in ((1e-2, 0, 0.05, False), (0.0, 1, 1e100, False), (1e-3, 2, 0.02, False))]
    one, w1 = _trained_weights(configs, 1)
    two, w2 = _trained_weights(configs, 2)
    assert [one.results[m].status for m in range(3)] == ["completed", "diverged", "completed"]
    assert one.active == two.active == [0, 2]  # member 1 left the stacks (and its momentum buffers)
    for name in w1:
        assert torch.equal(w1[name], w2[name]), name
    assert_same_as_separate([configs[0], configs[2]], [two.results[0], two.results[2]])
    separate = train(configs[1])
    assert (two.results[1].status, two.results[1].reason) == (separate.status, separate.reason)


def test_a_point_retrained_after_a_failed_pass_starts_from_the_beginning(tmp_path):
    """After a pass fails, its points train separately from the start: the failed pass's checkpoint is dropped."""
    from reglab.sweep._plan import Member
    from reglab.sweep._work import _separate, _SharedSplits
    from reglab.train import train as train_run

    c = mlp([{"kind": "l2", "alpha": 1e-3}], seed=0, epochs=3)
    short = parse_config({**c.model_dump(), "train": {**c.train.model_dump(), "epochs": 2}})
    d = tmp_path / "point"
    d.mkdir()
    train_run(short, folder=d)  # what the failed pass left: a checkpoint after 2 epochs
    member = Member(0, "p0", c.model_dump(mode="json"), str(d))
    result = _separate(member, None, _SharedSplits([member]), fresh=True)
    assert result.status == "completed" and result.resumed_from == 0 and len(result.history) == 3
    resumed = _separate(member, None, _SharedSplits([member]))  # without fresh: continues (here: already done)
    assert resumed.resumed_from == 3
