"""Tune the L2 strength of a run config by the evidence: the library half of ``reglab tune-alpha``.

Each training is :func:`reglab.train.train` of the config with its L2 ``alpha``
replaced (stored in ``out`` when given, one run per training); the curvature is
taken on the training split in float64, chunked. The config must have exactly one
``[[regularizer]]`` of ``kind = "l2"`` (its ``alpha`` is the first strength, its
``mask`` the prior's parameters) or none (then ``alpha0`` and ``mask = "weights"``).
"""

from __future__ import annotations

import os
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
from reglab.train import get_loss, train

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
                top_k: int = 20, num_probes: int = 10, lanczos_steps: int = 40,
                curvature_examples: int | None = None, train_fn: Callable[[RunConfig], Any] | None = None,
                progress: Callable[[str], None] | None = None) -> ConfigTuneResult:
    """Evidence-tune ``cfg``'s L2 strength; each training is :func:`reglab.train.train` (stored with ``out``).

    Unpenalized parameters are minimized jointly on the dense path and held on the SLQ path
    (:func:`reglab.evidence.spectrum_at`). ``curvature_examples``: the curvature on that
    many training examples drawn without replacement (seeded by ``train.seed``) instead of all
    of them (cheaper; an approximation). ``train_fn(cfg) -> RunResult`` replaces
    ``train(cfg, out=out)`` (an experiment passes ``ctx.train``). A training that does not
    complete is a :class:`RunError`.
    """
    index, entry = _l2_entry(cfg)
    mask = entry.mask if entry is not None else "weights"
    if alpha0 is None:
        alpha0 = 1e-3 if entry is None else float(entry.alpha)
        if entry is not None and entry.convention == "nielsen":
            alpha0 = alpha0 / len(load_dataset(cfg.data).train)
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
    objective = Objective(model, loss_fn, batches, dtype=torch.float64, penalized=names)
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
            curvature_objective = Objective(model, loss_fn, sub, dtype=torch.float64, penalized=names)
    runs: list[dict] = []
    say = progress or (lambda line: None)

    def fit(alpha: float, _w: torch.Tensor) -> Fit:
        run_cfg = with_alpha(cfg, alpha, mask)
        result = train_fn(run_cfg) if train_fn is not None else train(run_cfg, out=out)
        if result.status != "completed":
            raise RunError(f"the training at alpha = {alpha:.4g} {result.status}: {result.reason}; lower train.lr "
                           "or change the config", field="train")
        params = dict(result.model.named_parameters())
        w = torch.cat([params[n].detach().reshape(-1).double() for n in objective.names])
        epochs = len(result.history)
        runs.append({"alpha": alpha, "run_id": result.run_id, "run_dir": result.run_dir, "epochs": epochs,
                     "final": result.final})
        say(f"trained at α = {alpha:.4g}: val error {result.final.get('val_error')}, "
            f"test error {result.final.get('test_error')}")
        # an epoch is one pass over the training set: one full gradient's worth of work
        return Fit(w, float(epochs), {"run_id": result.run_id})

    result = tune_alpha(objective, likelihood, alpha0=alpha0, fit=fit, rtol=rtol, max_trainings=max_trainings,
                        method=method, curvature=curvature, top_k=top_k, num_probes=num_probes,
                        lanczos_steps=lanczos_steps, seed=cfg.train.seed, curvature_objective=curvature_objective,
                        progress=say)
    grid = log_grid(result.alpha, decades=2.5, points=41)
    curve = evidence_curve(result.spectrum, likelihood, np.sort(np.concatenate([grid, [result.alpha]])),
                           result.beta)
    notes = [f"the final model is the last training, at alpha = {result.alpha_trained:.6g}; the fixed point of its "
             f"spectrum is alpha = {result.alpha:.6g}" + ("" if result.converged else
                                                            " (not converged within max_trainings)"),
             "training cost counts one gradient-equivalent per epoch (the per-epoch evaluations are not counted)"]
    return ConfigTuneResult(result, len(splits.train), likelihood, runs, curve, notes)
