"""``reglab playground``: serve the local web playground (FastAPI + uvicorn) and optionally open it."""

from __future__ import annotations

import ipaddress
import os
import threading
import webbrowser

import typer

from reglab.cli._common import guard, stderr
from reglab.errors import ConfigError

HOSTS_ENV = "REGLAB_PLAYGROUND_HOSTS"  # read by reglab.playground.create_app
APP = "reglab.playground:create_app"  # uvicorn imports the app factory itself (the CLI stays a thin shell)


def is_loopback(host: str) -> bool:
    """True for 127.0.0.1, ::1, localhost: addresses only this machine can reach."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@guard
def playground_command(
    port: int = typer.Option(8765, "--port", min=1, max=65535, help="TCP port to listen on"),
    host: str = typer.Option("127.0.0.1", "--host",
                             help="address to bind; the default 127.0.0.1 is reachable from this machine only"),
    open_browser: bool = typer.Option(False, "--open", help="open the page in the default web browser"),
) -> None:
    """Serve the playground: train reglab models live in the browser (needs reglab[playground])."""
    try:
        import uvicorn
        import fastapi  # noqa: F401  (the app needs it; fail here with the hint, not inside uvicorn)
    except ImportError:
        raise ConfigError("the playground needs FastAPI and uvicorn: pip install 'reglab[playground]'",
                          field="playground") from None
    if not host.strip():
        raise ConfigError("--host must not be empty (default 127.0.0.1)", field="--host")
    # the app serves only requests naming a loopback host, unless it is meant to be reached from elsewhere
    os.environ[HOSTS_ENV] = "" if is_loopback(host) else "*"
    if not is_loopback(host):
        stderr.print(f"warning: binding {host}: anyone who can reach this address can use the playground and "
                     "spend this machine's CPU; use the default --host 127.0.0.1 to keep it local",
                     markup=False, highlight=False, style="bold yellow")
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    url = f"http://{shown if ':' not in shown else f'[{shown}]'}:{port}/"
    stderr.print(f"reglab playground on {url} (Ctrl-C stops it)", markup=False, highlight=False)
    if open_browser:
        threading.Timer(1.0, webbrowser.open, args=(url,)).start()
    uvicorn.run(APP, factory=True, host=host, port=port, log_level="warning")
