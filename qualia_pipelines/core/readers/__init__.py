"""Read any supported transcript file (or text) into a :class:`Transcript`.

Format comes from the extension and is confirmed by the content; the file is
only ever opened for reading.
"""

from __future__ import annotations

import gc
import hashlib
import os
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from operator import attrgetter
from pathlib import Path

from qualia_pipelines.core.readers.cues import looks_like_srt, parse_srt, parse_vtt
from qualia_pipelines.core.readers.decoding import binary_kind, decode_transcript_bytes
from qualia_pipelines.core.readers.docx import docx_lines, header_format, parse_header_lines
from qualia_pipelines.core.readers.errors import TranscriptError
from qualia_pipelines.core.readers.plaintext import parse_lines
from qualia_pipelines.core.readers.speakers import without_annotations
from qualia_pipelines.core.text import detect_language
from qualia_pipelines.core.transcript import Segment, Transcript

SUPPORTED_EXTENSIONS: tuple[str, ...] = (".vtt", ".docx", ".txt", ".srt")
DEFAULT_MAX_BYTES = 50 * 1024 * 1024

__all__ = [
    "DEFAULT_MAX_BYTES",
    "SUPPORTED_EXTENSIONS",
    "TranscriptError",
    "check_file",
    "read_file_bytes",
    "read_transcript",
    "sniffed_extension",
    "transcript_from_bytes",
    "transcript_from_text",
]


def read_transcript(path: str | os.PathLike[str], max_bytes: int = DEFAULT_MAX_BYTES) -> Transcript:
    """Parse the file at ``path``; raise TranscriptError naming it if that is impossible."""
    file = Path(path)
    return transcript_from_bytes(read_file_bytes(file, max_bytes), file.name, source=str(file), max_bytes=max_bytes)


def check_file(path: str, max_bytes: int, _state: object = None) -> None:
    """Read the file only to learn that it can be read, raising TranscriptError if not: the call a worker
    process makes for a caller that must not read untrusted files itself (the inbox sensor)."""
    read_transcript(path, max_bytes=max_bytes)


def read_file_bytes(path: str | os.PathLike[str], max_bytes: int = DEFAULT_MAX_BYTES) -> bytes:
    """The raw bytes of a transcript file, refusing unsupported types and oversized files."""
    file = Path(path)
    source = str(file)
    _check_extension(file.name, source)
    try:
        size = file.stat().st_size
        if not file.is_file():
            raise TranscriptError(source, "not a regular file")
        if size > max_bytes:
            raise TranscriptError(source, f"file is {size:,} bytes, over the size limit of {max_bytes:,} bytes")
        with file.open("rb") as handle:
            return handle.read(max_bytes + 1)
    except FileNotFoundError:
        raise TranscriptError(source, "file not found") from None
    except PermissionError:
        raise TranscriptError(source, "permission denied") from None
    except IsADirectoryError:
        raise TranscriptError(source, "not a regular file") from None


def transcript_from_bytes(
    data: bytes, filename: str, source: str | None = None, max_bytes: int = DEFAULT_MAX_BYTES
) -> Transcript:
    """Parse in-memory file content; ``filename`` decides the format by its extension."""
    source = source or filename
    extension = _check_extension(filename, source)
    if len(data) > max_bytes:
        raise TranscriptError(source, f"file is over the size limit of {max_bytes:,} bytes")
    if not data:
        raise TranscriptError(source, "the file is empty")
    content_hash = hashlib.sha256(data).hexdigest()
    with collection_paused():
        if extension == ".docx":
            return _docx_transcript(data, source, content_hash)
        decoded = decode_transcript_bytes(data, source)
        if not decoded.text.strip():
            raise TranscriptError(source, "the file contains only whitespace")
        segments, fmt = _text_segments(decoded.text, extension, source)
    return _transcript(source, fmt, content_hash, segments, decoded.encoding, decoded.repairs, {})


def transcript_from_text(text: str, source: str = "<text>") -> Transcript:
    """Parse text handed over directly (API bodies, tests) as a .txt/.vtt/.srt would be."""
    if not text.strip():
        raise TranscriptError(source, "the text is empty")
    data = text.encode("utf-8")
    normalised = text.replace("\r\n", "\n").replace("\r", "\n")
    with collection_paused():
        segments, fmt = _text_segments(normalised, ".txt", source)
    return _transcript(source, fmt, hashlib.sha256(data).hexdigest(), segments, "utf-8", 0, {})


