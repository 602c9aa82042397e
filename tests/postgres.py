"""A throw-away PostgreSQL cluster on 127.0.0.1 for the Postgres-backed tests.

Debian's ``postgresql`` package provides the binaries (`.ci/run` installs it).
The cluster lives in a temporary folder, listens only on loopback on a free
port, and is stopped and deleted when the test session ends. PostgreSQL
refuses to run as root, so as root the cluster belongs to the package's
``postgres`` user.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg2

USER = "qualia"


@dataclass(frozen=True)
class PostgresServer:
    host: str
    port: int
    user: str
    password: str
    bin_dir: Path

    def url(self, database: str) -> str:
        return f"postgresql://{self.user}:{self.password}@{self.host}:{self.port}/{database}"

    def env(self, database: str) -> dict[str, str]:
        """The variables ops/dagster-postgres.yaml reads."""
        return {
            "DAGSTER_PG_HOST": self.host,
            "DAGSTER_PG_PORT": str(self.port),
            "DAGSTER_PG_USERNAME": self.user,
            "DAGSTER_PG_PASSWORD": self.password,
            "DAGSTER_PG_DB": database,
        }

    def create_database(self, name: str) -> str:
        connection = psycopg2.connect(self.url("postgres"))
        connection.autocommit = True
        try:
            with connection.cursor() as cursor:
                cursor.execute(f'CREATE DATABASE "{name}"')
        finally:
            connection.close()
        return name


def postgres_bin_dir() -> Path | None:
    """Debian installs the server binaries under /usr/lib/postgresql/<version>/bin (not on PATH)."""
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name), reverse=True)
    for folder in candidates:
        if (folder / "initdb").exists() and (folder / "pg_ctl").exists():
            return folder
    found = shutil.which("pg_ctl")
    return Path(found).parent if found else None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _as_cluster_owner(command: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


def _run(*args: object) -> None:
    subprocess.run(_as_cluster_owner([str(a) for a in args]), check=True, capture_output=True)


def started_cluster() -> Iterator[PostgresServer]:
    """Init, start, yield, stop and delete a cluster; raises RuntimeError when it cannot start."""
    bin_dir = postgres_bin_dir()
    if bin_dir is None:
        raise RuntimeError("PostgreSQL server binaries not found (install Debian's postgresql package)")
    root = Path(tempfile.mkdtemp(prefix="qualia-pg-"))
    password = secrets.token_hex(12)
    (root / "pw").write_text(password, encoding="utf-8")
    if os.geteuid() == 0:
        owner = pwd.getpwnam("postgres")
        for path in (root, root / "pw"):
            os.chown(path, owner.pw_uid, owner.pw_gid)
    data, port = root / "data", free_port()
    try:
        _run(bin_dir / "initdb", "-D", data, "-U", USER, "--pwfile", root / "pw", "--auth=scram-sha-256",
            "-E", "UTF8", "--locale=C")  # fmt: skip
        options = f"-h 127.0.0.1 -p {port} -k {root} -c fsync=off -c max_connections=200"
        _run(bin_dir / "pg_ctl", "-D", data, "-o", options, "-l", root / "server.log", "-w", "start")
    except subprocess.CalledProcessError as exc:
        log = (root / "server.log").read_text(errors="replace") if (root / "server.log").exists() else ""
        shutil.rmtree(root, ignore_errors=True)
        raise RuntimeError(f"PostgreSQL did not start: {exc.stderr.decode(errors='replace')}{log}") from None
    try:
        yield PostgresServer("127.0.0.1", port, USER, password, bin_dir)
    finally:
        subprocess.run(_as_cluster_owner([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "stop"]),
                       capture_output=True, check=False)  # fmt: skip
        shutil.rmtree(root, ignore_errors=True)
