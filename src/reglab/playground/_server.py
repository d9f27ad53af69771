"""Serve the playground from a background thread (tests, notebooks): ``with serve_in_thread() as url: …``."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from typing import Iterator

from reglab.playground._app import create_app
from reglab.playground._session import SessionManager

__all__ = ["serve_in_thread"]


@contextlib.contextmanager
def serve_in_thread(host: str = "127.0.0.1", port: int = 0, *,
                    manager: SessionManager | None = None, timeout: float = 30.0) -> Iterator[str]:
    """Run the app with uvicorn in a daemon thread; yields its base URL and stops it on exit.

    ``port=0`` takes a free port (the socket is bound before the server starts, so
    no other process can take it in between).
    """
    import uvicorn

    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    bound = sock.getsockname()[1]
    config = uvicorn.Config(create_app(manager), log_level="warning", timeout_graceful_shutdown=1)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True, name="reglab-playground")
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the playground server did not start")
        time.sleep(0.02)
    try:
        yield f"http://{host if ':' not in host else f'[{host}]'}:{bound}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
