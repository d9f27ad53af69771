"""What every built-in experiment shares: a context to train and save in, and a result record.

An experiment is a function ``run(ctx) -> ExperimentResult``. It trains through
``ctx.train`` (so every run lands in the run store), saves figures through
``ctx.save_figure`` (PNG and SVG in ``OUT/experiments/NAME/``), and returns the
numbers it plotted in ``summary``, tables, and a plain-language ``reading``
written from those numbers. :func:`run_experiment` writes ``summary.json``.
"""

from __future__ import annotations

import json
import math
import platform
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch

from reglab._version import __version__
from reglab.config import RunConfig, parse_config
from reglab.store import RunStore
from reglab.train import RunResult, train

FINAL_ONLY = 10**9  # train.checkpoint_every for runs that keep only their final checkpoint

__all__ = ["FINAL_ONLY", "ExperimentContext", "ExperimentResult", "Table", "Experiment", "EXPERIMENTS", "register",
           "run_experiment", "strict_json"]


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
class ExperimentContext:
    """Where an experiment trains and writes, and how big it should be."""

    name: str
    out: Path
    store_root: Path
    quick: bool = False
    seeds: int = 1
    log: Callable[[str], None] = lambda message: None
    run_ids: list[str] = field(default_factory=list)
    figures: list[str] = field(default_factory=list)

    def config(self, raw: dict[str, Any]) -> RunConfig:
        """Validate a run config given as a plain dict (the experiments build theirs in code)."""
        return parse_config(raw)

    def train(self, cfg: RunConfig | dict[str, Any]) -> RunResult:
        """Train and store a run in the results directory; returns its :class:`RunResult`."""
        if isinstance(cfg, dict):
            cfg = self.config(cfg)
        result = train(cfg, out=self.store_root)
        self.run_ids.append(result.run_id)
        return result

    def save_figure(self, fig: Any, stem: str) -> list[str]:
        """Save a matplotlib figure as ``stem.png`` and ``stem.svg``; returns the paths (relative to out)."""
        import matplotlib.pyplot as plt

        self.out.mkdir(parents=True, exist_ok=True)
        paths = []
        for ext in ("png", "svg"):
            path = self.out / f"{stem}.{ext}"
            fig.savefig(path, dpi=120 if ext == "png" else None, bbox_inches="tight",
                        metadata={"Date": None} if ext == "svg" else None)
            paths.append(path.name)
        plt.close(fig)
        self.figures.extend(paths)
        return paths


@dataclass(frozen=True)
class Experiment:
    name: str
    title: str
    source: str
    description: str
    run: Callable[[ExperimentContext], ExperimentResult]


EXPERIMENTS: dict[str, Experiment] = {}


def register(name: str, title: str, source: str, description: str) -> Callable:
    """Decorator adding ``run(ctx)`` to the registry under ``name``."""

    def wrap(fn: Callable[[ExperimentContext], ExperimentResult]) -> Callable:
        EXPERIMENTS[name] = Experiment(name, title, source, description, fn)
        return fn

    return wrap


def strict_json(value: Any) -> Any:
    """NaN/Inf → None, tensors and numpy values → plain Python, recursively."""
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): strict_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [strict_json(v) for v in value]
    return value


def run_experiment(name: str, out: str | Path = "reglab-runs", *, quick: bool = False, seeds: int = 1,
                   log: Callable[[str], None] = lambda m: None) -> dict[str, Any]:
    """Run a built-in experiment; write ``OUT/experiments/NAME/summary.json`` and figures; return the summary."""
    if name not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {name!r}; choose one of: {', '.join(sorted(EXPERIMENTS))}")
    if seeds < 1:
        raise ValueError(f"--seeds must be at least 1, got {seeds}")
    exp = EXPERIMENTS[name]
    root = Path(out)
    RunStore(root)
    ctx = ExperimentContext(name=name, out=root / "experiments" / name, store_root=root, quick=quick, seeds=seeds,
                            log=log)
    ctx.out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    torch_threads = torch.get_num_threads()
    result = exp.run(ctx)
    document = strict_json({
        "name": name, "title": exp.title, "source": exp.source, "description": exp.description,
        "quick": quick, "seeds": seeds, "seconds": time.perf_counter() - start,
        "versions": {"reglab": __version__, "torch": torch.__version__, "python": platform.python_version()},
        "threads": torch_threads, "run_ids": ctx.run_ids, "figures": list(dict.fromkeys(ctx.figures + result.figures)),
        "summary": result.summary, "tables": [asdict(t) for t in result.tables], "reading": result.reading,
        "configs": result.configs, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    })
    (ctx.out / "summary.json").write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return document
