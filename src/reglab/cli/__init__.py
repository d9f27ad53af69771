"""Command-line interface (typer). ``main`` is the ``reglab`` console script."""

from __future__ import annotations

import sys

import typer

from reglab.cli._app import app
from reglab.cli._common import emit_error, is_cli_exception
from reglab.errors import ExitCode


def main(argv: list[str] | None = None) -> None:
    """Run ``reglab``; a usage error (exit 2) also prints the JSON error document when ``--json`` is given."""
    args = sys.argv[1:] if argv is None else list(argv)
    command = typer.main.get_command(app)
    try:
        code = command.main(args=args, prog_name="reglab", standalone_mode=False)
    except Exception as exc:
        if not is_cli_exception(exc) or not hasattr(exc, "format_message"):
            raise
        if type(exc).__name__ == "NoArgsIsHelpError":  # plain `reglab` or `reglab runs`: the help, as click shows it
            exc.show()
            raise SystemExit(exc.exit_code) from None
        emit_error("usage", exc.format_message(), _param_name(exc), "--json" in args)
        raise SystemExit(getattr(exc, "exit_code", int(ExitCode.BAD_INPUT))) from None
    except KeyboardInterrupt:
        emit_error("interrupted", "interrupted", None, "--json" in args)
        raise SystemExit(int(ExitCode.INTERRUPTED)) from None
    if type(code).__name__ == "Abort" or code is None:
        code = 0
    raise SystemExit(code if isinstance(code, int) else 0)


def _param_name(exc: Exception) -> str | None:
    param = getattr(exc, "param", None)
    if param is None:
        return None
    return param.opts[0] if getattr(param, "opts", None) else param.name


__all__ = ["app", "main"]
