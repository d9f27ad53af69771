"""The lock a training process holds on its run folder, and the liveness test built on it.

A run is owned by the process that trains it: that process holds an exclusive
``flock`` on ``RUN_DIR/lock`` (and has written its PID there) for as long as it
trains. The kernel drops the lock when the process exits in any way, SIGKILL
included, so "is the owner alive?" is "can the lock be taken?" — no heartbeat,
no stale PID files to clean up. ``--resume`` takes the lock without waiting, so of
two racing resumes exactly one proceeds and the other is told the owner's PID.

``flock`` is advisory and per open file description: a second ``open`` in the
same process conflicts with the first, which is what the tests rely on. It is
POSIX-only; on a platform without ``fcntl`` the lock degrades to the PID file
alone (liveness is then not detected).
"""

from __future__ import annotations

import os
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None  # type: ignore[assignment]

__all__ = ["RunLock", "owner_alive", "owner_pid", "LOCK_NAME"]

LOCK_NAME = "lock"


class RunLock:
    """An exclusive, non-blocking lock on a run folder; ``acquire`` returns False when it is held."""

    def __init__(self, run_dir: str | os.PathLike) -> None:
        self.path = Path(run_dir) / LOCK_NAME
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> bool:
        """Take the lock and write this PID into it; False (and nothing changed) if another owner holds it."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                return False
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)  # closing the descriptor drops the flock

    def __enter__(self) -> "RunLock":
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def owner_pid(run_dir: str | os.PathLike) -> int | None:
    """The PID written by the run's last owner, or None."""
    try:
        text = (Path(run_dir) / LOCK_NAME).read_text(encoding="ascii").strip()
        return int(text) if text else None
    except (OSError, ValueError):
        return None


def owner_alive(run_dir: str | os.PathLike) -> bool:
    """Whether a live process holds the run's lock (without taking it for long)."""
    path = Path(run_dir) / LOCK_NAME
    if fcntl is None or not path.exists():
        return False
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False
