"""`qualia serve`: the REST API under uvicorn."""

from __future__ import annotations

import ipaddress

import typer

from qualia_pipelines.cli.common import fail


def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Loopback address to bind."),
    port: int = typer.Option(8000, "--port", min=1, max=65535, help="TCP port."),
    workers: int = typer.Option(1, "--workers", min=1, max=64, help="Worker processes, each with its own engine."),
) -> None:
    """Serve the REST API (OpenAPI docs at /docs) with uvicorn."""
    if not _is_loopback(host):
        fail(
            f"--host {host}: this version serves loopback addresses only (it has no API-key protection yet); "
            "bind 127.0.0.1 and put a reverse proxy in front"
        )
    import uvicorn

    uvicorn.run("qualia_pipelines.api.app:create_app", factory=True, host=host, port=port, workers=workers)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
