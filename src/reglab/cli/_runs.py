"""``reglab runs list | show | compare | export | reindex``: read (and rebuild) the run store."""

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

runs_app = typer.Typer(help="List, show, compare and export stored runs.", no_args_is_help=True)

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


@runs_app.command("compare")
@guard
def compare_runs(sweep_id: str = typer.Argument(..., help="a sweep's id (or a unique prefix), as 'reglab sweep' "
                                                        "printed it"),
                 metric: str = typer.Option("test_error", "--metric", help="the final metric to compare"),
                 higher_is_better: bool = typer.Option(False, "--higher-is-better",
                                                       help="the best point has the highest mean (e.g. sparsity); "
                                                            "default: the lowest"),
                 out: Path = OutOption, json_: bool = typer.Option(False, "--json")) -> None:
    """Compare a sweep's points: mean ± sd over seeds per combination of the other axes, and a figure.

    The figure (metric against the strength on a log axis, one line per other axis, the best point
    starred) and a summary go to OUT/sweeps/SWEEP_ID/, where 'reglab report' finds them.
    """
    from reglab.results import comparison_table, compare_sweep, write_comparison

    comparison = write_comparison(compare_sweep(out, sweep_id, metric, higher_is_better=higher_is_better), out)
    if json_:
        emit_json(comparison.to_json())
        return
    doc = comparison_table(comparison)
    table = Table(title=Text(doc["title"]), header_style="bold")
    for i, column in enumerate(doc["columns"]):
        table.add_column(Text(column), justify="left" if i < len(comparison.group_axes) else "right")
    for row in doc["rows"]:
        table.add_row(*map(Text, row), style="bold" if row[-1] else None)
    stdout.print(table)
    if comparison.superseded:
        stdout.print(Text(f"{comparison.superseded} older runs of the same points (earlier tries) were left out"))
    stdout.print(Text(f"figure: {comparison.files['figure']}"))


def _write_history(run_id: str, store: RunStore, as_json: bool, output: Optional[Path]) -> None:
    """A run's per-epoch metrics as CSV (or JSON) on stdout or into ``output``."""
    from reglab.results import known_sweeps

    if run_id in known_sweeps(store):
        raise RunError(f"{run_id} is a sweep: export all its runs with --mlflow URI or --tensorboard DIR, or one "
                       "of them by its run id ('reglab runs compare' lists them with --json)", field="ID")
    run = store.get_run(run_id)
    history = store.metrics(run["id"])
    if as_json:
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


@runs_app.command("export")
@guard
def export_run(ident: str = typer.Argument(..., metavar="ID", help="a run id, or with --mlflow/--tensorboard a "
                                                                   "sweep id (all its runs)"),
               out: Path = OutOption,
               json_: bool = typer.Option(False, "--json/--csv", help="the history as CSV (default) or JSON; with "
                                                                      "--mlflow/--tensorboard: a JSON result"),
               output: Optional[Path] = typer.Option(None, "--output", "-o", help="file to write (default stdout)"),
               mlflow: Optional[str] = typer.Option(None, "--mlflow", help="an MLflow tracking URI or a local folder "
                                                                          "(./mlruns: a file store); "
                                                                          "needs the optional extra mlflow"),
               experiment: Optional[str] = typer.Option(None, "--experiment", help="the MLflow experiment (default: "
                                                                                   "the sweep id or the run's name)"),
               tensorboard: Optional[Path] = typer.Option(None, "--tensorboard",
                                                          help="a folder for TensorBoard event files, one subfolder "
                                                               "per run; needs the optional extra tensorboard")) -> None:
    """Export a run's per-epoch metrics as CSV (or JSON), or runs and sweeps to MLflow and TensorBoard."""
    if mlflow is None and tensorboard is None:
        _write_history(ident, _store(out), json_, output)
        return
    from reglab.results import export_mlflow, export_tensorboard

    done = {}
    if mlflow is not None:
        done["mlflow"] = export_mlflow(out, ident, mlflow, experiment=experiment).to_json()
    if tensorboard is not None:
        done["tensorboard"] = export_tensorboard(out, ident, tensorboard).to_json()
    if json_:
        emit_json(done)
        return
    for tool, result in done.items():
        what = f" (experiment {result['name']!r})" if tool == "mlflow" else ""
        stdout.print(Text(f"{tool}: {len(result['exported'])} runs written to {result['target']}{what}"
                          + (f", {len(result['skipped'])} already there" if result["skipped"] else "")))


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
