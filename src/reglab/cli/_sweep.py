"""``reglab sweep CONFIG.toml``: a whole grid of runs, trained together where they can be."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from reglab.cli._common import emit_error, emit_json, fmt, guard, stderr, stdout
from reglab.cli._signals import sigterm_as_interrupt
from reglab.errors import ConfigError, ExitCode
from reglab.store import DEFAULT_OUT
from reglab.sweep import ENGINES, EXECUTORS, PointReport, SweepResult, load_sweep, plan_sweep, run_sweep

__all__ = ["sweep_command", "sweep_exit_code"]


def sweep_exit_code(points: list[PointReport]) -> ExitCode:
    """0 when every point completed; 1/2 when one failed (a bug / bad input); 3 when one diverged."""
    failed = [p for p in points if p.status == "failed"]
    if failed:
        return ExitCode.INTERNAL if any(p.error_kind == "internal" for p in failed) else ExitCode.BAD_INPUT
    if any(p.status == "interrupted" for p in points):
        return ExitCode.INTERRUPTED
    if any(p.status == "diverged" for p in points):
        return ExitCode.DIVERGED
    return ExitCode.OK


def _table(title: str, points: list[PointReport], axes: list[str]) -> Table:
    table = Table(title=Text(title), header_style="bold")
    short = [a.rsplit(".", 1)[-1] for a in axes]
    headers = short if len(set(short)) == len(short) else axes
    for column in ["#", "id", *headers, "status", "engine", "test_error", "train_loss"]:
        table.add_column(Text(column), justify="right" if column in ("#", "test_error", "train_loss") else "left")
    for p in points:
        final = p.final or {}
        table.add_row(str(p.index + 1), p.id[:8], *(Text(fmt(p.config.get(a))) for a in axes), Text(p.status),
                      Text(p.engine), fmt(final.get("test_error")), fmt(final.get("train_loss")))
    return table


@guard
def sweep_command(
    config: Path = typer.Argument(..., help="TOML: a run config plus a sweep table of axes (see reglab.sweep)"),
    executor: str = typer.Option("auto", "--executor",
                                 help=f"where units run: {', '.join(EXECUTORS)} (auto: dask with --scheduler, "
                                      "a process pool when --workers > 1, else this process)"),
    workers: int = typer.Option(1, "--workers", min=1, help="worker processes for --executor process or dask"),
    scheduler: Optional[str] = typer.Option(None, "--scheduler",
                                            help="a Dask scheduler's address (tcp://HOST:PORT) for --executor dask; "
                                                 "without it dask starts a local cluster on 127.0.0.1"),
    engine: str = typer.Option("vectorized", "--engine",
                               help="vectorized: train points that share data and model together; auto: time a "
                                    "few steps of both engines per group and keep the faster; separate: each "
                                    "point on its own"),
    dry_run: bool = typer.Option(False, "--dry-run", help="print the expanded grid and the plan, train nothing"),
    set_: Optional[list[str]] = typer.Option(None, "--set", help="override a base config value: key=value"),
    out: Path = typer.Option(Path(DEFAULT_OUT), "--out", help="results directory (runs.db and runs/)"),
    json_: bool = typer.Option(False, "--json", help="print one JSON document on stdout"),
    quiet: bool = typer.Option(False, "--quiet", help="no progress bar"),
) -> None:
    """Train every point of a sweep grid not yet in OUT; points that share data and model train together.

    Exit code 0 when every point completed, 3 when one diverged, 4 when interrupted, 2 for bad input.
    """
    sweep = load_sweep(config, list(set_ or []))
    if engine not in ENGINES:
        raise ConfigError(f"--engine must be one of {', '.join(ENGINES)}; got {engine!r}", field="--engine")
    axes = list(sweep.axes)
    if dry_run:
        _, reports = plan_sweep(sweep, out=out, engine=engine)
        result = SweepResult(sweep.id, executor, reports, 0.0, str(out), dry_run=True)
        _print(result, axes, json_, f"sweep {sweep.id}: {len(sweep)} points (dry run)")
        return
    try:
        with Progress(TextColumn("[bold]grid"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.description}"),
                      TimeElapsedColumn(), console=stderr, disable=quiet) as bar, sigterm_as_interrupt():
            task = bar.add_task("", total=len(sweep))

            def report(done: int, total: int, text: str) -> None:
                bar.update(task, completed=done, total=total, description=Text(text).plain)

            result = run_sweep(sweep, out=out, executor=executor, workers=workers, scheduler=scheduler,
                               engine=engine, progress=report, argv=["sweep", str(config), *[f"--set={s}" for s in set_ or []]])
    except KeyboardInterrupt:
        emit_error("interrupted", "interrupted; the points that finished are stored, those in flight are "
                   "'interrupted': run the same command again to train the rest", None, json_)
        raise typer.Exit(int(ExitCode.INTERRUPTED)) from None
    _print(result, axes, json_, f"sweep {sweep.id}: {result.new_runs} new runs, {result.resumed} resumed, "
                                f"{result.skipped} skipped, {result.seconds:.1f} s on '{result.executor}'")
    code = sweep_exit_code(result.points)
    if code != ExitCode.OK:
        raise typer.Exit(int(code))


def _print(result: SweepResult, axes: list[str], as_json: bool, title: str) -> None:
    if as_json:
        emit_json(result.to_json())
        return
    stdout.print(_table(title, result.points, axes))
    for p in result.points:
        if p.reason and p.status not in ("completed", "planned"):
            stdout.print(Text(f"point {p.index + 1} ({p.status}): {p.reason}"))
    engines = {}
    for p in result.points:
        engines.setdefault((p.engine, p.engine_reason), []).append(p.index + 1)
    for (engine, why), idx in engines.items():
        stdout.print(Text(f"{engine} ({len(idx)} points): {why}"))
    if result.out and not result.dry_run:
        stdout.print(Text(f"stored in {Path(result.out) / 'runs.db'}"))
