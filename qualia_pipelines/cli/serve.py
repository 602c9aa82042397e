"""`qualia serve`: the REST API under uvicorn."""

from __future__ import annotations

import logging
import os
import shutil
import socket
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from qualia_pipelines.cli.common import SettingsOption, fail, reports_errors, settings

if TYPE_CHECKING:
    import uvicorn


@reports_errors
def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind; other than loopback needs API keys."),
    port: int = typer.Option(8000, "--port", min=1, max=65535, help="TCP port."),
    workers: int = typer.Option(1, "--workers", min=1, max=64, help="Worker processes, each with its own engine."),
    settings_file: Path | None = SettingsOption,
) -> None:
    """Serve the REST API (OpenAPI docs at /docs) with uvicorn."""
    from qualia_pipelines.api.observability import MULTIPROCESS_ENV
    from qualia_pipelines.api.security import is_loopback

    current = settings(settings_file)
    if settings_file:
        os.environ["QUALIA_CONFIG"] = str(settings_file.resolve())
    if not is_loopback(host) and not current.api_keys:
        fail(f"--host {host}: API keys are required on a non-loopback address; set QUALIA_API_KEYS (comma-separated)")
    metrics_dir = None
    if workers > 1 and not os.environ.get(MULTIPROCESS_ENV):  # one /metrics view over every worker
        metrics_dir = tempfile.mkdtemp(prefix="qualia-metrics-")
        os.environ[MULTIPROCESS_ENV] = metrics_dir
    import uvicorn

    try:
        if workers > 1 and hasattr(socket, "SO_REUSEPORT") and sys.platform == "linux":
            serve_on_shared_port(uvicorn.Config(_APP, factory=True, host=host, port=port, workers=workers))
        else:
            uvicorn.run(_APP, factory=True, host=host, port=port, workers=workers)
    finally:
        if metrics_dir:
            shutil.rmtree(metrics_dir, ignore_errors=True)


_APP = "qualia_pipelines.api.app:create_app"


def serve_on_shared_port(config: uvicorn.Config) -> None:
    """uvicorn's worker supervisor, with one listening socket per worker on the same port (``SO_REUSEPORT``).

    With uvicorn's single shared socket, whichever worker wakes first accepts a burst
    of new connections, and a keep-alive connection then stays with it: a client that
    opens 50 at once could leave all 50 on one worker and the others idle. With a
    socket each, Linux spreads new connections evenly over the workers.
    """
    from uvicorn.supervisors import Multiprocess

    family = socket.AF_INET6 if ":" in config.host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as probe:  # no SO_REUSEPORT: fails if anything holds the port,
            probe.bind((config.host, config.port))  # so a second server cannot quietly share it
        reserved = shared_port_socket(family, config.host, config.port)  # bound, never listening: holds the port
    except OSError as exc:
        fail(f"--port {config.port}: cannot listen on {config.host}:{config.port}: {exc.strerror}")
    logging.getLogger("uvicorn.error").info(
        "Uvicorn running on http://%s:%d with %d workers (Press CTRL+C to quit)",
        config.host,
        config.port,
        config.workers,
    )
    Multiprocess(config, sockets=[reserved]).run()


def shared_port_socket(family: socket.AddressFamily, host: str, port: int) -> SharedPortSocket:
    sock = SharedPortSocket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


class SharedPortSocket(socket.socket):
    """A socket that is bound anew, on the same address, in each worker it is handed to.

    uvicorn pickles the supervisor's sockets into every worker; this one unpickles as
    a fresh ``SO_REUSEPORT`` socket of the worker's own, which the worker's server
    then listens on.
    """

    def __reduce__(self) -> tuple[Callable[..., SharedPortSocket], tuple[socket.AddressFamily, str, int]]:
        host, port = self.getsockname()[:2]
        return shared_port_socket, (self.family, host, port)
