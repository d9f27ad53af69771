"""SQLite run store (WAL) with one folder per run; see :class:`RunStore`."""

from reglab.store._db import DEFAULT_OUT, STATUSES, RunStore, reindex
from reglab.store._folder import RunFolder
from reglab.store._lock import RunLock, owner_alive, owner_pid

__all__ = ["RunStore", "DEFAULT_OUT", "STATUSES", "reindex", "RunFolder", "RunLock", "owner_alive", "owner_pid"]
