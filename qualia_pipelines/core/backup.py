"""Backups: snapshots of the Dagster storage, the outputs and the inbox in a restic repository.

restic deduplicates (a night's snapshot stores only chunks it has not stored before, so it grows with the
day's change, not with the corpus), encrypts, verifies (``check``, ``restore --verify``) and prunes
(``forget --prune``), to a local folder or a remote (SFTP, S3, REST) repository. What restic cannot read
consistently by itself is prepared in a staging folder first: SQLite files are copied with SQLite's online
backup API (a raw copy of a live database can be torn), a PostgreSQL storage is dumped with ``pg_dump`` in its
custom format (one consistent snapshot) and restored with ``pg_restore``. Each snapshot holds a manifest (when,
which Qualia, where each source was, plugin health).

Earlier Qualia versions wrote tar.gz archives with a manifest of SHA-256 checksums; those are still listed,
verified and restored here, and pruned by the retention. `qualia backup` and the Dagster backup job call these
functions.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import secrets
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
import time
import zlib
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
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

RESTIC_FOLDER = "restic"
PASSWORD_FILE = "restic.password"
STAGING = ".staging"
"""Beside the repository: the SQLite copies and the dump a snapshot reads (kept, so unchanged files are not
copied again)."""
HOST, TAG = "qualia", "qualia"
"""Every snapshot's host and tag: the previous snapshot is found whatever the machine's name (a container's
changes at each start), and retention touches only Qualia's snapshots."""
_SKIPPED_PATTERNS = ("*.tmp", "*.lock", "*-wal", "*-shm", "*.db-journal", ".*.partial")
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


class SnapshotManifest(BaseModel):
    """What a snapshot says about itself: when, which Qualia, where each source folder was (restic keeps each
    under its absolute path), the staging folder, plugin health, and the PostgreSQL dump if any."""

    model_config = ConfigDict(extra="allow")
    created: datetime
    qualia_version: str = ""
    sources: dict[str, str]
    staging: str
    plugin_health: dict[str, Any] = Field(default_factory=dict)
    postgres: PostgresDump | None = None
    excluded: list[str] = Field(default_factory=list)


@dataclass(frozen=True)
class BackupInfo:
    """One backup: a snapshot in the restic repository (``name`` is its id), or an archive of an earlier Qualia
    (``name`` is its path)."""

    name: str
    created: datetime
    bytes: int | None
    kind: str  # "snapshot" or "archive"


@dataclass(frozen=True)
class Repository:
    """A restic repository: a folder, or any location restic takes (``sftp:``, ``s3:``, ``rest:`` ...), and the
    environment that opens it (its password)."""

    location: str
    password_env: dict[str, str]

    @classmethod
    def of(cls, backups: Path, location: str | None = None) -> Repository:
        """``location`` (else ``QUALIA_BACKUP_REPOSITORY``, else ``<backups>/restic``), with the password from
        ``RESTIC_PASSWORD``/``RESTIC_PASSWORD_FILE`` when set, else from ``<backups>/restic.password``
        (made on first use, readable by its owner only: keep a copy elsewhere, the repository is encrypted)."""
        location = location or os.environ.get("QUALIA_BACKUP_REPOSITORY") or str(backups / RESTIC_FOLDER)
        if os.environ.get("RESTIC_PASSWORD") or os.environ.get("RESTIC_PASSWORD_FILE"):
            return cls(location, {})
        password = backups / PASSWORD_FILE
        if not password.exists():
            backups.mkdir(parents=True, exist_ok=True)
            descriptor = os.open(password, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "w") as handle:
                handle.write(secrets.token_hex(32) + "\n")
        return cls(location, {"RESTIC_PASSWORD_FILE": str(password)})

    def run(self, *arguments: str) -> str:
        """restic's output for ``arguments`` on this repository; BackupError with restic's own message."""
        executable = shutil.which("restic")
        if executable is None:
            raise BackupError("restic not found: install it (Debian: apt-get install restic)")
        env = {**os.environ, **self.password_env}
        reading = ("--no-lock",) if arguments[0] in ("snapshots", "cat") else ()  # listing waits for no backup
        command = [executable, "--repo", self.location, "--quiet", *reading, *arguments]
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise BackupError(f"restic {arguments[0]} on {self.location}: {done.stderr.strip() or done.returncode}")
        return done.stdout

    def ensure(self) -> None:
        """The repository, made if there is none yet."""
        try:
            self.run("cat", "config")
        except BackupError:
            self.run("init")


