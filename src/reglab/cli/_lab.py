"""``reglab lambda``, ``reglab backprop-check``, ``reglab verify``, ``reglab hessian``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Optional

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from reglab.cli._common import emit_json, fmt, guard, stderr, stdout
from reglab.errors import ConfigError
from reglab.store import DEFAULT_OUT

lambda_app = typer.Typer(help="Convert a regularization strength between conventions.", no_args_is_help=True)


@lambda_app.command("convert")
@guard
def lambda_convert(
    value: float = typer.Option(..., "--value", help="the strength to convert"),
    from_: str = typer.Option(..., "--from", help="convention of --value (see 'reglab lambda list')"),
    to: str = typer.Option("reglab", "--to", help="target convention"),
    n: Optional[int] = typer.Option(None, "--n", help="number of training examples (nielsen, sklearn)"),
    lr: Optional[float] = typer.Option(None, "--lr", help="learning rate (loshchilov-hutter)"),
    json_: bool = typer.Option(False, "--json"),
) -> None:
    """Convert VALUE from one convention to another, e.g. Nielsen's λ to torch's weight_decay."""
    from reglab.regularize.conventions import convert

    result = convert(value, from_, to, n=n, lr=lr)
    if json_:
        emit_json({"value": result, "from": from_, "to": to, "input": value, "n": n, "lr": lr})
    else:
        stdout.print(f"{value:g} ({from_}) = {result:.10g} ({to})")


@lambda_app.command("list")
@guard
def lambda_list(json_: bool = typer.Option(False, "--json")) -> None:
    """List the conventions and what each number multiplies."""
    from reglab.regularize.conventions import CONVENTIONS

    if json_:
        emit_json({"conventions": dict(CONVENTIONS)})
        return
    table = Table(title="strength conventions (reglab α: penalty (α/2)‖w‖² on the mean loss)")
    table.add_column("name")
    table.add_column("meaning")
    for name, text in CONVENTIONS.items():
        table.add_row(name, str(text))
    stdout.print(table)


@guard
def backprop_check_command(seed: int = typer.Option(0, "--seed"), json_: bool = typer.Option(False, "--json")) -> None:
    """Compare the notes' NumPy backprop (BP1–BP4) with torch autograd and with reglab's training step."""
    from reglab.verify import full_backprop_check

    result = full_backprop_check(seed)
    if json_:
        emit_json(result)
    else:
        stdout.print(f"gradients: max relative difference to autograd (float64) = {result['max_rel_diff']:.3g} "
                     f"over {len(result['cases'])} random networks")
        stdout.print(f"one SGD epoch with L2: max |Δparameter| reference vs reglab = {result['epoch_max_abs_diff']:.3g}")
        stdout.print("[green]passed[/]" if result["passed"] else "[red]FAILED[/]")
    if not result["passed"]:
        raise typer.Exit(1)


@guard
def verify_command(
    config: Path = typer.Argument(..., help="TOML run config (its [verify] table gives defaults)"),
    more_alphas: Optional[list[float]] = typer.Argument(None, metavar="[A ...]",
                                                        help="further strengths after --alpha: --alpha 0.01 0.1 1"),
    alpha: Optional[list[float]] = typer.Option(None, "--alpha", help="strengths α (on the mean loss)"),
    penalty: Optional[str] = typer.Option(None, "--penalty", help="l2 or l1"),
    threshold: Optional[float] = typer.Option(None, "--threshold", help="relative error under which it 'holds'"),
    set_: Optional[list[str]] = typer.Option(None, "--set", help="override a config value: key=value"),
    json_: bool = typer.Option(False, "--json"),
) -> None:
    """Predict w̃(α) from the Hessian at w* (the notes' formula), train to w̃(α), and compare."""
    from reglab.config import load_config
    from reglab.verify import verify_config

    if more_alphas and not alpha:
        raise ConfigError(f"unexpected values {more_alphas}: give strengths as --alpha A [A ...]", field="--alpha")
    alphas = [*(alpha or []), *(more_alphas or [])]
    cfg = load_config(config, set_ or [])
    stderr.print("fitting the unregularized and regularized minimizers (full-batch, float64)…")
    report = verify_config(cfg, alphas=alphas or None, penalty=penalty, threshold=threshold)
    if json_:
        emit_json(report.to_json())
        return
    table = Table(title=f"verify {config.name}: {report.penalty.upper()}, {report.n_penalized} penalized of "
                        f"{report.n_parameters} parameters; minimizer {report.minimizer}")
    cols = ["α", "rel. error", "cosine", "‖w̃‖ trained", "‖w̃‖ predicted"]
    cols += ["zeros pred/trained"] if report.penalty == "l1" else ["eff. params", "max |Δshrink|"]
    cols += ["holds"]
    for c in cols:
        table.add_column(c, justify="right")
    for c in report.cases:
        row = [fmt(c.alpha), f"{c.rel_err:.2e}", f"{c.cosine:.6f}", fmt(c.norm_trained), fmt(c.norm_predicted)]
        row += ([f"{c.zeros_predicted}/{c.zeros_trained}"] if report.penalty == "l1"
                else [fmt(c.effective_parameters), fmt(c.shrink_max_abs_diff)])
        row += ["yes" if c.holds else "no"]
        table.add_row(*row)
    stdout.print(table)
    for note in report.notes:
        stdout.print(f"note: {note}")
    stdout.print(f"verdict: {report.verdict}")


@contextmanager
def _curvature_progress(enabled: bool) -> Iterator[Callable | None]:
    """A rich progress bar on stderr fed by the curvature routines' ``progress`` events (one line per task)."""
    if not enabled:
        yield None
        return
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("HVPs"),
               TextColumn("{task.fields[residual]}"), TimeElapsedColumn())
    with Progress(*columns, console=stderr, transient=True) as bar:
        tasks: dict[str, TaskID] = {}

        def update(event) -> None:
            if event.task not in tasks:
                tasks[event.task] = bar.add_task(event.task, total=event.expected, residual="")
            residual = "" if event.residual is None else f"residual {event.residual:.1e}"
            bar.update(tasks[event.task], completed=event.done, total=event.expected, residual=residual)

        yield update


