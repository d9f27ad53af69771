"""Errors that reglab raises for bad input, and the exit codes of the ``reglab`` command.

Every error a user can cause — by what they type, write in a config, or point
reglab at (a data file, a results folder, a run) — is a :class:`ReglabError`.
The CLI prints its message as one line and exits with code 2; it never shows a
Python traceback for these. Any other exception is a bug in reglab: exit code 1,
a one-line summary, and the traceback behind ``reglab --debug``.

Exit codes (one meaning each, the same with and without ``--json``):

====  ================  ====================================================
code  name              meaning
====  ================  ====================================================
0     ``OK``            the command did its work; a run completed
1     ``INTERNAL``      a bug in reglab (rerun with ``--debug`` for the traceback)
2     ``BAD_INPUT``     bad input: config, arguments, data files, results folder, run
3     ``DIVERGED``      a run diverged (non-finite loss or weights); it is stored
4     ``INTERRUPTED``   interrupted (Ctrl-C or SIGTERM); continue with ``--resume``
====  ================  ====================================================

With ``--json`` an error prints one document on stdout::

    {"error": {"kind": "config", "message": "...", "field": "train.lr"}}
"""

from __future__ import annotations

from enum import IntEnum

__all__ = ["ExitCode", "ReglabError", "ConfigError", "DataError", "RunError", "RunLockedError", "StoreError"]


class ExitCode(IntEnum):
    """The exit codes of ``reglab``; see the module docstring."""

    OK = 0
    INTERNAL = 1
    BAD_INPUT = 2
    DIVERGED = 3
    INTERRUPTED = 4


class ReglabError(Exception):
    """Base class for errors caused by input (config, data, arguments, files).

    ``field`` names the config key or argument at fault when there is one
    (``"train.lr"``, ``"--out"``); ``kind`` says which family the error is in.
    """

    exit_code = ExitCode.BAD_INPUT
    kind = "input"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field

    def to_json(self) -> dict[str, dict[str, str | None]]:
        """``{"error": {"kind", "message", "field"}}``, the document ``--json`` prints."""
        return {"error": {"kind": self.kind, "message": str(self), "field": self.field}}


class ConfigError(ReglabError, ValueError):
    """A config value is missing, unknown, of the wrong type or out of range."""

    kind = "config"


class DataError(ReglabError):
    """A data set cannot be found, read or verified."""

    kind = "data"


class RunError(ReglabError):
    """A stored run cannot be found, resumed or exported."""

    kind = "run"


class RunLockedError(RunError):
    """A run is being trained by another live process (its PID is in the message)."""

    kind = "run_locked"


class StoreError(ReglabError):
    """The results folder or its ``runs.db`` cannot be created, opened or read."""

    kind = "store"
