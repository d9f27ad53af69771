"""SQLite run store (WAL) with one folder per run; see :class:`RunStore`."""

from reglab.store._db import DEFAULT_OUT, STATUSES, RunStore

__all__ = ["RunStore", "DEFAULT_OUT", "STATUSES"]
