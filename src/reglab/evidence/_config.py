"""Tune the L2 strength of a run config by the evidence: the library half of ``reglab tune-alpha``.

Each training is :func:`reglab.train.train` of the config with its L2 ``alpha``
replaced (stored in ``out`` when given, one run per training); the curvature is
taken on the training split in float64, chunked. The config must have exactly one
``[[regularizer]]`` of ``kind = "l2"`` (its ``alpha`` is the first strength, its
``mask`` the prior's parameters) or none (then ``alpha0`` and ``mask = "weights"``).
"""

from __future__ import annotations

import copy
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from reglab.config import RunConfig, parse_config
from reglab.curvature import Objective
from reglab.data import load_dataset
from reglab.errors import ConfigError, RunError
from reglab.evidence._fixed_point import Likelihood
from reglab.evidence._tune import Fit, TuneResult, evidence_curve, log_grid, tune_alpha
from reglab.models import build_model
from reglab.regularize import select_parameters
from reglab.regularize.conventions import convert
from reglab.train import Trainer, get_loss, train

__all__ = ["ConfigTuneResult", "tune_config", "with_alpha"]

CHUNK = 1024


@dataclass
class ConfigTuneResult:
    """:class:`TuneResult` plus the conventions, the trainings' runs and metrics, and a curve for the figure."""

    tune: TuneResult
    n_train: int
    likelihood: Likelihood
    runs: list[dict]
    curve: dict[str, list[float]]
    notes: list[str] = field(default_factory=list)

    @property
    def final(self) -> dict:
        return self.runs[-1]

    def to_json(self) -> dict[str, Any]:
        t = self.tune
        return {
            "alpha": t.alpha,
            "weight_decay": convert(t.alpha, "reglab", "torch"),
            "nielsen_lambda": convert(t.alpha, "reglab", "nielsen", n=self.n_train),
            "summed_alpha": t.summed_alpha,
            "beta": t.beta if self.likelihood.kind == "gaussian" else None,
            "gamma": t.gamma,
            "log_evidence": t.log_evidence,
            "log_evidence_stderr": t.log_evidence_stderr,
            "converged": t.converged,
            "trainings": t.trainings,
            "compute": t.compute,
            "likelihood": {"kind": self.likelihood.kind, "n": self.likelihood.n, "outputs": self.likelihood.outputs,
                           "scale": self.likelihood.scale},
            "conventions": "alpha: reglab's strength on the mean loss, C = C0 + (alpha/2)|w|^2 (= torch weight_decay); "
                           "nielsen_lambda = alpha*n; summed_alpha = MacKay's prior precision a = beta*m*alpha on the "
                           "summed loss E_D = m*C0",
            "final_model": self.final,
            "history": t.rounds,
            "runs": self.runs,
            "curve": self.curve,
            "notes": self.notes,
            "seconds": t.seconds,
        }


def _l2_entry(cfg: RunConfig) -> tuple[int | None, Any]:
    entries = [(i, r) for i, r in enumerate(cfg.regularizer)]
    l2 = [(i, r) for i, r in entries if r.kind == "l2"]
    others = sorted({r.kind for _, r in entries if r.kind != "l2"})
    if others:
        raise ConfigError(f"tune-alpha tunes one L2 penalty; the config also has regularizer kind(s) "
                          f"{', '.join(others)}: remove them (allowed: a single kind = 'l2')", field="regularizer")
    if len(l2) > 1:
        raise ConfigError("tune-alpha needs at most one [[regularizer]] with kind = 'l2'", field="regularizer")
    return (l2[0] if l2 else (None, None))


def with_alpha(cfg: RunConfig, alpha: float, mask: Any = "weights") -> RunConfig:
    """``cfg`` with its L2 strength set to ``alpha`` (reglab's convention), adding the entry if absent."""
    raw = cfg.model_dump(mode="json")
    index, _ = _l2_entry(cfg)
    entry = {"kind": "l2", "alpha": float(alpha), "convention": "reglab", "mask": mask}
    if index is None:
        raw["regularizer"] = [entry]
    else:
        raw["regularizer"][index].update({"alpha": float(alpha), "convention": "reglab"})
    return parse_config(raw)


def _likelihood(cfg: RunConfig, splits) -> Likelihood:
    name, _ = get_loss(cfg.train.loss, splits.task)
    n = len(splits.train)
    if name == "cross_entropy":
        return Likelihood("categorical", n=n)
    return Likelihood("gaussian", n=n, outputs=splits.output_dim, scale=1.0 if name == "half_mse" else 0.5)


