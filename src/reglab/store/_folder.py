"""A run folder that describes itself, so that ``runs.db`` can always be rebuilt from the folders.

``OUT/runs/RUN_ID/`` holds, besides the checkpoint:

- ``config.toml`` — the resolved config (written once);
- ``run.json`` — the run's record: id, name, config and its hash, status, reason,
  times, versions, device, penalized tensors, final metrics, tags; replaced
  atomically (write a temporary file, then ``os.replace``) at every change of state;
- ``metrics.jsonl`` — one JSON line per epoch, appended as epochs finish; a
  partial last line (a process killed mid-write) is ignored when read, and on
  resume the file is rewritten atomically without the epochs past the checkpoint.

The database is an index over these files (fast queries, one place to list
runs); the folders are the truth.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import IO, Any, Iterator

from reglab._json import dumps, strict_json
from reglab.errors import StoreError

__all__ = ["RunFolder", "write_atomic", "atomic_open"]

RECORD = "run.json"
METRICS = "metrics.jsonl"


@contextlib.contextmanager
def atomic_open(path: Path, mode: str = "w") -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path``; on success fsync it and rename it over ``path``.

    A reader sees the old file or the new one, never a part; on any failure the temporary
    file is removed and ``path`` is left as it was (the previous checkpoint survives).
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (:func:`atomic_open`); a failure is a StoreError naming the file."""
    try:
        with atomic_open(path) as fh:
            fh.write(text)
    except OSError as exc:
        raise _cannot_write(path, exc) from None


def _cannot_write(path: Path, exc: OSError) -> StoreError:
    return StoreError(f"cannot write {path}: {exc.strerror or exc}", field="--out")


class RunFolder:
    """The files of one run folder (see the module docstring)."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)

    @property
    def record_path(self) -> Path:
        return self.path / RECORD

    @property
    def metrics_path(self) -> Path:
        return self.path / METRICS

    def read_record(self) -> dict[str, Any] | None:
        """The run's record, or None when the folder has none (or it cannot be parsed)."""
        try:
            record = json.loads(self.record_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return record if isinstance(record, dict) else None

    def write_record(self, record: dict[str, Any]) -> None:
        write_atomic(self.record_path, dumps(record, indent=2) + "\n")

    def update_record(self, **changes: Any) -> None:
        record = self.read_record() or {}
        record.update(changes)
        self.write_record(record)

    def append_metrics(self, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        try:
            with open(self.metrics_path, "a", encoding="utf-8") as fh:
                fh.write("".join(dumps(row) + "\n" for row in rows))
        except OSError as exc:
            raise _cannot_write(self.metrics_path, exc) from None

    def write_metrics(self, rows: list[dict[str, Any]]) -> None:
        """Replace the file by exactly ``rows``, atomically (a resumed run drops what came after its checkpoint)."""
        write_atomic(self.metrics_path, "".join(dumps(r) + "\n" for r in rows))

    def reset_metrics(self, rows: list[dict[str, Any]]) -> None:
        """Make the file hold exactly ``rows`` (what a killed run wrote past its checkpoint goes; an absent or
        empty file stays as it is when ``rows`` is empty)."""
        if rows or (self.metrics_path.exists() and self.metrics_path.stat().st_size):
            self.write_metrics(rows)

    def read_metrics(self) -> list[dict[str, Any]]:
        """Per-epoch rows in order; a torn last line is skipped, and a later row for an epoch wins."""
        try:
            lines = self.metrics_path.read_text(encoding="utf-8").splitlines()
        except OSError:
            return []
        by_epoch: dict[int, dict[str, Any]] = {}
        for line in lines:
            try:
                row = json.loads(line)
            except ValueError:
                continue
            if isinstance(row, dict) and isinstance(row.get("epoch"), int):
                by_epoch[row["epoch"]] = strict_json(row)
        return [by_epoch[e] for e in sorted(by_epoch)]
