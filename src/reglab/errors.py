"""Errors that reglab raises for bad input.

Every error a user can cause by what they type or write in a config is a
:class:`ReglabError`. The CLI prints its message as one sentence and exits with
code 2; it never shows a Python traceback for these.
"""

from __future__ import annotations

__all__ = ["ReglabError", "ConfigError", "DataError", "RunError"]


class ReglabError(Exception):
    """Base class for errors caused by input (config, data, arguments)."""

    exit_code = 2


class ConfigError(ReglabError, ValueError):
    """A config value is missing, unknown, of the wrong type or out of range."""


class DataError(ReglabError):
    """A data set cannot be found, read or verified."""


class RunError(ReglabError):
    """A stored run cannot be found, resumed or exported."""