def tune_config(cfg: RunConfig, *, out: str | os.PathLike | None = None, alpha0: float | None = None,
                rtol: float = 0.05, max_trainings: int = 4, method: str = "auto", curvature: str = "auto",
                top_k: int = 20, num_probes: int = 10, lanczos_steps: int = 40, r_steps: int | None = None,
                curvature_examples: int | None = None, curvature_dtype: str = "float64",
                first_epochs: int | None = None, finetune_epochs: int | None = None, mode: str = "predicted",
                min_gain: float = 0.0, check_last: bool = True,
                train_fn: Callable[[RunConfig], Any] | None = None,
                progress: Callable[[str], None] | None = None) -> ConfigTuneResult:
    """Evidence-tune ``cfg``'s L2 strength; each training is :func:`reglab.train.train` (stored with ``out``).

    Unpenalized parameters are minimized jointly on the dense path and held on the SLQ path
    (:func:`reglab.evidence.spectrum_at`). ``curvature_examples``: the curvature on that
    many training examples drawn without replacement (seeded by ``train.seed``) instead of all
    of them: the mean over the subsample, ``(1/m)Σᵢ∈S``, an unbiased estimate of the full
    data's mean-loss curvature (the evidence's data term keeps the full set's ``n``); cheaper,
    an approximation. ``curvature_dtype``: ``"float64"`` or ``"float32"`` for the products.

    ``mode``, ``min_gain``, ``check_last``: see :func:`reglab.evidence.tune_alpha`.
    ``first_epochs``: the first training's epochs (default ``train.epochs``).
    ``finetune_epochs``: each later training continues from the previous one's weights at the
    new α for this many epochs (a new optimizer; stored as its own run, named after the run it
    starts from) instead of a full training from the initialization (the default).
    ``train_fn(cfg) -> RunResult`` replaces ``train(cfg, out=out)`` for the trainings from
    the initialization (an experiment passes ``ctx.train``); fine-tunings are
    ``train(cfg, out=out)`` on a :class:`~reglab.train.Trainer` of the previous network. A
    training that does not complete is a :class:`RunError`.

    The compute is measured: ``compute["epoch_equivalents"]`` is the whole tuning's wall
    time (everything: setup, trainings, curvature products, Lanczos, fixed points) in epochs of
    its first, full training (that training's wall time over its epochs), to compare with
    ``2·train.epochs`` (two full trainings); ``loop_epoch_equivalents`` the same over the
    training loop's median epoch alone (stricter).
    """
    started = time.perf_counter()
    index, entry = _l2_entry(cfg)
    mask = entry.mask if entry is not None else "weights"
    if alpha0 is None:
        alpha0 = 1e-3 if entry is None else float(entry.alpha)
        if entry is not None and entry.convention == "nielsen":
            alpha0 = alpha0 / len(load_dataset(cfg.data).train)
    for name, value in (("first_epochs", first_epochs), ("finetune_epochs", finetune_epochs)):
        if value is not None and not (isinstance(value, int) and value >= 1):
            raise ConfigError(f"{name} must be a positive integer, got {value!r}", field=name)
    if curvature_dtype not in ("float32", "float64"):
        raise ConfigError(f"curvature_dtype must be float32 or float64, got {curvature_dtype!r}",
                          field="curvature_dtype")
    dtype = torch.float64 if curvature_dtype == "float64" else torch.float32
    if not alpha0 > 0:
        raise ConfigError(f"the first strength must be > 0 for the evidence iteration, got {alpha0!r}; "
                          "set the l2 alpha or --alpha0", field="regularizer.alpha")
    splits = load_dataset(cfg.data)
    _, loss_fn = get_loss(cfg.train.loss, splits.task)
    likelihood = _likelihood(cfg, splits)
    model = build_model(cfg.model, splits.example_shape, splits.output_dim, seed=cfg.train.seed)
    names = [n for n, _ in select_parameters(model, mask)]
    X, Y = splits.train.x, splits.train.y
    batches = [(X[i:i + CHUNK], Y[i:i + CHUNK]) for i in range(0, len(X), CHUNK)]
    objective = Objective(model, loss_fn, batches, dtype=dtype, penalized=names)
    curvature_objective = None
    if curvature_examples is not None:
        if not (isinstance(curvature_examples, int) and 1 <= curvature_examples):
            raise ConfigError(f"curvature_examples must be a positive integer, got {curvature_examples!r}",
                              field="--curvature-examples")
        if curvature_examples < len(X):
            generator = torch.Generator().manual_seed(cfg.train.seed)
            pick = torch.randperm(len(X), generator=generator)[:curvature_examples]
            Xs, Ys = X[pick], Y[pick]
            sub = [(Xs[i:i + CHUNK], Ys[i:i + CHUNK]) for i in range(0, curvature_examples, CHUNK)]
            curvature_objective = Objective(model, loss_fn, sub, dtype=dtype, penalized=names)
    runs: list[dict] = []
    previous: list[Any] = []  # the last training's result (its model is where a fine-tuning starts)
    say = progress or (lambda line: None)

    def run(run_cfg: RunConfig, start: torch.nn.Module | None) -> Any:
        if start is not None:  # a fine-tuning: the same data splits, the previous network
            return train(run_cfg, out=out, trainer=Trainer(run_cfg, splits=splits, model=start))
        return train_fn(run_cfg) if train_fn is not None else train(run_cfg, out=out)

    def fit(alpha: float, _w: torch.Tensor) -> Fit:
        run_cfg = with_alpha(cfg, alpha, mask)
        start, epochs = None, first_epochs
        if previous and finetune_epochs is not None:
            start, epochs = copy.deepcopy(previous[-1].model), finetune_epochs
            run_cfg = _renamed(run_cfg, f"{cfg.name or 'tune-alpha'}: fine-tuned from run {previous[-1].run_id} "
                                        f"at alpha = {alpha:.6g}")
        if epochs is not None:
            run_cfg = parse_config({**run_cfg.model_dump(mode="json"),
                                    "train": {**run_cfg.train.model_dump(mode="json"), "epochs": epochs}})
        tick = time.perf_counter()
        result = run(run_cfg, start)
        seconds = time.perf_counter() - tick
        if result.status != "completed":
            raise RunError(f"the training at alpha = {alpha:.4g} {result.status}: {result.reason}; lower train.lr "
                           "or change the config", field="train")
        previous.append(result)
        params = dict(result.model.named_parameters())
        w = torch.cat([params[n].detach().reshape(-1).to(dtype) for n in objective.names])
        epochs = len(result.history)
        runs.append({"alpha": alpha, "run_id": result.run_id, "run_dir": result.run_dir, "epochs": epochs,
                     "fine_tuned_from": None if start is None else previous[-2].run_id,
                     "seconds": seconds, "epoch_seconds": statistics.median(h["epoch_time"] for h in result.history),
                     "final": result.final})
        say(f"trained at α = {alpha:.4g} ({epochs} epochs{'' if start is None else ', fine-tuned'}): val error "
            f"{result.final.get('val_error')}, test error {result.final.get('test_error')}")
        # an epoch is one pass over the training set: one full gradient's worth of work
        return Fit(w, float(epochs), {"run_id": result.run_id, "fine_tuned": start is not None})

    result = tune_alpha(objective, likelihood, alpha0=alpha0, fit=fit, rtol=rtol, max_trainings=max_trainings,
                        method=method, curvature=curvature, top_k=top_k, num_probes=num_probes,
                        lanczos_steps=lanczos_steps, r_steps=r_steps, mode=mode, min_gain=min_gain, check_last=check_last,
                        seed=cfg.train.seed,
                        curvature_objective=curvature_objective, progress=say)
    result.compute["seconds"] = time.perf_counter() - started  # everything, the setup included
    _measured_compute(result.compute, runs, 2 * cfg.train.epochs)
    grid = log_grid(result.alpha, decades=2.5, points=41)
    curve = evidence_curve(result.spectrum, likelihood, np.sort(np.concatenate([grid, [result.alpha]])),
                           result.beta)
    notes = [f"the final model is the last training, at alpha = {result.alpha_trained:.6g}; the fixed point of its "
             f"spectrum is alpha = {result.alpha:.6g}" + ("" if result.converged else
                                                            " (not converged within max_trainings)"),
             "grad_equivalents counts an epoch as 1 and a curvature product as hvp_cost gradients at its share of "
             "the data; epoch_equivalents is measured: the tuning's whole wall time in epochs of its first, full "
             "training (its wall time over its epochs); loop_epoch_equivalents over that training's median epoch",
             f"curvature: {result.spectrum.curvature} on {_examples_note(curvature_examples, len(X))} "
             f"({curvature_dtype}), {result.spectrum.method}"]
    return ConfigTuneResult(result, len(splits.train), likelihood, runs, curve, notes)


