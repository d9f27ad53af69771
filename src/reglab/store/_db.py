"""The run store: a SQLite database (WAL mode) plus one folder per run.

Layout of a results directory ``OUT`` (default ``./reglab-runs``)::

    OUT/runs.db              runs and per-epoch metrics
    OUT/runs/RUN_ID/         config.toml, checkpoint.pt, figures

Metrics are stored long-form (run, epoch, name, value) so any metric a
regularizer or experiment adds is kept without a schema change.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from reglab.errors import RunError

__all__ = ["RunStore", "DEFAULT_OUT"]

DEFAULT_OUT = "reglab-runs"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    name TEXT,
    config_hash TEXT NOT NULL,
    config_json TEXT NOT NULL,
    status TEXT NOT NULL,
    reason TEXT,
    created_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL,
    duration_s REAL,
    epochs_done INTEGER NOT NULL DEFAULT 0,
    reglab_version TEXT,
    torch_version TEXT,
    python_version TEXT,
    device TEXT,
    penalized_json TEXT,
    final_json TEXT,
    tags_json TEXT
);
CREATE INDEX IF NOT EXISTS runs_by_hash ON runs(config_hash, created_at);
CREATE TABLE IF NOT EXISTS metrics (
    run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    epoch INTEGER NOT NULL,
    name TEXT NOT NULL,
    value REAL,
    PRIMARY KEY (run_id, epoch, name)
);
"""

STATUSES = ("created", "running", "completed", "diverged", "stopped", "failed", "killed")


class RunStore:
    """Open (and create) the store in ``root``.

    >>> import tempfile
    >>> store = RunStore(tempfile.mkdtemp())
    >>> store.list_runs()
    []
    """

    def __init__(self, root: str | os.PathLike = DEFAULT_OUT) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "runs").mkdir(exist_ok=True)
        self.path = self.root / "runs.db"
        with self._connect() as con:
            con.executescript(_SCHEMA)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        con = sqlite3.connect(self.path, timeout=30.0)
        try:
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("PRAGMA foreign_keys=ON")
            con.row_factory = sqlite3.Row
            with con:
                yield con
        finally:
            con.close()

    def run_dir(self, run_id: str) -> Path:
        return self.root / "runs" / run_id

    def create_run(self, run_id: str, *, config: dict[str, Any], config_hash: str, name: str | None,
                   versions: dict[str, str], device: str, tags: dict[str, Any] | None = None) -> Path:
        with self._connect() as con:
            con.execute(
                "INSERT INTO runs (id, name, config_hash, config_json, status, created_at, reglab_version,"
                " torch_version, python_version, device, tags_json) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (run_id, name, config_hash, json.dumps(config, sort_keys=True), "created", time.time(),
                 versions.get("reglab"), versions.get("torch"), versions.get("python"), device,
                 json.dumps(tags or {})),
            )
        path = self.run_dir(run_id)
        path.mkdir(parents=True, exist_ok=True)
        return path

    def mark_running(self, run_id: str, penalized: list[str]) -> None:
        with self._connect() as con:
            con.execute(
                "UPDATE runs SET status='running', reason=NULL, started_at=COALESCE(started_at, ?),"
                " penalized_json=? WHERE id=?", (time.time(), json.dumps(penalized), run_id))

    def record_epochs(self, run_id: str, rows: list[dict[str, float]], total: int) -> None:
        """Store ``rows`` (epochs' metrics) and make ``total`` the run's epoch count.

        Rows of epochs after ``total`` are dropped first: a resumed run continues from its
        checkpoint, and what a killed run wrote after that checkpoint is replaced. The loop
        passes only the newest epoch, so each epoch costs one small transaction.
        """
        data = [(run_id, int(h["epoch"]), k, _num(v)) for h in rows for k, v in h.items() if k != "epoch"]
        with self._connect() as con:
            con.execute("DELETE FROM metrics WHERE run_id=? AND epoch>?", (run_id, total))
            con.executemany("INSERT OR REPLACE INTO metrics VALUES (?,?,?,?)", data)
            con.execute("UPDATE runs SET epochs_done=? WHERE id=?", (total, run_id))

    def finish(self, run_id: str, status: str, reason: str | None, final: dict[str, Any] | None,
               duration_s: float) -> None:
        if status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}")
        with self._connect() as con:
            con.execute(
                "UPDATE runs SET status=?, reason=?, final_json=?, finished_at=?, duration_s=? WHERE id=?",
                (status, reason, json.dumps(final) if final is not None else None, time.time(), duration_s, run_id))

    def get_run(self, run_id: str) -> dict[str, Any]:
        with self._connect() as con:
            row = con.execute("SELECT * FROM runs WHERE id=?", (run_id,)).fetchone()
            if row is None:
                matches = con.execute("SELECT * FROM runs WHERE id LIKE ?", (run_id + "%",)).fetchall()
                if len(matches) != 1:
                    why = "no run" if not matches else f"{len(matches)} runs"
                    raise RunError(f"{why} with id {run_id!r} in {self.path}; see 'reglab runs list'")
                row = matches[0]
        return _decode(row)

    def list_runs(self, limit: int | None = None) -> list[dict[str, Any]]:
        query = "SELECT * FROM runs ORDER BY created_at DESC" + (f" LIMIT {int(limit)}" if limit else "")
        with self._connect() as con:
            return [_decode(r) for r in con.execute(query).fetchall()]

    def metrics(self, run_id: str) -> list[dict[str, float]]:
        """Per-epoch metrics as a list of dicts, ordered by epoch."""
        with self._connect() as con:
            rows = con.execute("SELECT epoch, name, value FROM metrics WHERE run_id=? ORDER BY epoch, name",
                               (run_id,)).fetchall()
        by_epoch: dict[int, dict[str, float]] = {}
        for r in rows:
            by_epoch.setdefault(r["epoch"], {"epoch": r["epoch"]})[r["name"]] = r["value"]
        return [by_epoch[e] for e in sorted(by_epoch)]

    def find_resumable(self, config_hash: str) -> dict[str, Any] | None:
        """The newest run with this config that did not finish (killed or still marked running)."""
        with self._connect() as con:
            row = con.execute(
                "SELECT * FROM runs WHERE config_hash=? AND status IN ('created','running','killed')"
                " ORDER BY created_at DESC LIMIT 1", (config_hash,)).fetchone()
        return _decode(row) if row else None


def _num(value: Any) -> float | None:
    return None if value is None else float(value)


def _decode(row: sqlite3.Row) -> dict[str, Any]:
    out = dict(row)
    for key in ("config_json", "penalized_json", "final_json", "tags_json"):
        if out.get(key) is not None:
            out[key.removesuffix("_json")] = json.loads(out.pop(key))
        else:
            out[key.removesuffix("_json")] = out.pop(key)
    return out