def create_backup(
    sources: Mapping[str, Path],
    destination: Path,
    retention_days: float = 30,
    health: Mapping[str, Any] | None = None,
    qualia_version: str = "",
    postgres_url: str | None = None,
    *,
    repository: str | None = None,
    exclude: Sequence[Path] = (),
    held: AbstractContextManager[Any] | None = None,
) -> BackupInfo:
    """A snapshot of each source folder (``dagster_home``, ``outputs``, ``inbox``) in the restic repository, then
    the retention applied (``forget --prune``).

    SQLite databases are copied with SQLite's online backup API into ``<destination>/.staging`` (only those that
    changed since the last backup), a PostgreSQL storage is dumped there with ``pg_dump``, and the rest is read
    in place: restic stores only the chunks it has not stored before, so a night's backup grows with the day's
    change. ``exclude`` leaves out derived folders; ``held`` (a lock) is kept while the sources are read.
    """
    repo = Repository.of(destination, repository)
    repo.ensure()
    staging = destination / STAGING
    staging.mkdir(parents=True, exist_ok=True)
    created = datetime.now(tz=UTC)
    paths = {label: folder.resolve() for label, folder in sources.items() if folder.exists()}
    if "dagster_home" in paths:
        _mirror_instance(paths["dagster_home"], staging / "dagster_home")
        paths["dagster_home"] = (staging / "dagster_home").resolve()
    shutil.rmtree(staging / "postgres", ignore_errors=True)
    if postgres_url:
        pg_dump(postgres_url, staging / POSTGRES_DUMP)
    manifest = SnapshotManifest(
        created=created,
        qualia_version=qualia_version,
        sources={label: str(path) for label, path in paths.items()},
        staging=str(staging.resolve()),
        plugin_health=dict(health or {}),
        postgres={"dump": POSTGRES_DUMP, "database": _libpq_env(postgres_url)["PGDATABASE"]} if postgres_url else None,
        excluded=[str(path.resolve()) for path in exclude],
    )
    (staging / MANIFEST).write_text(manifest.model_dump_json(indent=2), encoding="utf-8")
    targets = [str((staging / MANIFEST).resolve())] + [str(path) for label, path in paths.items()]
    if postgres_url:
        targets.append(str((staging / "postgres").resolve()))
    excludes = [option for pattern in (*_SKIPPED_PATTERNS, *manifest.excluded) for option in ("--exclude", pattern)]
    with held or nullcontext():
        output = repo.run("backup", "--json", "--host", HOST, "--tag", TAG, *excludes, *targets)
    summary = next(json.loads(line) for line in reversed(output.splitlines()) if '"summary"' in line)
    forget_older(repo, retention_days)
    prune_archives(destination, retention_days)
    return BackupInfo(summary["snapshot_id"], created, int(summary.get("data_added", 0)), "snapshot")


def _mirror_instance(source: Path, mirror: Path) -> None:
    """``mirror`` made equal to the instance folder ``source``: SQLite files copied with the online backup API
    (a raw copy of a live database can be torn), other files as they are; unchanged files are not copied again
    (a copy takes its source's times), and files gone from the source are removed."""
    wanted = set()
    for path in sorted(source.rglob("*")):
        if not path.is_file() or path.name.endswith(_SKIPPED_SUFFIXES):
            continue
        relative = path.relative_to(source)
        wanted.add(relative)
        copy = mirror / relative
        changed = max(_mtime(path), _mtime(path.with_name(path.name + "-wal")))
        if copy.exists() and _mtime(copy) == changed:
            continue
        copy.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix == ".db":
            copy.unlink(missing_ok=True)
            _sqlite_backup(path, copy)
        else:
            shutil.copyfile(path, copy)
        os.utime(copy, ns=(changed, changed))
    for path in sorted(mirror.rglob("*"), reverse=True):
        if path.is_file() and path.relative_to(mirror) not in wanted:
            path.unlink()


def _sqlite_backup(source: Path, target: Path) -> None:
    """Copy a live SQLite database consistently (readers and writers may be active)."""
    live = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    copy = sqlite3.connect(target)
    try:
        live.backup(copy)
    finally:
        copy.close()
        live.close()


