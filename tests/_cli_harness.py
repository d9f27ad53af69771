"""Shared helpers of the bad-input, property and fault suites: run ``reglab`` and judge the outcome.

Commands run in process (typer's ``CliRunner`` on ``reglab.cli._app.app``) unless a real
process matters; an exception escaping the command in process is what a user would see as a
traceback, so it counts as one.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import traceback
from pathlib import Path
from typing import Any

import numpy as np
from typer.testing import CliRunner

REGLAB = [sys.executable, "-m", "reglab"]
# ordinary environment of a user: no data folder configured, wide terminal (no wrapping inside keys)
ENV = {"REGLAB_DATA": None, "COLUMNS": "200", "NO_COLOR": "1"}
EXIT = {"completed": 0, "internal": 1, "bad_input": 2, "diverged": 3, "interrupted": 4}

# A tiny, fast run: 200 digits images, one hidden layer of 8, one epoch (about 50 ms in process).
TINY_CONFIG = """\
name = "tiny"

[data]
name = "digits"
n_train = 200

[model]
hidden = [8]

[train]
epochs = 1
batch_size = 64
lr = 0.1

[[regularizer]]
kind = "l2"
alpha = 1e-3
"""


class Outcome:
    """What a command did: exit code, stdout, stderr, and a traceback if one escaped."""

    def __init__(self, code: int, stdout: str, stderr: str, traceback_text: str | None) -> None:
        self.code, self.stdout, self.stderr, self.traceback = code, stdout, stderr, traceback_text

    def __repr__(self) -> str:
        tb = f"\n--- escaped exception ---\n{self.traceback}" if self.traceback else ""
        return f"exit {self.code}\n--- stdout ---\n{self.stdout[-3000:]}\n--- stderr ---\n{self.stderr[-3000:]}{tb}"


def invoke(args: list[str], env: dict[str, str | None] | None = None) -> Outcome:
    """Run ``reglab ARGS`` in this process."""
    from reglab.cli._app import app

    result = CliRunner().invoke(app, [str(a) for a in args], env={**ENV, **(env or {})}, catch_exceptions=True)
    tb = None
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        tb = "".join(traceback.format_exception(*result.exc_info))
    return Outcome(result.exit_code, result.stdout, result.stderr, tb)


def run_process(args: list[str], cwd: str | os.PathLike | None = None, timeout: float = 300) -> Outcome:
    """Run ``python -m reglab ARGS`` as a real process."""
    env = {**os.environ, **{k: v for k, v in ENV.items() if v is not None}, "OMP_NUM_THREADS": "1"}
    env.pop("REGLAB_DATA", None)
    proc = subprocess.run([*REGLAB, *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=timeout,
                          env=env)
    return Outcome(proc.returncode, proc.stdout, proc.stderr, None)


def flat(text: str) -> str:
    """Text with line breaks, rich panel borders and runs of spaces collapsed to one space."""
    return re.sub(r"[\s│╭╮╰╯─]+", " ", text)


def norm_key(key: str | None) -> str:
    """``regularizer[0].alpha`` and ``regularizer.0.alpha`` are the same field."""
    return re.sub(r"\[(\d+)\]", r".\1", key or "").strip(".")


def assert_no_traceback(out: Outcome) -> None:
    assert out.traceback is None, f"an exception escaped the command (a traceback for the user):\n{out!r}"
    assert "Traceback" not in out.stdout + out.stderr, repr(out)


def error_document(out: Outcome) -> dict[str, Any]:
    """The one JSON error document ``--json`` prints on stdout: ``{"error": {kind, message, field}}``."""
    try:
        doc = json.loads(out.stdout)
    except json.JSONDecodeError:
        raise AssertionError(f"--json error: stdout is not one JSON document\n{out!r}") from None
    assert isinstance(doc, dict) and set(doc) == {"error"}, f"not an error document: {doc}"
    err = doc["error"]
    assert set(err) >= {"kind", "message", "field"}, f"error document lacks kind/message/field: {err}"
    assert isinstance(err["kind"], str) and err["kind"], err
    assert isinstance(err["message"], str) and err["message"], err
    assert err["field"] is None or isinstance(err["field"], str), err
    return err


def run_document(out: Outcome) -> dict[str, Any]:
    try:
        doc = json.loads(out.stdout)
    except json.JSONDecodeError:
        raise AssertionError(f"--json: stdout is not one JSON document\n{out!r}") from None
    assert isinstance(doc, dict), doc
    return doc


def write_fake_mnist(folder: Path, n_train: int = 120, n_test: int = 30) -> Path:
    """The four MNIST IDX files with made-up content (so checksums fail unless verification is off)."""
    from reglab.data import write_idx

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    write_idx(folder / "train-images-idx3-ubyte.gz", rng.integers(0, 256, (n_train, 28, 28)))
    write_idx(folder / "train-labels-idx1-ubyte.gz", np.arange(n_train) % 10)
    write_idx(folder / "t10k-images-idx3-ubyte", rng.integers(0, 256, (n_test, 28, 28)))
    write_idx(folder / "t10k-labels-idx1-ubyte", np.arange(n_test) % 10)
    return folder


def write_float_idx(path: Path, array: np.ndarray) -> None:
    """A big-endian float64 IDX file (type 0x0E), the kind that can hold NaN."""
    array = np.asarray(array, dtype=">f8")
    header = bytes([0, 0, 0x0E, array.ndim]) + b"".join(int(s).to_bytes(4, "big") for s in array.shape)
    path.write_bytes(header + array.tobytes())
