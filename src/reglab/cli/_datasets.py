"""``reglab datasets``: the built-in data sets and their sizes."""

from __future__ import annotations

import typer
from rich.table import Table

from reglab.cli._common import emit_json, guard, stdout
from reglab.data import DATASETS, load_dataset
from reglab.errors import DataError


@guard
def datasets_command(json_: bool = typer.Option(False, "--json")) -> None:
    """List the data sets with their task and train/val/test sizes (default settings)."""
    rows = []
    for name, info in DATASETS.items():
        row = {"name": name, "task": info.task, "description": info.description}
        try:
            splits = load_dataset(name)
            row.update(sizes=splits.sizes(), input_shape=list(splits.train.x.shape[1:]),
                       classes=splits.n_classes or None)
        except DataError:
            row.update(sizes=None, input_shape=None, classes=10, note="needs data.data_dir or $REGLAB_DATA")
        rows.append(row)
    if json_:
        emit_json({"datasets": rows})
        return
    table = Table(title="reglab data sets")
    for col in ("name", "task", "train", "val", "test", "input", "description"):
        table.add_column(col)
    for r in rows:
        s = r["sizes"] or {}
        table.add_row(r["name"], r["task"], str(s.get("train", "–")), str(s.get("val", "–")), str(s.get("test", "–")),
                      "×".join(map(str, r["input_shape"] or [])) or "–", r["description"])
    stdout.print(table)
