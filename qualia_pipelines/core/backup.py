"""Backups: a consistent snapshot of the Dagster storage, the outputs and the inbox.

SQLite files are copied with SQLite's online backup API (a raw copy of a live
database can be torn); a PostgreSQL storage is dumped with ``pg_dump`` in its
custom format (one consistent snapshot) and restored with ``pg_restore``;
everything else is copied as is. The archive carries a
manifest of SHA-256 checksums and a plugin health report, is written to a
temporary file and renamed, and archives older than the retention are pruned.
`qualia backup` and the Dagster backup job both call these functions.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
import time
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from qualia_pipelines.core.contract import QualiaError

ARCHIVE_PREFIX = "qualia-backup-"
ARCHIVE_SUFFIX = ".tar.gz"
MANIFEST = "manifest.json"
POSTGRES_DUMP = "postgres/dagster.dump"
_SKIPPED_SUFFIXES = (".db-wal", ".db-shm", ".db-journal", ".tmp", ".lock")  # SQLite's side files, temporaries, locks


MAX_MANIFEST_BYTES = 256 * 1024 * 1024
_SHA256 = re.compile(r"[0-9a-f]{64}")


class BackupError(QualiaError):
    """A backup could not be made, verified or restored."""


def _inside(name: str) -> str:
    """A path inside the archive: relative, no '..', no backslashes or NULs, not the manifest itself."""
    path = PurePosixPath(name)
    if not name or path.is_absolute() or ".." in path.parts or "\\" in name or "\0" in name or name == MANIFEST:
        raise ValueError(f"{name!r} is not a plain path inside the backup")
    return name


class ArchivedFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sha256: str
    bytes: int = Field(ge=0)

    @field_validator("sha256")
    @classmethod
    def _hex(cls, value: str) -> str:
        if not _SHA256.fullmatch(value):
            raise ValueError("not a SHA-256 hex digest")
        return value


class PostgresDump(BaseModel):
    model_config = ConfigDict(extra="forbid")
    dump: Annotated[str, AfterValidator(_inside)]
    database: str | None = None


class Manifest(BaseModel):
    """What an archive says it holds; every path confined to the archive, every file with its digest."""

    model_config = ConfigDict(extra="allow")
    created: datetime
    qualia_version: str = ""
    sources: dict[str, str] = Field(default_factory=dict)
    plugin_health: dict[str, Any] = Field(default_factory=dict)
    postgres: PostgresDump | None = None
    files: dict[Annotated[str, AfterValidator(_inside)], ArchivedFile]

    @model_validator(mode="after")
    def _dump_is_archived(self) -> Manifest:
        if self.postgres and self.postgres.dump not in self.files:
            raise ValueError(f"postgres.dump {self.postgres.dump!r} is not among the archived files")
        return self


@dataclass(frozen=True)
class BackupInfo:
    path: Path
    created: datetime
    bytes: int


def create_backup(
    sources: Mapping[str, Path],
    destination: Path,
    retention_days: float = 30,
    health: Mapping[str, Any] | None = None,
    qualia_version: str = "",
    postgres_url: str | None = None,
) -> Path:
    """Archive each source folder under its name (``dagster_home``, ``outputs``, ``inbox``).

    With ``postgres_url`` (the instance's storage is PostgreSQL) the database is
    dumped into the archive too.
    """
    destination.mkdir(parents=True, exist_ok=True)
    created = datetime.now(tz=UTC)
    name = f"{ARCHIVE_PREFIX}{created.strftime('%Y%m%dT%H%M%S%fZ')}{ARCHIVE_SUFFIX}"
    with tempfile.TemporaryDirectory(dir=destination, prefix=".staging-") as staging_dir:
        staging = Path(staging_dir)
        for label, folder in sources.items():
            _snapshot(folder, staging / label)
        if postgres_url:
            pg_dump(postgres_url, staging / POSTGRES_DUMP)
        files = sorted(p for p in staging.rglob("*") if p.is_file())
        manifest = {
            "created": created.isoformat(),
            "qualia_version": qualia_version,
            "sources": {label: str(folder) for label, folder in sources.items()},
            "plugin_health": dict(health or {}),
            "postgres": {"dump": POSTGRES_DUMP, "database": _libpq_env(postgres_url)["PGDATABASE"]}
            if postgres_url
            else None,
            "files": {
                p.relative_to(staging).as_posix(): {"sha256": _sha256(p), "bytes": p.stat().st_size} for p in files
            },
        }
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
        partial = destination / f".{name}.partial"
        with tarfile.open(partial, "w:gz") as archive:
            archive.add(staging / MANIFEST, arcname=MANIFEST)
            for path in files:
                archive.add(path, arcname=path.relative_to(staging).as_posix())
        final = destination / name
        partial.replace(final)
    prune_backups(destination, retention_days)
    return final


def _snapshot(source: Path, target: Path) -> None:
    if not source.exists():
        return
    for path in sorted(source.rglob("*")):
        if not path.is_file() or path.name.endswith(_SKIPPED_SUFFIXES) or path.name.startswith(".staging-"):
            continue
        copy = target / path.relative_to(source)
        copy.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix == ".db":
            _sqlite_backup(path, copy)
        else:
            shutil.copy2(path, copy)


def _sqlite_backup(source: Path, target: Path) -> None:
    """Copy a live SQLite database consistently (readers and writers may be active)."""
    live = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    copy = sqlite3.connect(target)
    try:
        live.backup(copy)
    finally:
        copy.close()
        live.close()


def _sha256(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def list_backups(folder: Path) -> list[BackupInfo]:
    infos = []
    for path in sorted(folder.glob(f"{ARCHIVE_PREFIX}*{ARCHIVE_SUFFIX}")):
        stamp = path.name[len(ARCHIVE_PREFIX) : -len(ARCHIVE_SUFFIX)]
        created = datetime.strptime(stamp, "%Y%m%dT%H%M%S%fZ").replace(tzinfo=UTC)
        infos.append(BackupInfo(path, created, path.stat().st_size))
    return infos


def prune_backups(folder: Path, retention_days: float, now: float | None = None) -> list[Path]:
    """Delete archives older than the retention; the newest archive is always kept."""
    cutoff = (now or time.time()) - retention_days * 86400
    backups = list_backups(folder)
    removed = []
    for info in backups[:-1]:
        if info.created.timestamp() < cutoff:
            info.path.unlink()
            removed.append(info.path)
    return removed


def verify_backup(archive: Path) -> dict[str, Any]:
    """Check every file against the manifest, streaming each one; raise BackupError naming what is wrong."""
    manifest, problems, seen = _read_manifest(archive), [], set()
    with tarfile.open(archive, "r:gz") as tar:
        for member in tar:
            if member.name == MANIFEST or not member.isfile():
                continue
            expected = manifest.files.get(member.name)
            seen.add(member.name)
            if expected is None:
                problems.append(f"{member.name}: not in the manifest")
                continue
            if member.size != expected.bytes:
                problems.append(f"{member.name}: {member.size:,} bytes, the manifest says {expected.bytes:,}")
                continue
            digest = hashlib.file_digest(tar.extractfile(member), "sha256").hexdigest()  # type: ignore[arg-type]
            if digest != expected.sha256:
                problems.append(f"{member.name}: checksum mismatch")
    problems += [f"{name}: missing from the archive" for name in manifest.files if name not in seen]
    if problems:
        raise BackupError(f"{archive}: " + "; ".join(problems))
    return manifest.model_dump(mode="json")


def restore_backup(archive: Path, target: Path, postgres_url: str | None = None) -> dict[str, Any]:
    """Unpack a verified archive into an empty (or new) folder; load its PostgreSQL dump into ``postgres_url``.

    All or nothing: the archive is unpacked (and its dump loaded) in a staging folder beside the target,
    which takes the target's place only once everything succeeded.
    """
    manifest = verify_backup(archive)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise BackupError(f"{target}: restore needs an empty folder")
    if postgres_url and not manifest.get("postgres"):
        raise BackupError(f"{archive}: this backup holds no PostgreSQL dump (its instance used SQLite)")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.restoring-"))
    try:
        with tarfile.open(archive, "r:gz") as tar:
            members = _safe_members(archive, tar)
            # Python >= 3.11.4 also applies its own "data" filter; older 3.11 relies on the check above.
            tar.extractall(staging, members=members, **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))
        if postgres_url:
            pg_restore(postgres_url, staging / manifest["postgres"]["dump"])
        if target.exists():
            target.rmdir()
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return manifest


def pg_dump(url: str, target: Path) -> None:
    """One consistent snapshot of the database in pg_dump's custom (compressed, selectively restorable) format."""
    target.parent.mkdir(parents=True, exist_ok=True)
    _postgres_tool("pg_dump", url, ["--format=custom", "--no-owner", f"--file={target}"])


def pg_restore(url: str, dump: Path) -> None:
    """Load a dump into an empty database, all or nothing."""
    _postgres_tool("pg_restore", url, ["--no-owner", "--no-privileges", "--single-transaction", "--exit-on-error",
                                       "--dbname", _libpq_env(url)["PGDATABASE"], str(dump)])  # fmt: skip


def _postgres_tool(tool: str, url: str, arguments: list[str]) -> None:
    """Run pg_dump/pg_restore with the connection in libpq variables (the password never on a command line)."""
    executable = shutil.which(tool)
    if executable is None:
        raise BackupError(f"{tool} not found: install the PostgreSQL client (Debian: postgresql-client)")
    env = {**os.environ, **_libpq_env(url)}
    done = subprocess.run([executable, *arguments], env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        database = env["PGDATABASE"]
        raise BackupError(f"{tool} on database {database!r} failed: {done.stderr.strip() or done.returncode}")


def _libpq_env(url: str) -> dict[str, str]:
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    values = {
        "PGHOST": parsed.host,
        "PGPORT": str(parsed.port) if parsed.port else None,
        "PGUSER": parsed.username,
        "PGPASSWORD": parsed.password,
        "PGDATABASE": parsed.database,
    }
    return {name: str(value) for name, value in values.items() if value}


def _safe_members(archive: Path, tar: tarfile.TarFile) -> list[tarfile.TarInfo]:
    """Regular files and folders with relative paths inside the target; anything else refuses the restore."""
    members = tar.getmembers()
    for member in members:
        parts = Path(member.name).parts
        if member.name.startswith("/") or ".." in parts or not (member.isfile() or member.isdir()):
            raise BackupError(f"{archive}: unsafe entry {member.name!r} (only plain files inside the backup)")
    return members


def _read_manifest(archive: Path) -> Manifest:
    """The archive's manifest, checked against its schema; BackupError naming the field that is wrong."""
    try:
        with tarfile.open(archive, "r:gz") as tar:
            member = tar.getmember(MANIFEST)
            if not member.isfile() or member.size > MAX_MANIFEST_BYTES:
                raise BackupError(f"{archive}: {MANIFEST} is not a file of at most {MAX_MANIFEST_BYTES:,} bytes")
            handle = tar.extractfile(member)
            return Manifest.model_validate_json(handle.read())  # type: ignore[union-attr]
    except FileNotFoundError:
        raise BackupError(f"{archive}: file not found") from None
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '(top)'}: {e['msg']}" for e in exc.errors()[:5])
        raise BackupError(f"{archive}: its {MANIFEST} is not valid: {problems}") from None
    except (tarfile.TarError, KeyError, OSError, EOFError, zlib.error) as exc:
        raise BackupError(f"{archive}: not a Qualia backup ({exc})") from None
