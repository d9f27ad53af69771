"""The run store: a SQLite database (WAL mode) indexing one self-describing folder per run.

Layout of a results directory ``OUT`` (default ``./reglab-runs``)::

    OUT/runs.db              runs and per-epoch metrics (an index, rebuilt from the folders)
    OUT/runs/RUN_ID/         config.toml, run.json, metrics.jsonl, checkpoint.pt, lock

Metrics are stored long-form (run, epoch, name, value) so any metric a
regularizer or experiment adds is kept without a schema change. Every write goes
to the database and to the run folder (:class:`~reglab.store._folder.RunFolder`);
:func:`reindex` rebuilds ``runs.db`` from the folders, and a store whose database
is missing is rebuilt before a new one is made. A damaged database is reported
(:class:`~reglab.errors.StoreError`, naming ``reglab runs reindex``), never
overwritten.

Run states: ``created`` → ``running`` → ``completed`` | ``diverged`` |
``failed`` | ``interrupted``. A run marked ``running`` whose owner process is
gone (its lock is free: it was killed) is reported, and recorded, as
``interrupted``.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from reglab.errors import RunError, StoreError
from reglab.store._folder import RunFolder
from reglab.store._lock import owner_alive, owner_pid

__all__ = ["RunStore", "DEFAULT_OUT", "STATUSES", "reindex"]

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

STATUSES = ("created", "running", "completed", "diverged", "failed", "interrupted")
FINISHED = ("completed", "diverged", "failed")
_LEGACY = {"killed": "interrupted", "stopped": "completed"}  # names written by reglab 0.1's first stores
_COLUMNS = ("id", "name", "config_hash", "config_json", "status", "reason", "created_at", "started_at",
            "finished_at", "duration_s", "epochs_done", "reglab_version", "torch_version", "python_version",
            "device", "penalized_json", "final_json", "tags_json")
_JSON_COLUMNS = ("config", "penalized", "final", "tags")


def _reindex_hint(root: Path) -> str:
    return f"rebuild it from the run folders with: reglab runs reindex --out {root}"


class RunStore:
    """Open (and create) the store in ``root``.

    >>> import tempfile
    >>> store = RunStore(tempfile.mkdtemp())
    >>> store.list_runs()
    []
    """

    def __init__(self, root: str | os.PathLike = DEFAULT_OUT, *, rebuild_missing: bool = True) -> None:
        self.root = Path(root)
        self.path = self.root / "runs.db"
        _make_dirs(self.root)
        if rebuild_missing and not self.path.exists() and _folders_with_records(self.root):
            reindex(self.root)
        with self._connect() as con:
            con.executescript(_SCHEMA)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        try:
            con = sqlite3.connect(self.path, timeout=30.0)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the run store {self.path}: {exc}", field="--out") from None
        try:
            con.execute("PRAGMA journal_mode=WAL")
            # WAL + NORMAL: a commit is atomic and never corrupts the file; only a power loss can undo the
            # last commits, which `reglab runs reindex` rebuilds from the run folders (the fsync'd source of
            # truth). FULL would fsync every commit: ~5 commits per run, most of a short sweep point's store cost.
            con.execute("PRAGMA synchronous=NORMAL")
            con.execute("PRAGMA foreign_keys=ON")
            con.row_factory = sqlite3.Row
            with con:
                yield con
        except sqlite3.OperationalError as exc:  # locked, disk full, read-only: the file itself is sound
            raise StoreError(f"cannot use the run store {self.path}: {exc}", field="--out") from None
        except sqlite3.DatabaseError as exc:
            raise _damaged(self.path, exc) from None
        finally:
            con.close()

    def run_dir(self, run_id: str) -> Path:
        return self.root / "runs" / run_id

    def folder(self, run_id: str) -> RunFolder:
        return RunFolder(self.run_dir(run_id))

    def create_run(self, run_id: str, *, config: dict[str, Any], config_hash: str, name: str | None,
                   versions: dict[str, str], device: str, tags: dict[str, Any] | None = None) -> Path:
        """Make the run's folder (its record first, so the folder describes itself) and its row."""
        path = self.run_dir(run_id)
        path.mkdir(parents=True, exist_ok=True)
        record = {"id": run_id, "name": name, "config_hash": config_hash, "config": config, "status": "created",
                  "reason": None, "created_at": time.time(), "started_at": None, "finished_at": None,
                  "duration_s": None, "epochs_done": 0, "reglab_version": versions.get("reglab"),
                  "torch_version": versions.get("torch"), "python_version": versions.get("python"),
                  "device": device, "penalized": None, "final": None, "tags": tags or {}}
        RunFolder(path).write_record(record)
        with self._connect() as con:
            _insert(con, record)
        return path

    def mark_running(self, run_id: str, penalized: list[str]) -> None:
        now = time.time()
        with self._connect() as con:
            con.execute(
                "UPDATE runs SET status='running', reason=NULL, started_at=COALESCE(started_at, ?),"
                " penalized_json=? WHERE id=?", (now, json.dumps(penalized), run_id))
        folder = self.folder(run_id)
        record = folder.read_record() or {}
        folder.update_record(status="running", reason=None, started_at=record.get("started_at") or now,
                             penalized=penalized)

    def record_epochs(self, run_id: str, rows: list[dict[str, float]], total: int) -> None:
        """Store ``rows`` (epochs' metrics) and make ``total`` the run's epoch count.

        Rows of epochs after ``total`` are dropped first: a resumed run continues from its
        checkpoint, and what a killed run wrote after that checkpoint is replaced. The loop
        passes only the newest epoch, so each epoch costs one small transaction and one
        appended line in the folder's ``metrics.jsonl``.
        """
        data = [(run_id, int(h["epoch"]), k, _num(v)) for h in rows for k, v in h.items() if k != "epoch"]
        with self._connect() as con:
            con.execute("DELETE FROM metrics WHERE run_id=? AND epoch>?", (run_id, total))
            con.executemany("INSERT OR REPLACE INTO metrics VALUES (?,?,?,?)", data)
            con.execute("UPDATE runs SET epochs_done=? WHERE id=?", (total, run_id))
        folder = self.folder(run_id)
        if len(rows) == 1 and int(rows[0]["epoch"]) == total:
            folder.append_metrics(rows)
        else:  # (re)starting: the folder holds exactly the epochs up to ``total``
            kept = {int(r["epoch"]): r for r in folder.read_metrics() if int(r["epoch"]) <= total}
            kept.update({int(r["epoch"]): r for r in rows})
            folder.write_metrics([kept[e] for e in sorted(kept)])

    def finish(self, run_id: str, status: str, reason: str | None, final: dict[str, Any] | None,
               duration_s: float) -> None:
        if status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}")
        now = time.time()
        with self._connect() as con:
            con.execute(
                "UPDATE runs SET status=?, reason=?, final_json=?, finished_at=?, duration_s=? WHERE id=?",
                (status, reason, json.dumps(final) if final is not None else None, now, duration_s, run_id))
            row = con.execute("SELECT epochs_done FROM runs WHERE id=?", (run_id,)).fetchone()
        self.folder(run_id).update_record(status=status, reason=reason, final=final, finished_at=now,
                                          duration_s=duration_s, epochs_done=row["epochs_done"] if row else None)

    def get_run(self, run_id: str) -> dict[str, Any]:
        with self._connect() as con:
            row = con.execute("SELECT * FROM runs WHERE id=?", (run_id,)).fetchone()
            if row is None:
                pattern = run_id.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
                matches = con.execute("SELECT * FROM runs WHERE id LIKE ? ESCAPE '\\'", (pattern,)).fetchall()
                if len(matches) != 1:
                    why = "no run" if not matches else f"{len(matches)} runs"
                    raise RunError(f"{why} with id {run_id!r} in {self.path}; see 'reglab runs list'", field="RUN_ID")
                row = matches[0]
        return self._alive(_decode(row))

    def list_runs(self, limit: int | None = None) -> list[dict[str, Any]]:
        query = "SELECT * FROM runs ORDER BY created_at DESC" + (f" LIMIT {int(limit)}" if limit else "")
        with self._connect() as con:
            return [self._alive(_decode(r)) for r in con.execute(query).fetchall()]

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
        """The newest run with this config that did not finish (interrupted, or still marked running/created).

        A run whose owner is alive is returned too: the caller's lock then refuses it, naming the owner.
        """
        with self._connect() as con:
            row = con.execute(
                "SELECT * FROM runs WHERE config_hash=? AND status IN ('created','running','interrupted','killed')"
                " ORDER BY created_at DESC LIMIT 1", (config_hash,)).fetchone()
        return self._alive(_decode(row)) if row else None

    def _alive(self, run: dict[str, Any]) -> dict[str, Any]:
        """A run marked created/running whose owner died is interrupted: say so, and record it."""
        if run["status"] not in ("created", "running") or owner_alive(self.run_dir(run["id"])):
            return run
        pid = owner_pid(self.run_dir(run["id"]))
        reason = (f"the process that trained it{f' (PID {pid})' if pid else ''} ended without finishing it; "
                  "continue with --resume")
        with self._connect() as con:
            con.execute("UPDATE runs SET status='interrupted', reason=? WHERE id=? AND status IN ('created','running')",
                        (reason, run["id"]))
        if self.folder(run["id"]).read_record() is not None:
            self.folder(run["id"]).update_record(status="interrupted", reason=reason)
        return {**run, "status": "interrupted", "reason": reason}


