"""``reglab report``: one self-contained HTML page from the experiments stored in a results folder.

Reporting reads stored results only (``OUT/experiments/*/summary.json`` and the PNGs
beside them); it never trains. Images are embedded as base64 so the page is one file.
"""

from __future__ import annotations

import base64
import json
import math
import time
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from reglab._version import __version__
from reglab.errors import RunError

__all__ = ["build_report", "collect_experiments"]


def _cell(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return "–" if not math.isfinite(value) else f"{value:.4g}"
    return str(value)


def collect_experiments(directory: str | Path) -> list[dict[str, Any]]:
    """Every ``experiments/NAME/summary.json`` under ``directory``, in the registry's order.

    The order is the ``order`` each summary stored when it was written (the experiment's
    place in the registry), so the report never imports the experiments; summaries
    without one come last, by name.
    """
    root = Path(directory)
    if not root.is_dir():
        raise RunError(f"no such results folder: {root}")
    found = []
    for path in sorted((root / "experiments").glob("*/summary.json")):
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise RunError(f"{path} is not valid JSON: {exc}") from None
        doc["images"] = [
            {"name": name, "data": base64.b64encode((path.parent / name).read_bytes()).decode("ascii")}
            for name in doc.get("figures", []) if name.endswith(".png") and (path.parent / name).exists()
        ]
        found.append(doc)
    def position(doc: dict[str, Any]) -> tuple[int, int, str]:
        order = doc.get("order")
        known = isinstance(order, int) and not isinstance(order, bool)
        return (0, order, doc.get("name", "")) if known else (1, 0, doc.get("name", ""))

    return sorted(found, key=position)


def build_report(directory: str | Path, output: str | Path | None = None, *, title: str = "reglab report") -> Path:
    """Write ``DIR/report.html`` (or ``output``) and return its path."""
    root = Path(directory)
    experiments = collect_experiments(root)
    env = Environment(loader=PackageLoader("reglab.report", "templates"), autoescape=select_autoescape(["html", "j2"]))
    env.filters["cell"] = _cell
    html = env.get_template("report.html.j2").render(
        title=title, experiments=experiments, source_dir=str(root), version=__version__,
        generated=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()))
    target = Path(output) if output else root / "report.html"
    target.write_text(html, encoding="utf-8")
    return target
