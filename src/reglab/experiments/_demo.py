"""The guided tour behind ``reglab demo``: quick versions of a few experiments, then the HTML report."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from reglab.experiments._base import run_experiment

__all__ = ["DEMO_EXPERIMENTS", "Demo", "run_demo"]

DEMO_EXPERIMENTS = ("ridge-geometry", "lasso-geometry", "penalty-vs-constraint", "polynomial-degree",
                    "mnist-weight-decay")


@dataclass
class Demo:
    """What the demo wrote: the report's path and each experiment's summary document, in order."""

    report: Path | None
    documents: list[dict[str, Any]] = field(default_factory=list)


def run_demo(out: str | Path = "reglab-runs", *, names: tuple[str, ...] = DEMO_EXPERIMENTS, report: bool = True,
             on_start: Callable[[int, int, str], None] | None = None,
             log: Callable[[str, str], None] | None = None,
             on_done: Callable[[dict[str, Any]], None] | None = None) -> Demo:
    """Run the quick version of each experiment in ``names`` into ``out``, then write ``OUT/report.html``.

    ``on_start(i, n, name)`` is called before the i-th of n experiments (1-based), ``log(name,
    message)`` with its progress messages and ``on_done(document)`` with its summary document.
    """
    documents = []
    for i, name in enumerate(names, 1):
        if on_start is not None:
            on_start(i, len(names), name)
        doc = run_experiment(name, out, quick=True,
                             log=(lambda m, n=name: log(n, m)) if log is not None else (lambda m: None))
        documents.append(doc)
        if on_done is not None:
            on_done(doc)
    path = None
    if report:
        from reglab.report import build_report  # the report reads what the experiments stored

        path = build_report(out)
    return Demo(report=path, documents=documents)
