"""Atomic file output: a reader sees the old file or the whole new one, never half.

Every result Qualia writes goes through here: the bytes land in a temporary
file in the destination folder (same file system), are flushed to disk, and
the temporary file is renamed over the destination.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any

from qualia_pipelines.core.contract import Rendering


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes, durable: bool = True) -> Path:
    """Write ``data`` to ``path`` atomically; ``durable`` also survives a power cut (fsync)."""
    destination = Path(path)
    temporary = _temporary_copy(destination, data, durable)
    try:
        os.replace(temporary, destination)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return destination


def create_file_atomic(path: str | os.PathLike[str], data: bytes) -> Path:
    """Like :func:`write_bytes_atomic`, but never replaces an existing file: FileExistsError instead.

    The link is made only once the bytes are on disk, so a watcher of the folder
    sees either nothing or the whole file, and a file already there is untouched.
    """
    destination = Path(path)
    temporary = _temporary_copy(destination, data, durable=True)
    try:
        os.link(temporary, destination)
    finally:
        Path(temporary).unlink(missing_ok=True)
    return destination


def _temporary_copy(destination: Path, data: bytes, durable: bool) -> str:
    """``data`` in a hidden temporary file beside ``destination`` (hidden: watchers skip it)."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(prefix=f".{destination.name}.", suffix=".tmp", dir=destination.parent)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        os.chmod(temporary, 0o644)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return temporary


def write_text_atomic(path: str | os.PathLike[str], text: str) -> Path:
    return write_bytes_atomic(path, text.encode("utf-8"))


def write_json_atomic(path: str | os.PathLike[str], data: Any) -> Path:
    """``data`` as compact UTF-8 JSON: records are read by tools (and `qualia export` turns them into tables);
    indenting them made a meeting's records a quarter larger."""
    return write_text_atomic(path, json.dumps(to_jsonable(data), ensure_ascii=False, separators=(",", ":")) + "\n")


def write_rendering(path: str | os.PathLike[str], rendering: Rendering) -> Path:
    """Write a visualizer's output and the companion files it links to beside it."""
    destination = write_bytes_atomic(path, rendering.content)
    for name, origin in rendering.companions.items():
        target = destination.parent / name
        if not target.exists() or target.stat().st_size != origin.stat().st_size:
            temporary = target.with_name(f".{name}.{os.getpid()}.tmp")
            shutil.copyfile(origin, temporary)
            os.replace(temporary, target)
    return destination


_JSON_SCALARS = frozenset({str, int, float, bool, type(None)})


def to_jsonable(value: Any) -> Any:
    """Plugin values as JSON-safe data (tuples to lists, dataclasses to dicts, bytes summarised)."""
    if type(value) in _JSON_SCALARS:  # most values (a word table's counts): one check, not six
        return None if value != value else value  # NaN (a table's missing value) is not JSON: null
    if isinstance(value, date):  # dates and timestamps of tables (datetime and pandas' Timestamp included)
        return value.isoformat()
    if isinstance(value, Rendering):
        return {"media_type": value.media_type, "extension": value.extension, "bytes": len(value.content)}
    if hasattr(value, "to_dict"):
        return to_jsonable(value.to_dict())
    if isinstance(value, Mapping):
        return {str(key): to_jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_jsonable(item) for item in value]
    if isinstance(value, bytes):
        return {"bytes": len(value)}
    if isinstance(value, Path):
        return str(value)
    return value
