"""``reglab train CONFIG.toml``."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

from reglab.cli._common import emit_json, guard, metrics_table, stderr, stdout
from reglab.cli._signals import sigterm_as_interrupt
from reglab.config import load_config
from reglab.errors import ExitCode
from reglab.store import DEFAULT_OUT
from reglab.train import train

__all__ = ["train_command", "STATUS_EXIT"]

STATUS_EXIT = {"completed": ExitCode.OK, "diverged": ExitCode.DIVERGED, "interrupted": ExitCode.INTERRUPTED}


@guard
def train_command(
    config: Path = typer.Argument(..., help="TOML config with the tables data, model, train and the regularizer list"),
    set_: Optional[list[str]] = typer.Option(None, "--set", help="override a config value: key=value (repeatable)"),
    out: Path = typer.Option(Path(DEFAULT_OUT), "--out", help="results directory (runs.db and runs/)"),
    data_dir: Optional[Path] = typer.Option(None, "--data-dir", help="folder with the MNIST IDX files (mnist-full)"),
    resume: bool = typer.Option(False, "--resume", help="continue the newest unfinished run of this config"),
    json_: bool = typer.Option(False, "--json", help="print one JSON document on stdout"),
    quiet: bool = typer.Option(False, "--quiet", help="no progress bar"),
) -> None:
    """Train a model as CONFIG says; store the run, its metrics and checkpoints in OUT.

    Exit code 0 when the run completed, 3 when it diverged, 4 when interrupted, 2 for bad input.
    """
    overrides = list(set_ or []) + ([f"data.data_dir={str(data_dir)!r}"] if data_dir else [])
    cfg = load_config(config, overrides)
    with Progress(TextColumn("[bold]epoch"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.description}"),
                  TimeElapsedColumn(), console=stderr, disable=quiet, transient=False) as bar, sigterm_as_interrupt():
        task = bar.add_task("", total=cfg.train.epochs, completed=0)

        def report(epoch: int, total: int, metrics: dict | None) -> None:
            desc = ""
            if metrics:
                err = metrics.get("val_error")
                desc = f"loss {metrics['train_loss']:.4f}" + (f"  val err {err:.3f}" if err == err else "")
            bar.update(task, completed=epoch, description=desc)

        def log(line: str) -> None:
            if not quiet:
                stderr.print(Text(line), highlight=False)

        result = train(cfg, out=out, resume=resume, progress=report, log=log)
    if json_:
        emit_json(result.to_json())
    else:
        stdout.print(metrics_table(f"run {result.run_id}: {result.status}", result.final))
        if result.reason:
            stdout.print(Text(f"reason: {result.reason}"))
        stdout.print(Text(f"stored in {out / 'runs.db'}; run folder {result.run_dir}"))
    code = STATUS_EXIT.get(result.status, ExitCode.INTERNAL)
    if code != ExitCode.OK:
        raise typer.Exit(int(code))
