"""Command-line interface (typer). ``main`` is the ``reglab`` console script."""

from reglab.cli._app import app


def main() -> None:
    app()


__all__ = ["app", "main"]