@contextmanager
def collection_paused() -> Iterator[None]:
    """No cyclic garbage collection while a reader builds its segments.

    Readers make no reference cycles, only many small objects, and each collection walks all of them: a
    file of 200,000 one-word turns took three times as long with the collector running.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def sniffed_extension(data: bytes) -> str:
    """The transcript format the content looks like, for uploads whose name carries no usable extension."""
    if binary_kind(data) == "a ZIP archive":
        return ".docx"
    head = data[:4096].decode("utf-8", errors="ignore").lstrip("\ufeff \r\n\t").replace("\r\n", "\n")
    if head.startswith("WEBVTT"):
        return ".vtt"
    return ".srt" if looks_like_srt(head) else ".txt"


def _check_extension(filename: str, source: str) -> str:
    extension = Path(filename).suffix.lower()
    if extension not in SUPPORTED_EXTENSIONS:
        shown = extension or "(none)"
        raise TranscriptError(source, f"unsupported file type {shown}; supported: {', '.join(SUPPORTED_EXTENSIONS)}")
    return extension


def _text_segments(text: str, extension: str, source: str) -> tuple[list[Segment], str]:
    stripped = text.lstrip("\ufeff \n\t")
    if looks_like_srt(stripped):  # content first: SRT saved as .vtt or .txt is still SRT
        return parse_srt(stripped, source), "srt"
    if extension == ".vtt" or stripped.startswith("WEBVTT"):
        return parse_vtt(stripped, source), "vtt"
    if extension == ".srt":
        return parse_srt(stripped, source), "srt"
    segments, fmt = parse_lines(text)
    if not segments:
        raise TranscriptError(source, "no text found")
    return segments, fmt


def _docx_transcript(data: bytes, source: str, content_hash: str) -> Transcript:
    kind = binary_kind(data)
    if kind and kind != "a ZIP archive":
        raise TranscriptError(source, f"this is {kind}, not a .docx document")
    lines = docx_lines(data, source)
    segments, metadata = parse_header_lines(lines)
    if any(segment.speaker for segment in segments):
        fmt = header_format(lines, "docx")
    else:  # no header lines: "Name: text" paragraphs (a Google Meet transcript) or plain prose
        segments, shape = parse_lines("\n\n".join(lines))  # a paragraph each, as in the document
        fmt = "docx-plain" if shape == "plain" else _meet_or_docx(lines, shape)
    if not segments:
        raise TranscriptError(source, "the document contains no text")
    return _transcript(source, fmt, content_hash, segments, "utf-8", 0, metadata)


def _meet_or_docx(lines: list[str], shape: str) -> str:
    """``meet`` for a Google Meet transcript document (a "Transcript" heading over "Name: text" turns)."""
    heading = any(line == "Transcript" or line.endswith(" - Transcript") for line in lines[:20])
    return "meet" if heading else f"docx-{shape}"


def _transcript(
    source: str,
    fmt: str,
    content_hash: str,
    segments: list[Segment],
    encoding: str,
    repairs: int,
    metadata: dict,
) -> Transcript:
    segments, annotations = _without_annotations(segments)
    if not segments:
        raise TranscriptError(source, "no speech found: the text is only non-speech notes such as [music]")
    language = detect_language(" ".join(segment.text for segment in segments[:400]))
    segments, speaker_repairs = _with_visible_speakers(segments)
    return Transcript(
        source=source,
        format=fmt,
        language=language,
        content_hash=content_hash,
        segments=tuple(segments),
        encoding=encoding,
        encoding_repairs=repairs,
        speaker_name_repairs=speaker_repairs,
        annotations_removed=annotations,
        metadata=metadata,
    )


def _without_annotations(segments: list[Segment]) -> tuple[list[Segment], int]:
    """Segments without non-speech notes ("[risas]", "(music)"), segments left empty dropped; and how many
    notes there were. Most segments have no bracket at all, and are kept as they are: that is checked on
    all the text at once, as a file of one-word turns spent 5% of its reading time checking it turn by turn."""
    texts = "".join(map(attrgetter("text"), segments))
    if "[" not in texts and "(" not in texts:
        return segments, 0
    kept: list[Segment] = []
    removed = 0
    for segment in segments:
        text = segment.text
        if "[" not in text and "(" not in text:
            kept.append(segment)
            continue
        text, notes = without_annotations(text)
        removed += notes
        if not notes:
            kept.append(segment)
        elif text:
            kept.append(Segment(segment.speaker, segment.start, segment.end, text))
    return kept, removed


def _with_visible_speakers(segments: list[Segment]) -> tuple[list[Segment], int]:
    """Segments whose speaker names are what a reader sees, and how many distinct spellings that changed.

    "Ana" followed by a right-to-left override or a zero-width space displays as "Ana" but would count
    as another person; a decomposed "Júlia" likewise.
    """
    names = set(map(attrgetter("speaker"), segments)) - {None, ""}
    visible = {name: visible_name(name) for name in names}
    changed = {name for name, shown in visible.items() if shown != name}
    if not changed:
        return segments, 0
    return [
        Segment(visible[s.speaker] or None, s.start, s.end, s.text) if s.speaker in changed else s for s in segments
    ], len(changed)


def visible_name(name: str) -> str:
    """``name`` in NFC without format characters (bidi controls, zero-width marks, soft hyphens), blanks
    collapsed."""
    composed = unicodedata.normalize("NFC", name)
    return " ".join("".join(ch for ch in composed if unicodedata.category(ch) != "Cf").split())
