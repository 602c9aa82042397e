"""On-disk result cache keyed by everything that can change a result.

A key is the SHA-256 of: the input's content hash, the reader version, the
plugin id and version, its canonical (validated, sorted) parameters and the
keys of the plugins it depends on. So a changed file, plugin version or
parameter, anywhere up the chain, never returns a stale result. Entries are
written atomically (temp file + rename), so concurrent processes writing the
same entry never leave a torn file; an unreadable entry is a miss.

The cache holds pickles and is meant for the user's own cache folder: do not
point it at a directory other people can write to.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from qualia_pipelines.core.storage import write_bytes_atomic

READER_VERSION = "1"
_MISSING = object()


def cache_key(
    content_hash: str,
    plugin_id: str,
    plugin_version: str,
    params: Mapping[str, Any],
    upstream_keys: Sequence[str],
) -> str:
    canonical = json.dumps(
        [READER_VERSION, content_hash, plugin_id, plugin_version, dict(sorted(params.items())), list(upstream_keys)],
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "qualia"


class ResultCache:
    """Plugin results stored as one pickle per key under ``root/ab/abcdef....pickle``."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def path_for(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.pickle"

    def get(self, key: str) -> Any:
        """The stored value, or the module's ``MISSING`` sentinel."""
        try:
            with self.path_for(key).open("rb") as handle:
                return pickle.load(handle)
        except (OSError, EOFError, pickle.UnpicklingError, AttributeError, ImportError, IndexError):
            return _MISSING

    def put(self, key: str, value: Any) -> None:
        write_bytes_atomic(self.path_for(key), pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL), durable=False)


def is_missing(value: Any) -> bool:
    return value is _MISSING
