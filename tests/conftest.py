"""Shared fixtures: the sample transcripts, an engine without a cache, an isolated environment."""

from __future__ import annotations

import gc
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from dagster._core.storage.defs_state.base import DefsStateStorage  # listed in orchestration/dagster_private.py

from qualia_pipelines.core.engine import Engine
from tests.postgres import PostgresServer, postgres_bin_dir, started_cluster

FIXTURES = Path(__file__).parent / "fixtures"
OPS = Path(__file__).parent.parent / "ops"
SAMPLES = {
    "vtt_pt": FIXTURES / "weekly_sync_pt.vtt",
    "vtt_en": FIXTURES / "customer_interview_en.vtt",
    "docx_en": FIXTURES / "planning_en.docx",
    "txt_pt": FIXTURES / "retro_pt.txt",
}


# A plugin that always raises: how a plugin bug reaches the API, Sentry and the engine processes.
FAILING = """
from qualia_pipelines.core.contract import Plugin
def run(inputs, params):
    raise RuntimeError("deliberate failure")
plugin = Plugin("always_fails", "analyzer", "1", "Always fails.", ("cleaned_document",), ("nothing",), run)
"""


ISOLATED_VARIABLES = (
    "QUALIA_CONFIG",
    "QUALIA_DATA_DIR",
    "QUALIA_INBOX",
    "QUALIA_OUTPUTS",
    "QUALIA_CACHE_DIR",
    "QUALIA_PLUGIN_PATH",
    "QUALIA_MAX_FILE_MB",
    "DAGSTER_HOME",
    "DAGSTER_EVENT_BATCH_SIZE",
    "QUALIA_API_KEYS",
    "QUALIA_RATE_LIMIT_PER_MINUTE",
    "QUALIA_CORS_ORIGINS",
    "QUALIA_WEBHOOK_SECRET_GENERIC",
    "SENTRY_DSN",
)
"""Settings a developer's shell may hold that no test may read."""


requires_restic = pytest.mark.skipif(
    shutil.which("restic") is None, reason="restic is not installed (Debian package `restic`): backup tests skipped"
)
"""Backups are restic snapshots; `.ci/run` installs restic."""


@pytest.fixture(autouse=True)
def isolated_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reads the developer's qualia.yaml or writes to their cache."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    for variable in ISOLATED_VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    # create_app() analyses in this process unless a test asks for engine processes (qualia serve always does)
    monkeypatch.setenv("QUALIA_API_ENGINES", "0")
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="session")
def engine() -> Engine:
    return Engine()


@pytest.fixture
def samples(tmp_path: Path) -> dict[str, Path]:
    """Copies of the samples in a temporary folder (tests may not touch the fixtures)."""
    folder = tmp_path / "samples"
    folder.mkdir()
    return {name: Path(shutil.copy(path, folder / path.name)) for name, path in SAMPLES.items()}


@pytest.fixture(autouse=True)
def no_dagster_context_left_open() -> Iterator[None]:
    """Fails the test that leaves a Dagster instance or context open, instead of a later test at random.

    Entering an instance sets Dagster's definitions-state ContextVar; an instance left open is closed by the
    garbage collector at some later point, resetting that variable to the storage of a dead instance.
    """
    yield
    gc.collect()
    assert DefsStateStorage.get() is None, "a Dagster instance or sensor/schedule context was left open"


@pytest.fixture(scope="session")
def processed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A data folder whose samples `qualia run` processed (through Dagster, on the instance beside it) and whose
    corpus it refreshed: shared by the tests that only read a processed corpus."""
    from typer.testing import CliRunner

    from qualia_pipelines.cli import app

    root = tmp_path_factory.mktemp("processed")
    data = root / "data"
    (data / "inbox").mkdir(parents=True)
    for path in SAMPLES.values():
        shutil.copy(path, data / "inbox" / path.name)
    (root / "dagster_home").mkdir()
    with pytest.MonkeyPatch.context() as patch:
        for variable in ISOLATED_VARIABLES:
            patch.delenv(variable, raising=False)
        patch.chdir(root)
        patch.setenv("QUALIA_DATA_DIR", str(data))
        patch.setenv("DAGSTER_HOME", str(root / "dagster_home"))
        patch.setenv("XDG_CACHE_HOME", str(root / "xdg-cache"))
        result = CliRunner().invoke(app, ["run"])
        assert result.exit_code == 0, result.output
    yield data


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def sensor_tick(sensor: dg.SensorDefinition, **context: Any) -> Any:
    """One evaluation of `sensor` in a context that is closed afterwards.

    A sensor or schedule context opens its own DagsterInstance on first use. Left open, the garbage
    collector closes it later, and that resets Dagster's definitions-state ContextVar to the storage of
    an instance that is gone — in whichever test happens to be running then.
    """
    with dg.build_sensor_context(**context) as sensor_context:
        return sensor(sensor_context)


def schedule_tick(schedule: dg.ScheduleDefinition, **context: Any) -> Any:
    """One evaluation of `schedule` in a context that is closed afterwards (see `sensor_tick`)."""
    with dg.build_schedule_context(**context) as schedule_context:
        return schedule(schedule_context)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One throw-away cluster per session; skipped only when PostgreSQL is not installed at all."""
    if postgres_bin_dir() is None:
        pytest.skip("PostgreSQL is not installed (Debian package `postgresql`): the Postgres-backed suite is skipped")
    yield from started_cluster()


@pytest.fixture
def postgres_home(postgres_server: PostgresServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A DAGSTER_HOME using ops/dagster-postgres.yaml on a fresh database of the test cluster."""
    database = postgres_server.create_database(f"qualia_{uuid.uuid4().hex[:12]}")
    for name, value in postgres_server.env(database).items():
        monkeypatch.setenv(name, value)
    home = tmp_path / "dagster_home_pg"
    home.mkdir()
    shutil.copy(OPS / "dagster-postgres.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    return home


MULTIPART = "multipart/form-data; boundary=qualia-boundary"
"""The content type of a ``multipart_file`` body."""


def multipart_file(name: str, content: bytes) -> bytes:
    """A form with one file field, built by hand: the name goes as it is (a test client would escape a NUL),
    and a real server can be sent it with any HTTP client."""
    head = f'--qualia-boundary\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n\r\n'
    return head.encode() + content + b"\r\n--qualia-boundary--\r\n"


@contextmanager
def qualia_serve(cwd: Path, *args: str, env: dict[str, str] | None = None, timeout_s: float = 120) -> Iterator[int]:
    """A real `qualia serve` on a free loopback port, in its own process group; its port, once it answers.

    The group is stopped afterwards (the server and its engine processes), whatever the test did.
    """
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    qualia = Path(sys.executable).parent / "qualia"
    server = subprocess.Popen(
        [str(qualia), "serve", "--port", str(port), *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            try:  # /health: answered by a started server, and never counted against a rate limit
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5).close()
                break
            except urllib.error.HTTPError:  # 503: up, but something is unhealthy
                break
            except OSError:
                assert server.poll() is None, f"qualia serve exited with {server.returncode}"
                assert time.monotonic() < deadline, f"qualia serve did not answer within {timeout_s} s"
                time.sleep(0.3)
        yield port
    finally:
        stop_group(server)


def stop_group(leader: subprocess.Popen) -> None:
    """Stop a process started in its own group, and everything it started: SIGTERM, then SIGKILL after 30 s."""
    os.killpg(leader.pid, signal.SIGTERM)
    try:
        leader.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(leader.pid, signal.SIGKILL)
        leader.wait(timeout=30)
