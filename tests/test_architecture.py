"""The layering of ARCHITECTURE.md holds: no import in src/reglab runs upward.

The layer table is read from ARCHITECTURE.md itself, so the page and the code cannot drift.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "reglab"


def layers() -> dict[str, int]:
    table = {}
    for line in (ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8").splitlines():
        match = re.fullmatch(r"\|\s*(\d+)\s*\|(.*)\|", line.strip())
        if match:
            for name in re.findall(r"`([\w]+)`", match.group(2)):
                table[name] = int(match.group(1))
    return table


def package_of(path: Path) -> str:
    return path.relative_to(SRC).parts[0].removesuffix(".py")


def imported_packages(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        found |= {n.split(".")[1] for n in names if n.startswith("reglab.")}
    return found


def test_the_table_names_every_package():
    table = layers()
    packages = {package_of(p) for p in SRC.rglob("*.py")} - {"__init__", "__main__"}
    assert packages <= set(table), f"packages missing from ARCHITECTURE.md's layer table: {packages - set(table)}"


def test_a_made_up_upward_import_would_be_caught(tmp_path):
    fake = tmp_path / "x.py"
    fake.write_text("from reglab.cli import main\n")
    assert imported_packages(fake) == {"cli"}


def test_no_import_runs_upward():
    table = layers()
    violations = []
    for path in sorted(SRC.rglob("*.py")):
        own = package_of(path)
        if own in ("__init__", "__main__"):
            continue
        upward = sorted(p for p in imported_packages(path) - {own} if table.get(p, 99) >= table[own])
        violations += [f"{path.relative_to(SRC)} (layer {table[own]}) imports {p} (layer {table.get(p)})"
                       for p in upward]
    assert not violations, "\n".join(violations)