def _renamed(cfg: RunConfig, name: str) -> RunConfig:
    return parse_config({**cfg.model_dump(mode="json"), "name": name})


def _examples_note(curvature_examples: int | None, n: int) -> str:
    if curvature_examples is None or curvature_examples >= n:
        return f"all {n} training examples"
    return (f"{curvature_examples} of the {n} training examples (their mean, an unbiased estimate of the full "
            f"data's mean-loss curvature; the data term keeps n = {n})")


def _measured_compute(compute: dict, runs: list[dict], budget_epochs: int) -> None:
    """Add the measured compute in epochs of the first (full) training, and against two of them.

    ``epoch_seconds`` is the first training's wall time over its epochs (its setup and storing
    included, as in any full training); ``epoch_equivalents`` the whole tuning's wall time in
    that unit, to compare with ``2·train.epochs``. The stricter ``loop_epoch_equivalents``
    divides by the median epoch of the training loop alone (no setup).
    """
    first = runs[0]
    compute["epoch_seconds"] = first["seconds"] / first["epochs"]
    compute["loop_epoch_seconds"] = first["epoch_seconds"]
    compute["training_epochs"] = sum(r["epochs"] for r in runs)
    compute["curvature_epoch_equivalents"] = compute["curvature_seconds"] / compute["epoch_seconds"]
    compute["epoch_equivalents"] = compute["seconds"] / compute["epoch_seconds"]
    compute["loop_epoch_equivalents"] = compute["seconds"] / first["epoch_seconds"]
    compute["two_trainings_epochs"] = budget_epochs
