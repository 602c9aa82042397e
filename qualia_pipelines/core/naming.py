"""Stable, readable, distinct names for transcripts (output file names, partition keys)."""

from __future__ import annotations

import hashlib
import re

from qualia_pipelines.core.text import fold_accents

_PLAIN = re.compile(r"[a-z0-9_-]+\.[a-z0-9]+")
_UNSAFE = re.compile(r"[^a-z0-9]+")
_MAX_PLAIN = 100  # longer names are slugged to 89 characters: outputs add suffixes within the 255 a name may have


def transcript_key(filename: str) -> str:
    """``"weekly_sync.vtt"`` stays as it is; ``"Reunião 1.vtt"`` becomes ``"reuniao-1-vtt-1a2b3c"``.

    A plain lowercase name with one extension is its own key (it has one dot).
    Any other name becomes a slug plus a short hash of its exact spelling (no
    dot), so names that slugify alike ("Reunião 1.vtt", "reuniao 1.vtt") still
    get distinct keys and no slug can equal a plain name.
    """
    if len(filename) <= _MAX_PLAIN and _PLAIN.fullmatch(filename):
        return filename
    slug = _UNSAFE.sub("-", fold_accents(filename).lower()).strip("-") or "transcript"
    return f"{slug[:80]}-{hashlib.sha256(filename.encode('utf-8')).hexdigest()[:8]}"
