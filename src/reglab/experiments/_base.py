"""What every built-in experiment shares: a context to train in, a registry, and the runner.

An experiment is three pure-ish parts, registered together with :func:`register`:

* ``compute(ctx) -> summary``: the numbers (a strict-JSON-able dict). It trains through
  ``ctx.train_many`` (a list of runs, through the sweep engine: runs that differ only in
  strength, regularizer kind, seed or learning rate train together in one vectorized pass)
  or ``ctx.train`` (one run); every run lands in the run store, and the result carries the
  run's model, splits and loss function. It may note example configs in ``ctx.configs``;
* ``figures(summary) -> {stem: matplotlib Figure}``: drawn from the summary alone (no
  training, no data loading), so ``reglab report`` can redraw them from ``summary.json``;
* ``tables(summary) -> [Table]`` and ``reading(summary) -> str``: also from the summary.

:func:`run_experiment` calls them in that order and writes ``OUT/experiments/NAME/``:
``summary.json`` and each figure as PNG and SVG. :func:`redraw` draws the figures of a
stored experiment again from its ``summary.json``.
"""

from __future__ import annotations

import json
import os
import platform
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, Sequence

import torch

from reglab._json import dumps, strict_json as _strict_json
from reglab._version import __version__
from reglab.config import RunConfig, config_hash, parse_config
from reglab.data import load_dataset
from reglab.errors import ConfigError, RunError
from reglab.store import RunStore
from reglab.sweep import ENGINES, InProcessExecutor, PointOutcome, PointReport, plan_sweep, run_sweep, sweep_of
from reglab.train import CHECKPOINT, RunResult, Trainer, get_loss, load_run, save_checkpoint, train

FINAL_ONLY = 10**9  # train.checkpoint_every for runs that keep only their final checkpoint
ENGINE_ENV = "REGLAB_EXPERIMENT_ENGINE"  # the default of run_experiment(engine=...) and --engine

__all__ = ["FINAL_ONLY", "full_batch_linear_config", "ExperimentContext", "ExperimentResult", "ExperimentRun",
           "Table", "Experiment", "EXPERIMENTS", "register", "run_experiment", "redraw", "save_figures",
           "strict_json"]

Summary = dict[str, Any]


def full_batch_linear_config(name: str, data: dict, *, n: int, epochs: int, seed: int, lr: float,
                             regularizer: list[dict]) -> dict[str, Any]:
    """A run config: a bias-free linear model on ``data`` (``n`` points), full-batch float64 steps, final checkpoint."""
    return {
        "name": name,
        "data": data,
        "model": {"kind": "linear", "bias": False},
        "train": {"epochs": epochs, "seed": seed, "batch_size": n, "lr": lr, "dtype": "float64",
                  "checkpoint_every": FINAL_ONLY},
        "regularizer": regularizer,
    }


@dataclass
class Table:
    """A small table for the terminal and the report."""

    title: str
    columns: list[str]
    rows: list[list[Any]]


@dataclass
class ExperimentResult:
    """What an experiment measured: numbers, tables, figures and a reading of them."""

    summary: dict[str, Any]
    tables: list[Table] = field(default_factory=list)
    figures: list[str] = field(default_factory=list)
    reading: str = ""
    configs: dict[str, Any] = field(default_factory=dict)


@dataclass
class ExperimentRun(RunResult):
    """A :class:`reglab.train.RunResult` that also carries what the run trained on.

    ``splits`` and ``loss_fn`` are the trainer's own (the data set it loaded and the loss it
    minimized), so an experiment that analyses the trained model need not load them again.
    """

    splits: Any = field(default=None, repr=False)
    loss_fn: Any = field(default=None, repr=False)
    config: RunConfig | None = field(default=None, repr=False)