def _mtime(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except FileNotFoundError:
        return 0


def forget_older(repo: Repository, retention_days: float) -> None:
    """Snapshots older than the retention forgotten and their data pruned; the newest is always kept."""
    hours = max(1, math.ceil(retention_days * 24))
    repo.run("forget", "--host", HOST, "--tag", TAG, "--group-by", "host,tags", "--keep-within", f"{hours}h",
             "--keep-last", "1", "--prune")  # fmt: skip


def list_backups(folder: Path, repository: str | None = None) -> list[BackupInfo]:
    """The repository's snapshots and any archives an earlier Qualia left in ``folder``, oldest first."""
    infos = list_archives(folder)
    if repository or os.environ.get("QUALIA_BACKUP_REPOSITORY") or (folder / RESTIC_FOLDER).exists():
        repo = Repository.of(folder, repository)  # not before: it makes a password file where there is none
        for snapshot in json.loads(repo.run("snapshots", "--json", "--tag", TAG) or "[]"):
            created = datetime.fromisoformat(snapshot["time"][:26].rstrip("Z") + "+00:00")
            infos.append(BackupInfo(snapshot["short_id"], created, None, "snapshot"))
    return sorted(infos, key=lambda info: info.created)


def verify_backup(name: str, folder: Path, repository: str | None = None) -> dict[str, Any]:
    """Check a backup: an archive against its manifest's checksums; a snapshot by ``restic check`` and a restore
    into a temporary folder that restic verifies file by file (each against the hash it stored)."""
    if _is_archive(name):
        return verify_archive(Path(name))
    repo = _repository_of_snapshot(name, folder, repository)
    repo.run("check")
    with tempfile.TemporaryDirectory(prefix=".verify-", dir=folder) as scratch:
        return _restored_snapshot(repo, name, Path(scratch) / "snapshot")


def restore_backup(
    name: str, target: Path, folder: Path, postgres_url: str | None = None, repository: str | None = None
) -> dict[str, Any]:
    """Restore a backup into an empty (or new) folder: ``dagster_home/``, ``outputs/``, ``inbox/``,
    ``manifest.json`` (and ``postgres/`` with the dump, loaded into ``postgres_url`` when given).

    All or nothing: everything lands in a staging folder beside the target, which takes its place only once
    restic verified every file and the dump loaded.
    """
    if _is_archive(name):
        return restore_archive(Path(name), target, postgres_url)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise BackupError(f"{target}: restore needs an empty folder")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.restoring-"))
    try:
        repo = _repository_of_snapshot(name, folder, repository)
        manifest = _restored_snapshot(repo, name, staging / "tree", staging / "out")
        if postgres_url and not manifest.get("postgres"):
            raise BackupError(f"snapshot {name}: it holds no PostgreSQL dump (its instance used SQLite)")
        if postgres_url:
            pg_restore(postgres_url, staging / "out" / manifest["postgres"]["dump"])
        if target.exists():
            target.rmdir()
        (staging / "out").rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return manifest


def _restored_snapshot(repo: Repository, name: str, tree: Path, out: Path | None = None) -> dict[str, Any]:
    """Snapshot ``name`` restored into ``tree`` (restic verifies each file), checked against its manifest, and
    laid out in ``out`` (when given) as ``manifest.json`` plus a folder per source."""
    repo.run("restore", name, "--target", str(tree), "--verify")
    manifest_path = next(tree.rglob(f"{STAGING}/{MANIFEST}"), None)
    if manifest_path is None:
        raise BackupError(f"snapshot {name}: no {MANIFEST} in it (not a snapshot Qualia made)")
    try:
        manifest = SnapshotManifest.model_validate_json(manifest_path.read_text(encoding="utf-8"))
    except ValidationError as exc:
        raise BackupError(f"snapshot {name}: its {MANIFEST} is not valid: {exc.errors()[0]['msg']}") from None
    files = 0
    layout = {**manifest.sources, **({"postgres": f"{manifest.staging}/postgres"} if manifest.postgres else {})}
    for label, original in layout.items():
        restored = tree / original.lstrip("/")
        if not restored.is_dir():
            raise BackupError(f"snapshot {name}: {label} ({original}) is missing from it")
        files += sum(1 for path in restored.rglob("*") if path.is_file())
        if out is not None:
            (out / label).parent.mkdir(parents=True, exist_ok=True)
            restored.rename(out / label)
    if out is not None:
        manifest_path.rename(out / MANIFEST)
    return {**manifest.model_dump(mode="json"), "snapshot": name, "file_count": files}


def _repository_of_snapshot(name: str, folder: Path, repository: str | None) -> Repository:
    """The repository holding snapshot ``name``; a clear error for a name that is no snapshot id."""
    if not re.fullmatch(r"[0-9a-f]{8,64}|latest", name):
        raise BackupError(f"{name}: not a snapshot id (see `qualia backup list`) or a backup archive")
    return Repository.of(folder, repository)


def _is_archive(name: str) -> bool:
    return name.endswith(ARCHIVE_SUFFIX) or Path(name).is_file()


def list_archives(folder: Path) -> list[BackupInfo]:
    """The archives (tar.gz) an earlier Qualia wrote into ``folder``."""
    infos = []
    for path in sorted(folder.glob(f"{ARCHIVE_PREFIX}*{ARCHIVE_SUFFIX}")):
        stamp = path.name[len(ARCHIVE_PREFIX) : -len(ARCHIVE_SUFFIX)]
        created = datetime.strptime(stamp, "%Y%m%dT%H%M%S%fZ").replace(tzinfo=UTC)
        infos.append(BackupInfo(str(path), created, path.stat().st_size, "archive"))
    return infos


def prune_archives(folder: Path, retention_days: float, now: float | None = None) -> list[Path]:
    """Archives of an earlier Qualia older than the retention deleted: snapshots have replaced them."""
    cutoff = (now or time.time()) - retention_days * 86400
    removed = []
    for info in list_archives(folder):
        if info.created.timestamp() < cutoff:
            Path(info.name).unlink()
            removed.append(Path(info.name))
    return removed


def verify_archive(archive: Path) -> dict[str, Any]:
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


def restore_archive(archive: Path, target: Path, postgres_url: str | None = None) -> dict[str, Any]:
    """Unpack a verified archive into an empty (or new) folder; load its PostgreSQL dump into ``postgres_url``.

    All or nothing: the archive is unpacked (and its dump loaded) in a staging folder beside the target,
    which takes the target's place only once everything succeeded.
    """
    manifest = verify_archive(archive)
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