def _make_dirs(root: Path) -> None:
    if root.exists() and not root.is_dir():
        raise StoreError(f"--out {root} is a file, not a folder; give a folder for the results", field="--out")
    try:
        (root / "runs").mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"cannot create the results folder {root}: {exc.strerror or exc}", field="--out") from None


def _damaged(path: Path, exc: Exception) -> StoreError:
    return StoreError(f"the run store {path} is damaged ({exc}); {_reindex_hint(path.parent)}", field="--out")


def _folders_with_records(root: Path) -> list[RunFolder]:
    runs = root / "runs"
    if not runs.is_dir():
        return []
    return [RunFolder(p) for p in sorted(runs.iterdir()) if (p / "run.json").is_file()]


def reindex(root: str | os.PathLike = DEFAULT_OUT) -> dict[str, Any]:
    """Rebuild ``root/runs.db`` from the run folders' ``run.json`` and ``metrics.jsonl``.

    A damaged database is moved aside to ``runs.db.damaged-TIMESTAMP`` (kept, not
    deleted) before the new one is written. Returns what was done: the runs
    indexed, the folders skipped (no readable ``run.json``) and the file moved aside.

    >>> import tempfile
    >>> reindex(tempfile.mkdtemp())["indexed"]
    []
    """
    root = Path(root)
    _make_dirs(root)
    db = root / "runs.db"
    moved = None
    if db.exists() and not _healthy(db):
        moved = db.with_name(f"runs.db.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
        db.rename(moved)
        for suffix in ("-wal", "-shm"):
            side = db.with_name(db.name + suffix)
            if side.exists():
                side.rename(moved.with_name(moved.name + suffix))
    tmp = db.with_name(f".runs.db.{os.getpid()}.rebuild")
    tmp.unlink(missing_ok=True)
    indexed, skipped = [], []
    con = sqlite3.connect(tmp)
    try:
        con.executescript(_SCHEMA)
        with con:
            existing = _existing_rows(db) if db.exists() else {}
            for folder in sorted((root / "runs").iterdir()):
                if not folder.is_dir():
                    continue
                record = RunFolder(folder).read_record()
                if record is None or not record.get("id") or not record.get("config_hash"):
                    if folder.name not in existing:
                        skipped.append(folder.name)
                        continue
                    record = existing[folder.name]
                record = {**record, "status": _LEGACY.get(record.get("status"), record.get("status") or "interrupted")}
                rows = RunFolder(folder).read_metrics()
                record["epochs_done"] = len(rows) if rows else record.get("epochs_done") or 0
                _insert(con, record)
                con.executemany("INSERT OR REPLACE INTO metrics VALUES (?,?,?,?)",
                                [(record["id"], int(h["epoch"]), k, _num(v)) for h in rows for k, v in h.items()
                                 if k != "epoch"])
                indexed.append(record["id"])
    finally:
        con.close()
    for suffix in ("-wal", "-shm"):
        db.with_name(db.name + suffix).unlink(missing_ok=True)
    os.replace(tmp, db)
    return {"root": str(root), "indexed": indexed, "skipped": skipped, "moved_aside": str(moved) if moved else None}


def _healthy(db: Path) -> bool:
    try:
        con = sqlite3.connect(db)
        try:
            ok = con.execute("PRAGMA quick_check").fetchone()
            con.execute("SELECT count(*) FROM runs").fetchone()
        finally:
            con.close()
    except sqlite3.DatabaseError:
        return False
    return bool(ok) and ok[0] == "ok"


def _existing_rows(db: Path) -> dict[str, dict[str, Any]]:
    """Rows of a healthy database whose folders lack a record (runs made before run.json existed)."""
    con = sqlite3.connect(db)
    con.row_factory = sqlite3.Row
    try:
        return {r["id"]: _decode(r) for r in con.execute("SELECT * FROM runs").fetchall()}
    finally:
        con.close()


def _insert(con: sqlite3.Connection, record: dict[str, Any]) -> None:
    values = []
    for column in _COLUMNS:
        key = column.removesuffix("_json")
        value = record.get(key)
        values.append(json.dumps(value, sort_keys=key == "config") if column.endswith("_json") and value is not None
                      else value)
    if values[_COLUMNS.index("created_at")] is None:
        values[_COLUMNS.index("created_at")] = time.time()
    con.execute(f"INSERT OR REPLACE INTO runs ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})",
                values)


def _num(value: Any) -> float | None:
    return None if value is None else float(value)


def _decode(row: sqlite3.Row) -> dict[str, Any]:
    out = dict(row)
    for key in _JSON_COLUMNS:
        text = out.pop(f"{key}_json", None)
        out[key] = json.loads(text) if text is not None else None
    out["status"] = _LEGACY.get(out["status"], out["status"])
    return out
