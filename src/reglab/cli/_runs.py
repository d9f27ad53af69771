"""``reglab runs list | show | export``: read the run store."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from reglab.cli._common import emit_json, fmt, guard, metrics_table, stdout
from reglab.errors import RunError
from reglab.store import DEFAULT_OUT, RunStore

runs_app = typer.Typer(help="List, show and export stored runs.", no_args_is_help=True)

OutOption = typer.Option(Path(DEFAULT_OUT), "--out", help="results directory")


def _store(out: Path) -> RunStore:
    if not (out / "runs.db").exists():
        raise RunError(f"no run store at {out / 'runs.db'}; train something first or pass --out")
    return RunStore(out)


@runs_app.command("list")
@guard
def list_runs(out: Path = OutOption, json_: bool = typer.Option(False, "--json"),
              limit: int = typer.Option(50, "--limit", min=1)) -> None:
    """List runs, newest first."""
    runs = _store(out).list_runs(limit)
    if json_:
        emit_json({"runs": [{k: r[k] for k in ("id", "name", "status", "epochs_done", "created_at", "final")}
                            for r in runs]})
        return
    table = Table(title=f"runs in {out}")
    for col in ("id", "name", "status", "epochs", "test error", "test loss"):
        table.add_column(col)
    for r in runs:
        final = r["final"] or {}
        table.add_row(r["id"], r["name"] or "", r["status"], str(r["epochs_done"]), fmt(final.get("test_error")),
                      fmt(final.get("test_loss")))
    stdout.print(table)


@runs_app.command("show")
@guard
def show_run(run_id: str, out: Path = OutOption, json_: bool = typer.Option(False, "--json")) -> None:
    """Show one run: config, status, versions, penalized tensors, final metrics."""
    store = _store(out)
    run = store.get_run(run_id)
    if json_:
        emit_json({**run, "history": store.metrics(run["id"])})
        return
    stdout.print(f"[bold]{run['id']}[/]  status {run['status']}" + (f"  ({run['reason']})" if run["reason"] else ""))
    stdout.print(f"reglab {run['reglab_version']}, torch {run['torch_version']}, python {run['python_version']}, "
                 f"device {run['device']}; {run['epochs_done']} epochs; {fmt(run['duration_s'])} s")
    stdout.print(f"penalized: {', '.join(run['penalized'] or []) or 'nothing'}")
    stdout.print(run["config"])
    if run["final"]:
        stdout.print(metrics_table("final", run["final"]))


@runs_app.command("export")
@guard
def export_run(run_id: str, out: Path = OutOption,
               csv_: bool = typer.Option(True, "--csv/--json", help="CSV (default) or JSON"),
               output: Optional[Path] = typer.Option(None, "--output", "-o", help="file to write (default stdout)")) -> None:
    """Export a run's per-epoch metrics as CSV (or JSON)."""
    store = _store(out)
    run = store.get_run(run_id)
    history = store.metrics(run["id"])
    if not csv_:
        text = None
        if output is None:
            emit_json({"run_id": run["id"], "history": history})
            return
        import json

        text = json.dumps({"run_id": run["id"], "history": history}, indent=2)
    else:
        keys = ["epoch"] + sorted({k for h in history for k in h if k != "epoch"})
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=keys, lineterminator="\n")
        writer.writeheader()
        writer.writerows(history)
        text = buf.getvalue()
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
