"""`qualia serve`: the REST API under uvicorn."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import typer

from qualia_pipelines.cli.common import SettingsOption, fail, reports_errors, settings


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
        uvicorn.run("qualia_pipelines.api.app:create_app", factory=True, host=host, port=port, workers=workers)
    finally:
        if metrics_dir:
            shutil.rmtree(metrics_dir, ignore_errors=True)