@dataclass
class ExperimentContext:
    """Where an experiment trains, and how big it should be.

    ``engine`` is how :meth:`train_many` trains a list of runs (:data:`reglab.sweep.ENGINES`):
    ``"vectorized"`` (runs that share data, model and training settings in one pass),
    ``"auto"`` (time both engines per group, keep the faster) or ``"separate"`` (one run at a
    time, as :meth:`train` does). ``log`` receives progress lines: runs done of total and the
    current pass's epochs.
    """

    name: str
    out: Path
    store_root: Path
    quick: bool = False
    seeds: int = 1
    log: Callable[[str], None] = lambda message: None
    run_ids: list[str] = field(default_factory=list)
    configs: dict[str, Any] = field(default_factory=dict)
    engine: str = "vectorized"

    def config(self, raw: dict[str, Any]) -> RunConfig:
        """Validate a run config given as a plain dict (the experiments build theirs in code)."""
        return parse_config(raw)

    def train(self, cfg: RunConfig | dict[str, Any]) -> ExperimentRun:
        """Train and store a run in the results directory; the result carries its model, splits and loss."""
        if isinstance(cfg, dict):
            cfg = self.config(cfg)
        trainer = Trainer(cfg)
        label = f"run {len(self.run_ids) + 1} ({cfg.name or 'unnamed'})"

        def progress(epoch: int, epochs: int, _metrics: dict) -> None:
            if _shown(epoch, epochs):
                self.log(f"{label}: epoch {epoch}/{epochs}")

        result = train(cfg, out=self.store_root, trainer=trainer, progress=progress)
        self.run_ids.append(result.run_id)
        return ExperimentRun(**{f.name: getattr(result, f.name) for f in fields(RunResult)},
                             splits=trainer.splits, loss_fn=trainer.loss_fn, config=cfg)

    def train_many(self, cfgs: Sequence[RunConfig | dict[str, Any]]) -> list[ExperimentRun]:
        """Train a list of runs through the sweep engine and store each; one result per config, in order.

        The configs become one sweep (:func:`reglab.sweep.sweep_of`) run in this process by
        :func:`reglab.sweep.run_sweep` with ``engine=self.engine``: configs that differ only in
        what the vectorized engine gives each member (regularizer strengths and kinds,
        ``train.seed``, ``train.lr``, the name) train together in one pass, the others one by
        one, and the driver stores every run (its id goes to ``run_ids``). Each result is what
        :meth:`train` returns for that config, with the same numbers (up to the rounding of
        batched products, ≤ 1e-6 relative in float64): history, final metrics, the trained model
        (None for a member that diverged inside a vectorized pass), splits and loss. A config
        already completed in the store is not trained again; its run is read back. Repeated
        configs share one run. A point that fails raises :class:`reglab.errors.RunError`.
        """
        configs = [self.config(c) if isinstance(c, dict) else c for c in cfgs]
        unique: dict[str, RunConfig] = {}
        for cfg in configs:
            unique.setdefault(config_hash(cfg), cfg)
        sweep = sweep_of(list(unique.values()), name=self.name)
        units, _ = plan_sweep(sweep, out=self.store_root, engine=self.engine)
        executor = _Passes(len(units), len(sweep), self.log, keep_models=True)
        result = run_sweep(sweep, out=self.store_root, executor=executor, engine=self.engine,
                           progress=executor.runs_done, argv=["experiment", self.name])
        self.log(f"runs {len(sweep)}/{len(sweep)} done")
        data = _SplitsCache()
        runs = {report.id: self._run_of(report, executor.outcomes.get(report.index), sweep.points[report.index].config,
                                        data) for report in result.points}
        self.run_ids.extend(run.run_id for run in runs.values() if run.run_id not in self.run_ids)
        return [runs[config_hash(cfg)] for cfg in configs]

    def _run_of(self, report: PointReport, outcome: PointOutcome | None, cfg: RunConfig,
                data: "_SplitsCache") -> ExperimentRun:
        """The :class:`ExperimentRun` of one sweep point: trained just now (``outcome``) or read from the store."""
        if report.status == "failed":
            raise RunError(f"experiment {self.name}: run {cfg.name or report.id[:8]} failed: {report.reason}")
        store = RunStore(self.store_root)
        run_dir = store.run_dir(report.run_id)
        if outcome is not None:
            r = outcome.result
            status, reason, final, history, penalized, model = (r.status, r.reason, r.final, r.history, r.penalized,
                                                                r.model)
            if model is not None and cfg.train.checkpoint and not (run_dir / CHECKPOINT).exists():
                _save_final_weights(model, history, run_dir / CHECKPOINT)
        else:
            if report.status not in ("completed", "diverged"):
                raise RunError(f"experiment {self.name}: run {report.run_id} of {cfg.name or report.id[:8]} is "
                               f"{report.status} ({report.reason}); wait for it or remove it from {self.store_root}")
            record = store.get_run(report.run_id)
            status, reason, final, history = record["status"], record["reason"], record["final"], store.metrics(
                report.run_id)
            penalized = list(record.get("penalized") or [])
            model = load_run(run_dir)[0] if (run_dir / CHECKPOINT).exists() else None
            if model is None and status == "completed":  # stored without its weights: train it again
                return self.train(cfg)
        splits, loss_fn = data.get(cfg)
        return ExperimentRun(run_id=report.run_id, status=status, reason=reason, final=final, history=history,
                             penalized=penalized, config_hash=report.id, run_dir=str(run_dir), model=model,
                             splits=splits, loss_fn=loss_fn, config=cfg)


