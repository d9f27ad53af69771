"""``reglab runs list | show | export | reindex``: read (and rebuild) the run store."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from rich.text import Text

from reglab._json import dumps
from reglab.cli._common import emit_json, fmt, guard, metrics_table, stdout
from reglab.errors import RunError
from reglab.store import DEFAULT_OUT, RunStore, reindex

runs_app = typer.Typer(help="List, show and export stored runs.", no_args_is_help=True)

OutOption = typer.Option(Path(DEFAULT_OUT), "--out", help="results directory")


def _store(out: Path) -> RunStore:
    """The store in ``out``; a missing runs.db is rebuilt from the run folders (RunStore does that)."""
    if not (out / "runs.db").exists() and not any((out / "runs").glob("*/run.json")):
        raise RunError(f"no run store at {out / 'runs.db'}; train something first or pass --out", field="--out")
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
        table.add_row(r["id"], Text(r["name"] or ""), r["status"], str(r["epochs_done"]),
                      fmt(final.get("test_error")), fmt(final.get("test_loss")))
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
    stdout.print(Text.assemble((run["id"], "bold"), f"  status {run['status']}"
                               + (f"  ({run['reason']})" if run["reason"] else "")))
    stdout.print(f"reglab {run['reglab_version']}, torch {run['torch_version']}, python {run['python_version']}, "
                 f"device {run['device']}; {run['epochs_done']} epochs; {fmt(run['duration_s'])} s")
    stdout.print(f"penalized: {', '.join(run['penalized'] or []) or 'nothing'}")
    stdout.print(Text(dumps(run["config"], indent=2)))
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
        if output is None:
            emit_json({"run_id": run["id"], "history": history})
            return
        text = dumps({"run_id": run["id"], "history": history}, indent=2) + "\n"
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
        try:
            output.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise RunError(f"cannot write {output}: {exc.strerror or exc}", field="--output") from None


@runs_app.command("reindex")
@guard
def reindex_runs(out: Path = OutOption, json_: bool = typer.Option(False, "--json")) -> None:
    """Rebuild OUT/runs.db from the run folders (a damaged database is moved aside, not deleted)."""
    if not (out / "runs").is_dir():
        raise RunError(f"no run folders in {out / 'runs'}; pass the results folder with --out", field="--out")
    done = reindex(out)
    if json_:
        emit_json(done)
        return
    stdout.print(Text(f"indexed {len(done['indexed'])} runs into {out / 'runs.db'}"))
    if done["moved_aside"]:
        stdout.print(Text(f"the damaged database was kept as {done['moved_aside']}"))
    if done["skipped"]:
        stdout.print(Text(f"skipped {len(done['skipped'])} folders without a readable run.json: "
                          + ", ".join(done["skipped"])))
