"""Sessions: one per browser tab, each with its own :class:`reglab.train.Trainer`.

A session trains only while its event stream is open and it is running: the
stream's loop calls :meth:`Session.train_for`, which runs ``Trainer.run_epoch``
(never a loop of its own) for a slice of time and queues one ``epoch`` event per
epoch. When the stream closes (the tab is closed or reloaded) the session is
removed, so its training stops. Controls (start, pause, step, reset, a changed
setting) arrive as separate requests and take the session's lock, so they happen
between epochs.

Changing the regularization, its rate or the learning rate goes on from the
current weights (``Trainer.set_regularizer`` / ``Trainer.set_lr``) and records a
mark at that epoch (before the first epoch there is nothing to go on from, so it rebuilds);
any other change builds the session anew (a reset).
"""

from __future__ import annotations

import io
import json
import secrets
import threading
import time
import zipfile
from typing import Any

import torch

from reglab._json import dumps, strict_json
from reglab.config import config_to_toml
from reglab.errors import ReglabError
from reglab.playground import _views as views
from reglab.playground._setting import CAPS, LIVE_FIELDS, REGULARIZATIONS, Setting
from reglab.train import Trainer

__all__ = ["Session", "SessionManager", "PlaygroundError", "SessionNotFound", "TooManySessions", "EPOCH_KEYS"]

EPOCH_KEYS = ("epoch", "train_loss", "test_loss", "val_loss", "penalty", "objective", "train_error",
              "test_error", "weight_norm", "sparsity", "lr")
"""What each ``epoch`` event carries (losses are the mean data loss C₀; ``penalty`` is reported beside it)."""


class PlaygroundError(ReglabError):
    """A request the playground cannot serve; ``status`` is its HTTP status."""

    kind = "playground"
    status = 400


class SessionNotFound(PlaygroundError):
    kind = "session"
    status = 404


class TooManySessions(PlaygroundError):
    kind = "capacity"
    status = 429


class StreamTaken(PlaygroundError):
    kind = "session"
    status = 409


def _label(setting: Setting) -> str:
    name = REGULARIZATIONS[setting.regularization]
    return name if setting.regularization == "none" else f"{name} {setting.rate:g}"


