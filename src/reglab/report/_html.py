"""``reglab report``: one self-contained HTML page from the experiments and sweeps stored in a results folder.

Reporting reads stored results only (``OUT/experiments/*/summary.json``, the sweep
comparisons in ``OUT/sweeps/*/summary.json`` that ``reglab runs compare`` writes, and the
PNGs beside them); it never trains. Images are embedded as base64 so the page is one file.
"""

from __future__ import annotations

import base64
import json
import math
import time
from pathlib import Path
from typing import Any, Callable

from jinja2 import Environment, PackageLoader, select_autoescape

from reglab._version import __version__
from reglab.errors import RunError

__all__ = ["build_report", "collect_experiments", "collect_sweeps"]


def _cell(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return "–" if not math.isfinite(value) else f"{value:.4g}"
    return str(value)


_DEFAULTS: dict[str, Any] = {"description": "", "source": "", "seconds": 0.0, "quick": False, "seeds": 1,
                             "run_ids": [], "configs": {}, "versions": {}, "reading": "", "figures": []}


def _problem(doc: Any) -> str | None:
    """Why a parsed summary.json cannot be shown, or None when it can."""
    if not isinstance(doc, dict):
        return "it is not a JSON object"
    missing = [k for k in ("name", "title", "summary", "tables") if k not in doc]
    if missing:
        return f"it lacks {', '.join(missing)}"
    tables = doc["tables"]
    if not isinstance(tables, list) or not all(isinstance(t, dict) and {"title", "columns", "rows"} <= set(t)
                                               and isinstance(t["rows"], list) for t in tables):
        return "its tables are not lists of {title, columns, rows}"
    if not isinstance(doc.get("figures", []), list) or not isinstance(doc.get("run_ids", []), list):
        return "its figures or run_ids are not lists"
    return None


def _summaries(folder: Path, problem_of: Callable[[Any], str | None],
               skipped: list[dict[str, str]] | None) -> list[tuple[Path, dict[str, Any]]]:
    """``(path, document)`` of each readable ``folder/*/summary.json`` that ``problem_of`` accepts.

    The others are left out, with ``{"path", "reason"}`` appended to ``skipped`` when given:
    one damaged file does not take the whole report down.
    """
    found = []
    for path in sorted(folder.glob("*/summary.json")):
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
            problem = problem_of(doc)
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            problem = f"it cannot be read as JSON ({exc})"
        if problem:
            if skipped is not None:
                skipped.append({"path": str(path), "reason": problem})
            continue
        found.append((path, doc))
    return found


def collect_experiments(directory: str | Path, skipped: list[dict[str, str]] | None = None) -> list[dict[str, Any]]:
    """Every ``experiments/NAME/summary.json`` under ``directory``, in the registry's order.

    The order is the ``order`` each summary stored when it was written (the experiment's
    place in the registry), so the report never imports the experiments; summaries
    without one come last, by name. A summary that cannot be read or lacks what the page
    shows is left out, and ``{"path", "reason"}`` is appended to ``skipped`` when given:
    one damaged file does not take the whole report down.
    """
    root = Path(directory)
    if not root.is_dir():
        raise RunError(f"no such results folder: {root}", field="DIRECTORY")
    found = [{**_DEFAULTS, **doc, "images": _images(path.parent, doc.get("figures", []))}
             for path, doc in _summaries(root / "experiments", _problem, skipped)]

    def position(doc: dict[str, Any]) -> tuple[int, int, str]:
        order = doc.get("order")
        known = isinstance(order, int) and not isinstance(order, bool)
        return (0, order, doc.get("name", "")) if known else (1, 0, doc.get("name", ""))

    return sorted(found, key=position)


def _sweep_problem(doc: Any) -> str | None:
    """Why a parsed sweep summary cannot be shown, or None when it can."""
    if not isinstance(doc, dict) or not isinstance(doc.get("sweep_id"), str):
        return "it is not a sweep summary (no sweep_id)"
    table = doc.get("table")
    if not isinstance(table, dict) or not {"title", "columns", "rows"} <= set(table) \
            or not isinstance(table["rows"], list):
        return "its table is not {title, columns, rows}"
    if not isinstance(doc.get("figures", []), list):
        return "its figures are not a list"
    return None


def _images(folder: Path, names: list[Any]) -> list[dict[str, str]]:
    return [{"name": name, "data": base64.b64encode((folder / name).read_bytes()).decode("ascii")}
            for name in names if isinstance(name, str) and name.endswith(".png") and (folder / name).exists()]


def collect_sweeps(directory: str | Path, skipped: list[dict[str, str]] | None = None) -> list[dict[str, Any]]:
    """Every ``sweeps/SWEEP_ID/summary.json`` under ``directory`` (by sweep id), with its PNGs embedded.

    A summary that cannot be read or lacks its table is left out and reported in ``skipped``.
    """
    return [{"name": None, "metric": "", **doc, "images": _images(path.parent, doc.get("figures", []))}
            for path, doc in _summaries(Path(directory) / "sweeps", _sweep_problem, skipped)]


def build_report(directory: str | Path, output: str | Path | None = None, *, title: str = "reglab report",
                 skipped: list[dict[str, str]] | None = None) -> Path:
    """Write ``DIR/report.html`` (or ``output``) and return its path; unreadable summaries go to ``skipped``."""
    root = Path(directory)
    experiments = collect_experiments(root, skipped)
    sweeps = collect_sweeps(root, skipped)
    env = Environment(loader=PackageLoader("reglab.report", "templates"), autoescape=select_autoescape(["html", "j2"]))
    env.filters["cell"] = _cell
    html = env.get_template("report.html.j2").render(
        title=title, experiments=experiments, sweeps=sweeps, source_dir=str(root), version=__version__,
        generated=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()))
    target = Path(output) if output else root / "report.html"
    try:
        target.write_text(html, encoding="utf-8")
    except OSError as exc:
        raise RunError(f"cannot write the report {target}: {exc.strerror or exc}", field="--output") from None
    return target
