"""The ``reglab`` command: a thin shell over the library."""

from __future__ import annotations

import typer

from reglab._version import __version__
from reglab.cli._common import set_debug
from reglab.cli._datasets import datasets_command
from reglab.cli._evidence import tune_alpha_command
from reglab.cli._experiments import demo_command, experiment_command, report_command
from reglab.cli._lab import backprop_check_command, hessian_command, lambda_app, verify_command
from reglab.cli._playground import playground_command
from reglab.cli._runs import runs_app
from reglab.cli._sweep import sweep_command
from reglab.cli._train import train_command

app = typer.Typer(
    name="reglab",
    help="Train neural networks with the classical regularizers and see and verify what they do.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.command("train")(train_command)
app.command("datasets")(datasets_command)
app.add_typer(runs_app, name="runs")
app.add_typer(lambda_app, name="lambda")
app.command("backprop-check")(backprop_check_command)
app.command("verify")(verify_command)
app.command("hessian")(hessian_command)
app.command("experiment")(experiment_command)
app.command("report")(report_command)
app.command("demo")(demo_command)
app.command("sweep")(sweep_command)
app.command("tune-alpha")(tune_alpha_command)
app.command("playground")(playground_command)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"reglab {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="print the version and exit"),
    threads: int = typer.Option(0, "--threads", min=0, envvar="REGLAB_THREADS",
                                help="CPU threads for torch (0: torch's default). Small models often run "
                                     "fastest with 1, and a shared machine thrashes with more."),
    debug: bool = typer.Option(False, "--debug", envvar="REGLAB_DEBUG",
                               help="show the Python traceback of an internal error (exit code 1)"),
) -> None:
    """reglab: regularization you can see and verify.

    Exit codes: 0 done, 1 internal error (a bug; --debug shows the traceback), 2 bad input,
    3 a run diverged, 4 interrupted (continue with --resume).
    """
    set_debug(debug)
    if threads:
        import torch

        torch.set_num_threads(threads)
