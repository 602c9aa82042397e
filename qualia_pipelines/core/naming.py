"""Stable, readable names for transcripts (output file names, partition keys)."""

from __future__ import annotations

import hashlib
import re

from qualia_pipelines.core.text import fold_accents

_UNSAFE = re.compile(r"[^a-z0-9]+")


def transcript_key(filename: str) -> str:
    """``"Weekly Sync.vtt"`` -> ``"weekly-sync-vtt-1a2b3c"``; ``"weekly_sync.vtt"`` -> ``"weekly_sync-vtt"``.

    A name that is already lowercase ASCII keeps a hash-free key. Any other name
    gets a short hash of its exact spelling, so names that slugify alike
    ("Reunião 1.vtt", "reuniao 1.vtt") still get distinct keys.
    """
    stem, dot, extension = filename.rpartition(".")
    if not dot:
        stem, extension = filename, ""
    slug = "-".join(part for part in (_slug(stem), _slug(extension)) if part) or "transcript"
    plain = re.fullmatch(r"[a-z0-9_-]+", stem) and re.fullmatch(r"[a-z0-9]*", extension)
    if plain:
        return "-".join(part for part in (stem, extension) if part)
    return f"{slug}-{hashlib.sha256(filename.encode('utf-8')).hexdigest()[:6]}"


def _slug(text: str) -> str:
    return _UNSAFE.sub("-", fold_accents(text).lower()).strip("-")