@guard
def hessian_command(
    run: str = typer.Argument(..., help="run id (or prefix) in --out, or a run folder"),
    out: Path = typer.Option(Path(DEFAULT_OUT), "--out", help="results directory"),
    top: int = typer.Option(5, "--top", min=0, help="largest eigenvalues"),
    bottom: int = typer.Option(0, "--bottom", min=0, help="smallest eigenvalues"),
    trace_: bool = typer.Option(False, "--trace", help="trace by Hutch++ (exact when small)"),
    density: bool = typer.Option(False, "--density", help="spectral density by stochastic Lanczos quadrature "
                                                          "(the probes as one block)"),
    density_probes: Optional[int] = typer.Option(None, "--density-probes", min=1,
                                                 help="SLQ probes, Rademacher vectors (default 3)"),
    density_steps: Optional[int] = typer.Option(None, "--density-steps", min=1,
                                                help="Lanczos steps per SLQ probe (default 30)"),
    params: str = typer.Option("all", "--params", help="all | weights"),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", min=1,
                                             help="accumulate each product over chunks of this many examples "
                                                  "(memory bounded by one chunk; default: one pass)"),
    dtype: str = typer.Option("float64", "--dtype", help="float64 | float32 products (Lanczos is float64 either way; "
                                                         "residuals are measured in float64)"),
    device: str = typer.Option("cpu", "--device", help="cpu | cuda | auto"),
    ggn: bool = typer.Option(False, "--ggn", help="the generalized Gauss-Newton matrix instead of the Hessian"),
    method: str = typer.Option("auto", "--method",
                               help="eigen method: auto | dense | lanczos | block-lanczos | arpack"),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="progress bar on stderr"),
    json_: bool = typer.Option(False, "--json"),
) -> None:
    """Hessian (or GGN) of the mean training loss of a stored run: eigenvalues, trace, density."""
    from reglab.analysis import stored_hessian_summary
    from reglab.curvature._eigen import EIGEN_METHODS

    if params not in ("all", "weights"):
        raise ConfigError(f"--params must be 'all' or 'weights', got {params!r}", field="--params")
    if method not in EIGEN_METHODS:
        raise ConfigError(f"--method must be one of {', '.join(EIGEN_METHODS)}, got {method!r}", field="--method")
    for flag, value, allowed in (("--dtype", dtype, ("float64", "float32")),
                                 ("--device", device, ("cpu", "cuda", "auto"))):
        if value not in allowed and not (flag == "--device" and value.startswith("cuda:")):
            raise ConfigError(f"{flag} must be one of {', '.join(allowed)}, got {value!r}", field=flag)
    with _curvature_progress(progress) as callback:
        summary = stored_hessian_summary(run, out, top=top, bottom=bottom, with_trace=trace_, with_density=density,
                                         params=params, batch_size=batch_size, dtype=dtype, device=device, ggn=ggn,
                                         eigen_method=method, progress=callback,
                                         **({} if density_probes is None else {"density_probes": density_probes}),
                                         **({} if density_steps is None else {"density_steps": density_steps}))
    if json_:
        emit_json(summary)
        return
    name = "GGN" if ggn else "Hessian"
    chunks = f", chunks of {batch_size}" if batch_size else ""
    stdout.print(f"run {summary['run_id']}: {name} of the mean {summary['loss']} over {summary['n_train']} "
                 f"examples, {summary['n_parameters']} parameters ({params}); {summary['dtype']} products on "
                 f"{summary['device']}{chunks}")
    for key in ("top", "bottom"):
        if key in summary:
            part = summary[key]
            vals = ", ".join(f"{v:.5g}" for v in part["eigenvalues"])
            stdout.print(f"{key} eigenvalues: {vals}  (max residual {max(part['residual_norms']):.2e}, "
                         f"max residual/|λ| {max(part['relative_residuals']):.1e}, "
                         f"{part['num_matvecs']} HVPs, {part['method']})")
    if "trace" in summary:
        t = summary["trace"]
        stdout.print(f"trace: {t['estimate']:.6g} ± {t['stderr']:.2g} ({t['method']}, {t['num_matvecs']} HVPs)")
    if "density" in summary:
        d = summary["density"]
        m1, m2 = d["moments"]["1"], d["moments"]["2"]
        stdout.print(f"density: {d['num_probes']} probes × {d['lanczos_steps']} Lanczos steps ({d['num_matvecs']} HVPs, "
                     f"{d['method']}); tr(H)/P ≈ {m1['estimate']:.4g} ± {m1['stderr']:.2g}, "
                     f"tr(H²)/P ≈ {m2['estimate']:.4g} ± {m2['stderr']:.2g}; {len(d['grid'])} grid points "
                     f"(use --json for the values)")
