"""Shared CLI plumbing: consoles, the error guard, JSON output, tables.

Exit codes are :class:`reglab.errors.ExitCode` (documented once, in ``reglab.errors``
and the README): 0 done, 1 a bug in reglab, 2 bad input, 3 diverged, 4 interrupted.
"""

from __future__ import annotations

import functools
import math
import sys
import traceback
from typing import Any, Callable, TypeVar

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from reglab._json import dumps
from reglab.errors import ExitCode, ReglabError

__all__ = ["stderr", "stdout", "guard", "emit_json", "emit_error", "metrics_table", "fmt", "debug_enabled",
           "set_debug", "is_cli_exception"]

stderr = Console(stderr=True)
stdout = Console()

F = TypeVar("F", bound=Callable[..., Any])


_DEBUG = {"on": False}  # set by the root callback on every invocation (`reglab --debug ...`)


def set_debug(on: bool) -> None:
    _DEBUG["on"] = on


def debug_enabled() -> bool:
    """Whether ``reglab --debug`` was given (tracebacks for internal errors)."""
    return _DEBUG["on"]


def is_cli_exception(exc: BaseException) -> bool:
    """typer/click's own control flow (Exit, Abort, usage errors): never reported as a reglab bug."""
    return type(exc).__module__.split(".")[0] in ("click", "typer")


def emit_error(kind: str, message: str, field: str | None, as_json: bool) -> None:
    """One line on stderr (user text printed literally, never as markup); with ``as_json`` also the document."""
    stderr.print(Text.assemble(("error: ", "bold red"), message), highlight=False, soft_wrap=True)
    if as_json:
        emit_json({"error": {"kind": kind, "message": message, "field": field}})


def guard(func: F) -> F:
    """Run a command: input errors exit 2, interruptions 4, bugs 1 with a short message (traceback with --debug)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        as_json = bool(kwargs.get("json_"))
        try:
            return func(*args, **kwargs)
        except ReglabError as exc:
            emit_error(exc.kind, str(exc), exc.field, as_json)
            raise typer.Exit(int(exc.exit_code)) from None
        except KeyboardInterrupt:
            emit_error("interrupted", "interrupted; a stored run is kept as 'interrupted': continue it with --resume",
                       None, as_json)
            raise typer.Exit(int(ExitCode.INTERRUPTED)) from None
        except Exception as exc:
            if is_cli_exception(exc):
                raise
            if debug_enabled():
                traceback.print_exc(file=sys.stderr)
            emit_error("internal", f"internal error (a bug in reglab, please report it): {type(exc).__name__}: "
                       f"{exc}" + ("" if debug_enabled() else "; rerun with 'reglab --debug ...' for the traceback"),
                       None, as_json)
            raise typer.Exit(int(ExitCode.INTERNAL)) from None

    return wrapper  # type: ignore[return-value]


def emit_json(document: Any) -> None:
    """Print exactly one strict JSON document on stdout."""
    sys.stdout.write(dumps(document, indent=2) + "\n")
    sys.stdout.flush()


def fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def metrics_table(title: str, rows: dict[str, Any]) -> Table:
    table = Table(title=Text(title), show_header=True, header_style="bold")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in rows.items():
        table.add_row(Text(key), fmt(value))
    return table
