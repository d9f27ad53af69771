"""``reglab experiment``, ``reglab report`` and ``reglab demo``."""

from __future__ import annotations

import webbrowser
from pathlib import Path
from typing import Optional

import typer
from rich.text import Text
from rich.table import Table

from reglab.cli._common import emit_json, guard, stderr, stdout
from reglab.errors import ReglabError
from reglab.store import DEFAULT_OUT



def _print_result(doc: dict) -> None:
    stdout.print(f"[bold]{doc['title']}[/]  ({doc['name']}, {doc['source']}, {doc['seconds']:.1f} s)")
    for t in doc["tables"]:
        table = Table(title=t["title"])
        for c in t["columns"]:
            table.add_column(str(c), justify="right")
        for row in t["rows"]:
            table.add_row(*[f"{v:.4g}" if isinstance(v, float) else str(v) for v in row])
        stdout.print(table)
    stdout.print(f"[italic]{doc['reading']}[/]")


def _list(json_: bool) -> None:
    from reglab.experiments import EXPERIMENTS

    if json_:
        emit_json({"experiments": [{"name": e.name, "title": e.title, "source": e.source,
                                    "description": e.description} for e in EXPERIMENTS.values()]})
        return
    table = Table(title="built-in experiments (reglab experiment NAME [--quick])")
    for col in ("name", "from", "what"):
        table.add_column(col)
    for e in EXPERIMENTS.values():
        table.add_row(e.name, e.source, e.description)
    stdout.print(table)


@guard
def experiment_command(
    name: Optional[str] = typer.Argument(None, help="experiment name (see --list)"),
    list_: bool = typer.Option(False, "--list", help="list the built-in experiments"),
    quick: bool = typer.Option(False, "--quick", help="a reduced version (well under a minute)"),
    seeds: int = typer.Option(1, "--seeds", min=1, help="repeat over this many seeds"),
    out: Path = typer.Option(Path(DEFAULT_OUT), "--out", help="results directory"),
    json_: bool = typer.Option(False, "--json", help="print the summary as one JSON document"),
    engine: Optional[str] = typer.Option(None, "--engine",
                                         help="how lists of runs train: vectorized (runs that share data and "
                                              "model in one pass), auto (time both, keep the faster) or separate "
                                              "(one at a time); default REGLAB_EXPERIMENT_ENGINE or vectorized"),
) -> None:
    """Run one of the lecture notes' experiments: runs, figures (PNG, SVG) and summary.json in OUT.

    Progress (runs done of total, the current pass's epochs) goes to stderr, with --json too.
    """
    from reglab.experiments import run_experiment

    if list_ or name is None:
        _list(json_)
        return
    with stderr.status(f"running {name}{' (quick)' if quick else ''}…") as status:
        def log(message: str) -> None:  # a live status line in a terminal; one line per step in a log file
            if stderr.is_terminal:
                status.update(Text(f"{name}: {message}"))
            else:
                stderr.print(Text(f"{name}: {message}"), highlight=False)

        doc = run_experiment(name, out, quick=quick, seeds=seeds, log=log, engine=engine)
    stderr.print(f"wrote {out / 'experiments' / name / 'summary.json'} and {len(doc['figures'])} figure files")
    if json_:
        emit_json(doc)
    else:
        _print_result(doc)


@guard
def report_command(
    directory: Path = typer.Argument(Path(DEFAULT_OUT), help="results directory holding experiments/"),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="HTML file (default DIR/report.html)"),
    open_: bool = typer.Option(False, "--open", help="open the report in a browser"),
    redraw_: bool = typer.Option(False, "--redraw", help="first redraw every experiment's figures from its "
                                                         "summary.json (nothing is retrained)"),
    json_: bool = typer.Option(False, "--json"),
) -> None:
    """Write one self-contained HTML page with every experiment and sweep found in DIRECTORY.

    Each sweep in DIRECTORY's run store is compared first (as 'reglab runs compare' does, on the
    metric it was last compared on), so its table and figure are current; nothing is trained.
    """
    from reglab.report import build_report, collect_experiments, collect_sweeps
    from reglab.results import refresh_sweeps

    if redraw_:
        from reglab.experiments import redraw

        for summary in sorted((Path(directory) / "experiments").glob("*/summary.json")):
            redraw(summary)
    skipped: list[dict[str, str]] = []
    try:
        if Path(directory).is_dir():
            refresh_sweeps(directory)
    except ReglabError as exc:  # e.g. a damaged runs.db: the page still shows what the files hold
        stderr.print(Text(f"warning: the sweeps were not compared again: {exc}"), highlight=False)
    path = build_report(directory, output, skipped=skipped)
    names = [e["name"] for e in collect_experiments(directory)]
    sweeps = [s["sweep_id"] for s in collect_sweeps(directory)]
    for s in skipped:
        stderr.print(Text(f"warning: skipped {s['path']}: {s['reason']}"), highlight=False)
    if json_:
        emit_json({"report": str(path), "experiments": names, "sweeps": sweeps, "skipped": skipped})
    else:
        stdout.print(Text(f"report with {len(names)} experiments and {len(sweeps)} sweeps: {path}"))
    if open_:
        webbrowser.open(path.resolve().as_uri())


@guard
def demo_command(
    out: Path = typer.Option(Path(DEFAULT_OUT), "--out", help="results directory"),
    open_: bool = typer.Option(False, "--open", help="open the report in a browser"),
    json_: bool = typer.Option(False, "--json"),
) -> None:
    """A guided tour: quick versions of a few experiments, then the HTML report."""
    from reglab.experiments import run_demo

    status = None

    def start(i: int, n: int, name: str) -> None:
        nonlocal status
        stderr.rule(f"[{i}/{n}] {name}")
        status = stderr.status(f"running {name} (quick)…")
        status.start()

    def done(doc: dict) -> None:
        status.stop()
        stderr.print(f"[bold]{doc['title']}[/]\n{doc['reading']}\n", highlight=False)

    try:
        demo = run_demo(out, on_start=start, log=lambda n, m: status.update(f"{n}: {m}"), on_done=done)
    finally:
        if status is not None:
            status.stop()
    path, docs = demo.report, demo.documents
    if json_:
        emit_json({"report": str(path), "experiments": [{"name": d["name"], "reading": d["reading"],
                                                          "figures": d["figures"]} for d in docs]})
    else:
        stdout.print(f"demo done: open {path} (or run 'reglab report {out} --open')")
    if open_:
        webbrowser.open(path.resolve().as_uri())
