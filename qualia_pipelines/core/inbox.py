"""Noticing files that have finished arriving in a folder.

A file is settled once its size and modification time are the same at two
looks taken some time apart, or, at its first look, once nothing has written
to it for a quiet period: a transcript still being copied keeps changing and
is left for a later look. Shared by `qualia watch` and the inbox sensor.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from qualia_pipelines.core.contract import QualiaError
from qualia_pipelines.core.readers import SUPPORTED_EXTENSIONS
from qualia_pipelines.core.storage import create_file_atomic


@dataclass(frozen=True)
class Observation:
    size: int
    mtime_ns: int


def observe(folder: Path) -> dict[str, Observation]:
    """Size and mtime of every supported, non-hidden file below ``folder``."""
    seen: dict[str, Observation] = {}
    if not folder.is_dir():
        return seen
    for path in sorted(folder.rglob("*")):
        if path.suffix.lower() not in SUPPORTED_EXTENSIONS or path.name.startswith("."):
            continue
        try:
            stat = path.stat()
        except OSError:  # vanished between listing and stat
            continue
        if path.is_file():
            seen[str(path)] = Observation(stat.st_size, stat.st_mtime_ns)
    return seen


QUIET_S = 5.0
"""A file untouched this long is not being written: it need not wait for a second look."""


def settled(previous: dict[str, Observation], current: dict[str, Observation], now_ns: int | None = None) -> list[str]:
    """Paths unchanged since the previous look, or first seen with a modification older than QUIET_S."""
    quiet_before = (now_ns if now_ns is not None else time.time_ns()) - int(QUIET_S * 1e9)
    return [
        path
        for path, now in current.items()
        if previous.get(path) == now or (path not in previous and now.mtime_ns <= quiet_before)
    ]


class InboxConflictError(QualiaError):
    """The inbox already holds a different file under the same name."""


def deposit(folder: Path, name: str, data: bytes) -> tuple[Path, bool]:
    """Put ``data`` into the inbox as ``name``, whole or not at all; ``(path, True)`` when it is new.

    An identical file already there is left as it is (``False``); a different
    one is never replaced: inbox files are only ever added.
    """
    path = folder / name
    try:
        return create_file_atomic(path, data), True
    except FileExistsError:
        if path.is_file() and path.read_bytes() == data:
            return path, False
        raise InboxConflictError(
            f"{name}: the inbox already has a different file of this name; upload it under another name"
        ) from None