class _Passes(InProcessExecutor):
    """The in-process executor of :meth:`ExperimentContext.train_many`, telling ``log`` how far it is:
    runs done of total, and the current pass's epochs."""

    def __init__(self, passes: int, total: int, log: Callable[[str], None], *, keep_models: bool) -> None:
        super().__init__(self._epoch, keep_models=keep_models, on_submit=self._next_pass)
        self.passes, self.total, self.log = passes, total, log
        self.done, self.current, self.members = 0, 0, 0

    def _next_pass(self, unit: Any) -> None:
        self.current, self.members = self.current + 1, len(unit.members)
        self.log(f"runs {self.done}/{self.total} done; pass {self.current}/{self.passes} "
                 f"({unit.engine}, {self.members} run{'s' if self.members > 1 else ''}) starts")

    def _epoch(self, epoch: int, epochs: int) -> None:
        if not _shown(epoch, epochs):
            return
        self.log(f"runs {self.done}/{self.total} done; pass {self.current}/{self.passes} "
                 f"({self.members} run{'s' if self.members > 1 else ''}): epoch {epoch}/{epochs}")

    def runs_done(self, done: int, total: int, text: str) -> None:
        self.done, self.total = done, total


def _shown(epoch: int, epochs: int, lines: int = 20) -> bool:
    """Whether epoch ``epoch`` of ``epochs`` gets a progress line: about ``lines`` per pass, the last always."""
    return epoch == epochs or epoch % max(1, epochs // lines) == 0


class _SplitsCache:
    """Each distinct data config loaded once (data sets are seeded: the splits the trainer used)."""

    def __init__(self) -> None:
        self._loaded: dict[str, tuple[Any, Any]] = {}

    def get(self, cfg: RunConfig) -> tuple[Any, Any]:
        key = json.dumps([cfg.data.model_dump(mode="json"), cfg.train.loss], sort_keys=True)
        if key not in self._loaded:
            splits = load_dataset(cfg.data)
            self._loaded[key] = (splits, get_loss(cfg.train.loss, splits.task)[1])
        return self._loaded[key]


def _save_final_weights(model: torch.nn.Module, history: list[dict[str, float]], path: Path) -> None:
    """The trained weights where :func:`reglab.train.load_run` reads them, for a run the sweep stored without.

    Only the model and the history (no optimizer state): a completed run is never resumed.
    """
    save_checkpoint({"model": model.state_dict(), "history": history}, path)


def _no_tables(summary: Summary) -> list[Table]:
    return []


def _no_reading(summary: Summary) -> str:
    return ""


@dataclass(frozen=True)
class Experiment:
    """A registered experiment: its description and its compute / figures / tables / reading parts."""

    name: str
    title: str
    source: str
    description: str
    compute: Callable[[ExperimentContext], Summary]
    figures: Callable[[Summary], dict[str, Any]]
    tables: Callable[[Summary], list[Table]] = _no_tables
    reading: Callable[[Summary], str] = _no_reading

    def run(self, ctx: ExperimentContext) -> ExperimentResult:
        """Compute, then tables and reading from the summary (figures are drawn by :func:`run_experiment`)."""
        summary = self.compute(ctx)
        return ExperimentResult(summary=summary, tables=self.tables(summary), reading=self.reading(summary),
                                configs=dict(ctx.configs))


EXPERIMENTS: dict[str, Experiment] = {}


def register(name: str, title: str, source: str, description: str, *, compute: Callable, figures: Callable,
             tables: Callable = _no_tables, reading: Callable = _no_reading) -> Experiment:
    """Add an experiment to the registry under ``name`` (in registration order) and return it."""
    EXPERIMENTS[name] = Experiment(name, title, source, description, compute, figures, tables, reading)
    return EXPERIMENTS[name]


def strict_json(value: Any) -> Any:
    """Deprecated alias of :func:`reglab._json.strict_json` (the one strict-JSON helper)."""
    import warnings

    warnings.warn("reglab.experiments._base.strict_json is deprecated; use reglab._json.strict_json",
                  DeprecationWarning, stacklevel=2)
    return _strict_json(value)


def save_figures(figures: dict[str, Any], folder: str | Path) -> list[str]:
    """Save each figure as ``STEM.png`` and ``STEM.svg`` in ``folder``; return the file names.

    Figures are plain :class:`matplotlib.figure.Figure` objects, rendered by the Agg (PNG) and
    SVG canvases at save time, so no pyplot backend is selected or changed.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    names = []
    for stem, fig in figures.items():
        for ext in ("png", "svg"):
            fig.savefig(folder / f"{stem}.{ext}", dpi=120 if ext == "png" else None, bbox_inches="tight",
                        metadata={"Date": None} if ext == "svg" else None)
            names.append(f"{stem}.{ext}")
    return names


def _experiment(name: str) -> Experiment:
    if name not in EXPERIMENTS:
        raise ConfigError(f"unknown experiment {name!r}; choose one of: {', '.join(sorted(EXPERIMENTS))}")
    return EXPERIMENTS[name]


def run_experiment(name: str, out: str | Path = "reglab-runs", *, quick: bool = False, seeds: int = 1,
                   log: Callable[[str], None] = lambda m: None, engine: str | None = None) -> dict[str, Any]:
    """Run a built-in experiment; write ``OUT/experiments/NAME/summary.json`` and figures; return the document.

    ``engine`` is how the experiment's lists of runs train (:attr:`ExperimentContext.engine`):
    ``"vectorized"`` (the default), ``"auto"`` or ``"separate"``; None reads the environment
    variable ``REGLAB_EXPERIMENT_ENGINE`` (default ``"vectorized"``). The document records it.
    """
    exp = _experiment(name)
    if seeds < 1:
        raise ConfigError(f"--seeds must be at least 1, got {seeds}")
    engine = engine if engine is not None else os.environ.get(ENGINE_ENV, "vectorized")
    if engine not in ENGINES:
        raise ConfigError(f"--engine must be one of {', '.join(ENGINES)}; got {engine!r}", field="--engine")
    root = Path(out)
    RunStore(root)
    ctx = ExperimentContext(name=name, out=root / "experiments" / name, store_root=root, quick=quick, seeds=seeds,
                            log=log, engine=engine)
    ctx.out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    torch_threads = torch.get_num_threads()
    summary = _strict_json(exp.compute(ctx))
    figures = save_figures(exp.figures(summary), ctx.out)
    document = _strict_json({
        "name": name, "title": exp.title, "source": exp.source, "description": exp.description,
        "order": list(EXPERIMENTS).index(name),
        "quick": quick, "seeds": seeds, "engine": engine, "seconds": time.perf_counter() - start,
        "versions": {"reglab": __version__, "torch": torch.__version__, "python": platform.python_version()},
        "threads": torch_threads, "run_ids": ctx.run_ids, "figures": figures,
        "summary": summary, "tables": [asdict(t) for t in exp.tables(summary)], "reading": exp.reading(summary),
        "configs": ctx.configs, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    })
    (ctx.out / "summary.json").write_text(dumps(document, indent=2) + "\n", encoding="utf-8")
    return document


def redraw(summary_json: str | Path, folder: str | Path | None = None) -> list[str]:
    """Draw a stored experiment's figures again from its ``summary.json`` alone; return the file names.

    The figures go to ``folder`` (default: beside the summary). Nothing is trained or loaded
    but the summary itself.
    """
    path = Path(summary_json)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RunError(f"no such summary: {path}") from None
    except json.JSONDecodeError as exc:
        raise RunError(f"{path} is not valid JSON: {exc}") from None
    exp = _experiment(document.get("name"))
    return save_figures(exp.figures(document["summary"]), path.parent if folder is None else folder)
