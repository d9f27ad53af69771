"""What every built-in experiment shares: a context to train in, a registry, and the runner.

An experiment is three pure-ish parts, registered together with :func:`register`:

* ``compute(ctx) -> summary``: the numbers (a strict-JSON-able dict). It trains through
  ``ctx.train`` (so every run lands in the run store, and the result carries the run's
  model, splits and loss function) and may note example configs in ``ctx.configs``;
* ``figures(summary) -> {stem: matplotlib Figure}``: drawn from the summary alone (no
  training, no data loading), so ``reglab report`` can redraw them from ``summary.json``;
* ``tables(summary) -> [Table]`` and ``reading(summary) -> str``: also from the summary.

:func:`run_experiment` calls them in that order and writes ``OUT/experiments/NAME/``:
``summary.json`` and each figure as PNG and SVG. :func:`redraw` draws the figures of a
stored experiment again from its ``summary.json``.
"""

from __future__ import annotations

import json
import platform
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Callable

import torch

from reglab._json import dumps, strict_json as _strict_json
from reglab._version import __version__
from reglab.config import RunConfig, parse_config
from reglab.errors import ConfigError, RunError
from reglab.store import RunStore
from reglab.train import RunResult, Trainer, train

FINAL_ONLY = 10**9  # train.checkpoint_every for runs that keep only their final checkpoint

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
    """Where an experiment trains, and how big it should be."""

    name: str
    out: Path
    store_root: Path
    quick: bool = False
    seeds: int = 1
    log: Callable[[str], None] = lambda message: None
    run_ids: list[str] = field(default_factory=list)
    configs: dict[str, Any] = field(default_factory=dict)

    def config(self, raw: dict[str, Any]) -> RunConfig:
        """Validate a run config given as a plain dict (the experiments build theirs in code)."""
        return parse_config(raw)

    def train(self, cfg: RunConfig | dict[str, Any]) -> ExperimentRun:
        """Train and store a run in the results directory; the result carries its model, splits and loss."""
        if isinstance(cfg, dict):
            cfg = self.config(cfg)
        trainer = Trainer(cfg)
        result = train(cfg, out=self.store_root, trainer=trainer)
        self.run_ids.append(result.run_id)
        return ExperimentRun(**{f.name: getattr(result, f.name) for f in fields(RunResult)},
                             splits=trainer.splits, loss_fn=trainer.loss_fn, config=cfg)


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
                   log: Callable[[str], None] = lambda m: None) -> dict[str, Any]:
    """Run a built-in experiment; write ``OUT/experiments/NAME/summary.json`` and figures; return the document."""
    exp = _experiment(name)
    if seeds < 1:
        raise ConfigError(f"--seeds must be at least 1, got {seeds}")
    root = Path(out)
    RunStore(root)
    ctx = ExperimentContext(name=name, out=root / "experiments" / name, store_root=root, quick=quick, seeds=seeds,
                            log=log)
    ctx.out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    torch_threads = torch.get_num_threads()
    summary = _strict_json(exp.compute(ctx))
    figures = save_figures(exp.figures(summary), ctx.out)
    document = _strict_json({
        "name": name, "title": exp.title, "source": exp.source, "description": exp.description,
        "order": list(EXPERIMENTS).index(name),
        "quick": quick, "seeds": seeds, "seconds": time.perf_counter() - start,
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