class Session:
    """One tab's training: a setting, its trainer, a queue of events for the stream."""

    def __init__(self, sid: str, setting: Setting) -> None:
        self.id = sid
        self.lock = threading.RLock()
        self.running = False
        self.closed = False
        self.streaming = False
        self.touched = time.monotonic()
        self._events: list[tuple[str, dict[str, Any]]] = []
        self.dirty = True  # the stream should send a full snapshot (with the spectrum)
        self.revision = 0  # counts the setting's changes, so the page can tell a late event from a new one
        self._build(setting)

    # ------------------------------------------------------------------ state
    def _build(self, setting: Setting, running: bool = False) -> None:
        self.revision += 1
        self.setting = setting
        self.trainer = Trainer(setting.run_config())
        self.marks: list[dict[str, Any]] = []
        self.stopped: str | None = None
        self.running = running
        self._events.append(("reset", self.describe()))
        self.dirty = True

    def describe(self) -> dict[str, Any]:
        """The setting (as fields and as the URL query), the data points and the caps."""
        return {"session": self.id, "setting": self.setting.model_dump(), "query": self.setting.to_query(),
                "points": views.points(self.trainer), "extent": views.EXTENT, "caps": CAPS,
                "epoch": self.trainer.epoch, "running": self.running, "marks": self.marks, "revision": self.revision}

    # ------------------------------------------------------------------ controls
    def control(self, action: str) -> dict[str, Any]:
        """``start``, ``pause``, ``step`` (one epoch, then paused) or ``reset`` (same setting, fresh weights)."""
        with self.lock:
            if action == "start":
                self.running = self.stopped is None
            elif action == "pause":
                self.running = False
            elif action == "step":
                self.running = False
                if self.stopped is None:
                    self._epoch()
            elif action == "reset":
                self._build(self.setting)
            else:
                raise PlaygroundError(f"action must be one of start, pause, step, reset; got {action!r}",
                                      field="action")
            self.dirty = True
            return self.status()

    def update(self, changes: dict[str, Any]) -> dict[str, Any]:
        """Apply changed controls: live (regularization, rate, learning rate) or by a reset."""
        new = self.setting.with_changes(changes)
        changed = {k for k in Setting.model_fields if getattr(new, k) != getattr(self.setting, k)}
        with self.lock:
            if not changed:
                return {**self.status(), "applied": "nothing"}
            if changed <= LIVE_FIELDS and self.stopped is None and self.trainer.epoch > 0:
                old = self.setting
                if changed & {"regularization", "rate"}:
                    self.trainer.set_regularizer(new.regularizer_entries())
                if "learning_rate" in changed:
                    self.trainer.set_lr(new.learning_rate)
                self.setting = new
                self.revision += 1
                label = " · ".join(
                    [f"{_label(old)} → {_label(new)}"] * bool(changed & {"regularization", "rate"})
                    + [f"lr {old.learning_rate:g} → {new.learning_rate:g}"] * ("learning_rate" in changed))
                mark = {"epoch": self.trainer.epoch, "label": label}
                self.marks.append(mark)
                self._events.append(("mark", {**mark, "setting": new.model_dump(), "query": new.to_query(),
                                              "revision": self.revision}))
                applied = "live"
            else:
                self._build(new, running=self.running)
                applied = "reset"
            self.dirty = True
            return {**self.status(), "applied": applied}

    def status(self) -> dict[str, Any]:
        return {"session": self.id, "epoch": self.trainer.epoch, "running": self.running,
                "stopped": self.stopped, "query": self.setting.to_query(), "revision": self.revision}

    # ------------------------------------------------------------------ training
    def _epoch(self) -> None:
        result = self.trainer.run_epoch()
        if result.diverged:
            self.stopped = result.diverged
            self.running = False
            self._events.append(("stopped", {"reason": result.diverged}))
            return
        metrics = result.metrics or {}
        self._events.append(("epoch", {k: metrics[k] for k in EPOCH_KEYS}))
        if self.trainer.epoch >= CAPS["epochs"]:
            self.stopped = f"the playground trains at most {CAPS['epochs']} epochs per session"
            self.running = False
            self._events.append(("stopped", {"reason": self.stopped}))
            self.dirty = True

    def train_for(self, seconds: float) -> None:
        """Run epochs while running, for about ``seconds`` (at least one epoch)."""
        end = time.perf_counter() + seconds
        while not self.closed:
            with self.lock:
                if not self.running:
                    return
                self._epoch()
            if time.perf_counter() >= end:
                return

    def drain(self) -> list[tuple[str, dict[str, Any]]]:
        with self.lock:
            events, self._events = self._events, []
            return events

    def snapshot(self, with_spectrum: bool) -> dict[str, Any]:
        """The decision map and the network now, and (when asked) the curvature panel."""
        with self.lock:
            out: dict[str, Any] = {"epoch": self.trainer.epoch, "boundary": views.boundary(self.trainer),
                                   "network": views.network(self.trainer, self.setting)}
            if with_spectrum:
                out["spectrum"] = views.spectrum(self.trainer, self.setting)
            return out

    # ------------------------------------------------------------------ export
    def export_toml(self) -> str:
        """The ``reglab train`` config of the setting in use, for the epochs trained so far (at least one)."""
        with self.lock:
            cfg = self.setting.run_config(epochs=max(1, self.trainer.epoch))
            lines = [f"# exported by reglab playground at epoch {self.trainer.epoch}",
                     f"# playground link query: ?{'&'.join(f'{k}={v}' for k, v in self.setting.to_query().items())}",
                     "# reproduce: reglab train config.toml"]
            if self.marks:
                lines.append("# this session changed its setting while training (from the current weights): "
                             + "; ".join(f"epoch {m['epoch']}: {m['label']}" for m in self.marks))
                lines.append("# the config below trains the final setting from the start")
            return "\n".join(lines) + "\n" + config_to_toml(cfg)

    def export_zip(self) -> bytes:
        """config.toml, checkpoint.pt (``{"model": state_dict, "history": …}``) and playground.json."""
        with self.lock:
            buffer = io.BytesIO()
            weights = io.BytesIO()
            torch.save({"model": self.trainer.model.state_dict(), "history": self.trainer.history}, weights)
            info = {"setting": self.setting.model_dump(), "query": self.setting.to_query(), "marks": self.marks,
                    "epoch": self.trainer.epoch,
                    "final": self.trainer.history[-1] if self.trainer.history else None}
            with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
                archive.writestr("config.toml", self.export_toml())
                archive.writestr("checkpoint.pt", weights.getvalue())
                archive.writestr("playground.json", dumps(strict_json(info), indent=2))
            return buffer.getvalue()


class SessionManager:
    """At most ``max_sessions`` sessions; one not streamed for ``idle_timeout`` seconds is dropped."""

    def __init__(self, max_sessions: int = CAPS["sessions"], idle_timeout: float = 30.0) -> None:
        self.max_sessions = max_sessions
        self.idle_timeout = idle_timeout
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._sessions)

    def create(self, setting: Setting) -> Session:
        with self._lock:
            self._expire()
            if len(self._sessions) >= self.max_sessions:
                raise TooManySessions(
                    f"the playground serves at most {self.max_sessions} sessions at once and all are in use; "
                    "close a tab (its session ends with it) and try again", field="session")
            sid = secrets.token_urlsafe(9)
            self._sessions[sid] = session = Session(sid, setting)
            return session

    def get(self, sid: str) -> Session:
        session = self._sessions.get(sid)
        if session is None or session.closed:
            raise SessionNotFound(f"no session {sid!r} (it ended when its page closed; reload the page)",
                                  field="session")
        session.touched = time.monotonic()
        return session

    def close(self, sid: str) -> None:
        with self._lock:
            session = self._sessions.pop(sid, None)
        if session is not None:
            session.closed = True
            session.running = False

    def _expire(self) -> None:
        now = time.monotonic()
        for sid in [s.id for s in self._sessions.values() if now - s.touched > self.idle_timeout]:
            session = self._sessions.pop(sid)
            session.closed = True
            session.running = False


def as_json(value: Any) -> str:
    """One strict-JSON line (NaN → null), as the event stream sends it."""
    return json.dumps(strict_json(value), separators=(",", ":"), ensure_ascii=False)
