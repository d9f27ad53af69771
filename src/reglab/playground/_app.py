"""The playground's HTTP interface: the page, the session API, the event stream.

Routes (every error is ``{"error": {"kind", "message", "field"}}`` with a 4xx status)::

    GET    /                              the page (static/index.html; everything it needs ships here)
    GET    /api/options                   choices and caps of every control
    POST   /api/sessions                  body: a setting (JSON object) → 201 {session, setting, query, points…}
    GET    /api/sessions/{id}/events      server-sent events: reset, epoch, mark, snapshot, stopped
    POST   /api/sessions/{id}/control     body: {"action": "start" | "pause" | "step" | "reset"}
    PATCH  /api/sessions/{id}/setting     body: changed controls; live or by a reset (see ``_session``)
    GET    /api/sessions/{id}/config.toml the ``reglab train`` config of the setting in use
    GET    /api/sessions/{id}/export      a zip: config.toml, checkpoint.pt, playground.json
    DELETE /api/sessions/{id}             end the session (the page also does so when it closes)
    POST   /api/sessions/{id}/close       the same, for ``navigator.sendBeacon``

The stream drives the training: while it is open and the session runs, it trains
for slices of about 50 ms in a worker thread and sends every epoch; it sends the
decision map and network at most every 0.25 s while training (the curvature panel
at most every second) and a full snapshot after each control.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from importlib.resources import files
from typing import Any, AsyncIterator, Sequence

import anyio
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from reglab.errors import ReglabError
from reglab.playground._session import PlaygroundError, SessionManager, StreamTaken, as_json
from reglab.playground._setting import CAPS, FEATURE_LABELS, FEATURES, REGULARIZATIONS, Setting

__all__ = ["create_app"]

TRAIN_SLICE = 0.05
SNAPSHOT_EVERY = 0.25
SPECTRUM_EVERY = 1.0
HEARTBEAT_EVERY = 10.0
STATIC = ("index.html", "app.js", "style.css")
MEDIA = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
         ".css": "text/css; charset=utf-8"}


class UnsupportedMedia(PlaygroundError):
    kind = "request"
    status = 415


def _error(status: int, kind: str, message: str, field: str | None) -> JSONResponse:
    return JSONResponse({"error": {"kind": kind, "message": message, "field": field}}, status_code=status)


async def _body(request: Request) -> dict[str, Any]:
    """The JSON object of a request; only ``application/json`` is read.

    Asking for JSON means a page from another site cannot send these requests
    without a CORS preflight, which this server never grants: only its own page
    (or a script on this machine) can start and drive sessions.
    """
    kind = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if kind != "application/json":
        raise UnsupportedMedia(f"send the request body as JSON (Content-Type: application/json), not {kind or 'none'}",
                               field="content-type")
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        value = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PlaygroundError(f"the request body is not valid JSON ({exc})", field="body") from None
    if not isinstance(value, dict):
        raise PlaygroundError(f"the request body must be a JSON object, got {type(value).__name__}", field="body")
    return value


def _sse(kind: str, data: Any) -> str:
    return f"event: {kind}\ndata: {as_json(data)}\n\n"


LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")
HOSTS_ENV = "REGLAB_PLAYGROUND_HOSTS"


def _allowed_hosts(hosts: Sequence[str] | None) -> frozenset[str] | None:
    if hosts is None:
        spec = os.environ.get(HOSTS_ENV, "")
        hosts = None if spec.strip() == "*" else [h.strip() for h in spec.split(",") if h.strip()] or LOOPBACK_NAMES
    return None if hosts is None else frozenset(h.lower().strip("[]") for h in hosts)


def _host_name(header: str) -> str:
    header = header.strip().lower()
    if header.startswith("["):  # [::1]:8765
        return header[1:header.find("]")] if "]" in header else header
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


def create_app(manager: SessionManager | None = None, *, allowed_hosts: Sequence[str] | None = None) -> FastAPI:
    """The playground app; ``manager`` (default: 20 sessions at most) holds the sessions.

    Requests must name one of ``allowed_hosts`` in their Host header (default: the
    loopback names 127.0.0.1, localhost and ::1, or the comma-separated list in
    ``$REGLAB_PLAYGROUND_HOSTS``, where ``*`` allows any — what ``reglab playground
    --host`` sets for a non-loopback address). This keeps a web page elsewhere from
    reaching the server through a DNS name it points at 127.0.0.1 (DNS rebinding).

    >>> app = create_app()
    >>> sorted({r.path for r in app.routes if r.path.startswith("/api/sessions/{sid}/")})
    ['/api/sessions/{sid}/close', '/api/sessions/{sid}/config.toml', '/api/sessions/{sid}/control', '/api/sessions/{sid}/events', '/api/sessions/{sid}/export', '/api/sessions/{sid}/setting']
    """
    manager = manager or SessionManager()
    app = FastAPI(title="reglab playground", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.manager = manager
    hosts = _allowed_hosts(allowed_hosts)

    @app.middleware("http")
    async def _only_allowed_hosts(request: Request, call_next: Any) -> Response:
        name = _host_name(request.headers.get("host", ""))
        if hosts is not None and name not in hosts:
            return _error(400, "request", f"host {name!r} is not served here; open http://127.0.0.1:PORT/ "
                          f"(allowed: {', '.join(sorted(hosts))})", "host")
        return await call_next(request)

    @app.exception_handler(ReglabError)
    async def _reglab_error(request: Request, exc: ReglabError) -> JSONResponse:
        return _error(getattr(exc, "status", 400) if isinstance(exc, PlaygroundError) else 422,
                      exc.kind, str(exc), exc.field)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"][1:]) or None
        return _error(422, "request", f"{field}: {first['msg']}", field)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _error(exc.status_code, "request", str(exc.detail), "path" if exc.status_code == 404 else None)

    @app.get("/", response_class=HTMLResponse)
    def index() -> Response:
        return _static("index.html")

    @app.get("/static/{name}")
    def static(name: str) -> Response:
        if name not in STATIC:
            raise PlaygroundError(f"no static file {name!r}", field="path")
        return _static(name)

    @app.get("/api/options")
    def options() -> dict[str, Any]:
        return {"datasets": ["circle", "xor", "gauss", "spiral"], "features": list(FEATURES),
                "feature_labels": FEATURE_LABELS, "regularizations": REGULARIZATIONS,
                "activations": ["tanh", "relu", "sigmoid", "linear"], "caps": CAPS,
                "defaults": Setting().to_query()}

    @app.post("/api/sessions", status_code=201)
    async def create(request: Request) -> dict[str, Any]:
        setting = Setting.from_query(await _body(request))
        session = await anyio.to_thread.run_sync(manager.create, setting)
        return session.describe()

    @app.get("/api/sessions/{sid}")
    def show(sid: str) -> dict[str, Any]:
        return manager.get(sid).status()

    @app.post("/api/sessions/{sid}/control")
    async def control(sid: str, request: Request) -> dict[str, Any]:
        session = manager.get(sid)
        body = await _body(request)
        action = body.get("action")
        if not isinstance(action, str):
            raise PlaygroundError("action must be one of start, pause, step, reset", field="action")
        return await anyio.to_thread.run_sync(session.control, action)

    @app.patch("/api/sessions/{sid}/setting")
    async def update(sid: str, request: Request) -> dict[str, Any]:
        session = manager.get(sid)
        changes = await _body(request)
        return await anyio.to_thread.run_sync(session.update, changes)

    @app.get("/api/sessions/{sid}/config.toml")
    def config_toml(sid: str) -> Response:
        return Response(manager.get(sid).export_toml(), media_type="application/toml",
                        headers={"Content-Disposition": 'attachment; filename="config.toml"'})

    @app.get("/api/sessions/{sid}/export")
    def export(sid: str) -> Response:
        session = manager.get(sid)
        name = f"reglab-playground-{session.setting.dataset}-epoch{session.trainer.epoch}.zip"
        return Response(session.export_zip(), media_type="application/zip",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})

    @app.delete("/api/sessions/{sid}")
    def delete(sid: str) -> dict[str, Any]:
        manager.get(sid)
        manager.close(sid)
        return {"session": sid, "closed": True}

    @app.post("/api/sessions/{sid}/close")
    def close(sid: str) -> dict[str, Any]:
        manager.close(sid)
        return {"session": sid, "closed": True}

    @app.get("/api/sessions/{sid}/events")
    def events(sid: str, request: Request) -> StreamingResponse:
        session = manager.get(sid)
        with session.lock:
            if session.streaming:
                raise StreamTaken(f"session {sid!r} already has an event stream (one per tab)", field="session")
            session.streaming = True
        return StreamingResponse(_stream(manager, session, request), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    return app


async def _stream(manager: SessionManager, session: Any, request: Request) -> AsyncIterator[str]:
    last_snapshot = last_spectrum = last_beat = spectrum_cost = 0.0
    try:
        yield ": reglab playground\n\n"
        while not session.closed:
            if await request.is_disconnected():
                break
            session.touched = time.monotonic()
            for kind, data in session.drain():
                yield _sse(kind, data)
            now = time.monotonic()
            full, session.dirty = session.dirty, False
            if full or (session.running and now - last_snapshot >= SNAPSHOT_EVERY):
                # a big network's spectrum costs a while: take at most a fifth of the time for it
                spectrum = full or now - last_spectrum >= max(SPECTRUM_EVERY, 5 * spectrum_cost)
                snapshot = await anyio.to_thread.run_sync(session.snapshot, spectrum)
                yield _sse("snapshot", snapshot)
                last_snapshot = time.monotonic()
                if spectrum:
                    last_spectrum, spectrum_cost = last_snapshot, last_snapshot - now
            if session.running:
                await anyio.to_thread.run_sync(session.train_for, TRAIN_SLICE)
            else:
                if now - last_beat >= HEARTBEAT_EVERY:
                    yield ": heartbeat\n\n"
                    last_beat = now
                await asyncio.sleep(0.05)
    finally:
        manager.close(session.id)  # a closed tab (a closed stream) ends its session and its training


def _static(name: str) -> Response:
    text = files("reglab.playground").joinpath("static", name).read_text(encoding="utf-8")
    suffix = name[name.rfind("."):]
    return Response(text, media_type=MEDIA[suffix], headers={"Cache-Control": "no-store"})
