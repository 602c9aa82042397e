"""`qualia serve`: the REST API under uvicorn."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import typer

from qualia_pipelines.cli.common import SettingsOption, fail, reports_errors, settings


@reports_errors
def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind; other than loopback needs API keys."),
    port: int = typer.Option(8000, "--port", min=1, max=65535, help="TCP port."),
    workers: int = typer.Option(
        1,
        "--workers",
        min=1,
        max=64,
        help="Engine processes: each runs one analysis at a time and takes the next request as it frees "
        "(reading and analysing never happen in the server process).",
    ),
    settings_file: Path | None = SettingsOption,
) -> None:
    """Serve the REST API (OpenAPI docs at /docs) with uvicorn."""
    from qualia_pipelines.api.engines import ENGINES_ENV
    from qualia_pipelines.api.security import is_loopback

    current = settings(settings_file)
    if settings_file:
        os.environ["QUALIA_CONFIG"] = str(settings_file.resolve())
    if not is_loopback(host) and not current.api_keys:
        fail(f"--host {host}: API keys are required on a non-loopback address; set QUALIA_API_KEYS (comma-separated)")
    refuse_a_port_in_use(host, port)
    os.environ[ENGINES_ENV] = str(workers)
    import uvicorn

    uvicorn.run(
        "qualia_pipelines.api.app:create_app",
        factory=True,
        host=host,
        port=port,
        # forwarded headers only from configured proxies: uvicorn's default believes any local client
        proxy_headers=bool(current.trusted_proxies),
        forwarded_allow_ips=current.trusted_proxies or None,
    )


def refuse_a_port_in_use(host: str, port: int) -> None:
    """Fail at once, naming the port: uvicorn would first start the engines, then fail to bind."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds: TIME_WAIT is no conflict
        try:
            probe.bind((host, port))
        except OSError as exc:
            fail(f"--port {port}: cannot listen on {host}:{port}: {exc.strerror}")
