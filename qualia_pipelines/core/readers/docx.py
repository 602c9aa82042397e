"""Header-line transcripts: a ``Speaker Name   0:03`` paragraph (Teams DOCX, Otter.ai text and DOCX) or an
``@0:03 - Speaker Name`` line (Fathom, Google Meet recordings), followed by the speech.

Paragraphs before the first speaker line (title, date) become metadata. Teams
DOCX gives start times only, so a turn is taken to end when the next begins;
the last turn has no end.
"""

from __future__ import annotations

import io
import re
import zipfile
from typing import Any

from qualia_pipelines.core.readers.cues import seconds_from_clock
from qualia_pipelines.core.readers.errors import TranscriptError
from qualia_pipelines.core.transcript import Segment

_SPEAKER_NAME = re.compile(r"[^\W\d_][^,!?;:\n]{0,60}")
_SPEAKER_CLOCK = re.compile(r"(?:(\d{1,2}):)?(\d{1,2}):(\d{2})")
_MAX_NAME_WORDS = 6
_BOILERPLATE = re.compile(
    r"transcribed by (?:https?://)?otter\.ai/?"  # Otter.ai's footer
    r"|view recording - \d+ mins?(?: \(.{0,60}\))?"  # Fathom's link line
    r"|this editable transcript was computer generated and might contain errors\..{0,200}",  # Google Meet
    re.IGNORECASE,
)
BOILERPLATE_INITIALS = "TtVv"
"""How every boilerplate line starts ("Transcribed by", "VIEW RECORDING", "This editable"): other lines are not
matched at all."""
_MAX_DATE_CHARS = 100
# What a .docx may inflate to, checked from its central directory before any part is read. Teams transcripts
# are a few MB of XML that deflates 5-30x; a decompression bomb deflates up to ~1000x.
MAX_DOCX_MEMBERS = 2_000
MAX_DOCX_INFLATED = 128 * 1024 * 1024
MAX_DOCX_RATIO = 200
_RATIO_CHECKED_FROM = 1024 * 1024


def docx_lines(data: bytes, source: str) -> list[str]:
    """The document's text lines (paragraphs split at line breaks), in order."""
    if not data.startswith(b"PK\x03\x04"):
        raise TranscriptError(source, "not a valid .docx file: it is not a ZIP container")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            _check_inflation(archive.infolist(), source)
            if "word/document.xml" not in archive.namelist():
                raise TranscriptError(source, "not a valid .docx file: the ZIP has no word/document.xml")
        import docx  # lazy: python-docx pulls in lxml

        document = docx.Document(io.BytesIO(data))
    except TranscriptError:
        raise
    except Exception as exc:  # zipfile, lxml and python-docx raise many types for corrupt files
        raise TranscriptError(source, f"not a valid .docx file: {exc}") from None
    lines: list[str] = []
    for paragraph in document.paragraphs:
        lines.extend(line.strip() for line in paragraph.text.split("\n"))
    return [line for line in lines if line]


def _check_inflation(members: list[zipfile.ZipInfo], source: str) -> None:
    """Refuse a ZIP whose parts would inflate past the limits, before reading any of them.

    The declared sizes are what zipfile reads up to (a part that inflates past its declared size fails its
    CRC check), so checking them bounds the memory every later read can take.
    """
    if len(members) > MAX_DOCX_MEMBERS:
        raise TranscriptError(source, f"not a usable .docx file: {len(members):,} parts, over {MAX_DOCX_MEMBERS:,}")
    inflated = sum(member.file_size for member in members)
    if inflated > MAX_DOCX_INFLATED:
        raise TranscriptError(
            source, f"the .docx would inflate to {inflated:,} bytes, over the limit of {MAX_DOCX_INFLATED:,} bytes"
        )
    for member in members:
        ratio = member.file_size / max(member.compress_size, 1)
        if member.file_size > _RATIO_CHECKED_FROM and ratio > MAX_DOCX_RATIO:
            raise TranscriptError(
                source,
                f"the .docx part {member.filename!r} inflates {ratio:,.0f}x, over the limit of {MAX_DOCX_RATIO}x "
                "(a decompression bomb?)",
            )


def is_boilerplate(line: str) -> bool:
    """A line the exporting tool adds, which nobody said: "Transcribed by https://otter.ai", Fathom's
    "VIEW RECORDING - 118 mins", Google Meet's "This editable transcript was computer generated ..."."""
    return 0 < len(line) < 300 and line[0] in BOILERPLATE_INITIALS and _BOILERPLATE.fullmatch(line) is not None


def header_format(lines: list[str], default: str) -> str:
    """The tool that wrote header-line turns: ``fathom`` for ``@0:03 - Name`` lines, ``otter`` where Otter's
    footer is, else ``default``."""
    if any(line.startswith("@") and speaker_and_start(line) for line in lines):
        return "fathom"
    if any(line.lower().startswith("transcribed by") and is_boilerplate(line) for line in lines[-3:]):
        return "otter"
    return default


def parse_header_lines(
    lines: list[str], headers: list[tuple[str, float] | None] | None = None
) -> tuple[list[Segment], dict[str, Any]]:
    """Turns written as a header line followed by the speech (Teams DOCX, Otter.ai, Fathom); lines before the
    first header are a preamble (title, date); the tools' boilerplate lines are left out. ``headers``, each
    line's :func:`header_line`, where the caller has read them already."""
    turns: list[tuple[str, float, list[str]]] = []
    preamble: list[str] = []
    for line, speaker_line in zip(lines, headers or map(header_line, lines), strict=True):
        if is_boilerplate(line):
            continue
        if speaker_line:
            turns.append((*speaker_line, []))
        elif turns:
            turns[-1][2].append(line)
        else:
            preamble.append(line)
    metadata: dict[str, Any] = {}
    if preamble and turns:
        metadata = {"title": preamble[0], "preamble": preamble}
        date = next((found for found in map(_date, preamble) if found), None)
        if date:
            metadata["date"] = date
    if not turns:
        segments = [Segment(None, None, None, " ".join(line.split())) for line in preamble]
        return segments, metadata
    segments = []
    for index, (speaker, start, parts) in enumerate(turns):
        text = " ".join(" ".join(parts).split())
        if not text:
            continue
        end = turns[index + 1][1] if index + 1 < len(turns) else None
        segments.append(Segment(speaker, start, end if end is not None and end >= start else None, text))
    return segments, metadata


def _date(line: str) -> str | None:
    """ISO date-time of a preamble line such as "November 3, 2026, 2:00PM", if it is one."""
    from dateutil import parser

    if len(line) > _MAX_DATE_CHARS or not any(ch.isdigit() for ch in line):
        return None
    try:
        return parser.parse(line.replace(", ", " ", 1) if line.count(",") > 1 else line).isoformat()
    except (ValueError, OverflowError):
        return None


def header_line(line: str) -> tuple[str, float] | None:
    """:func:`speaker_and_start` of a line that can be a header line (one ending in a digit, or a Fathom
    line), without the call for the others: most lines are speech."""
    return speaker_and_start(line) if line[-1:].isdigit() or line[:1] == "@" else None


def speaker_and_start(line: str) -> tuple[str, float] | None:
    """``Name   0:03`` (a name, blanks, then a clock as the last word) or ``@0:03 - Name`` (Fathom, with an
    optional "(e-mail)" after the name). Split at a delimiter (the last blank run, the first " - "), so the
    time is linear in the line: a lazy name pattern before blanks tried every name length on every blank."""
    if line.startswith("@"):
        last, dash, head = line[1:].partition(" - ")
        if not dash:
            return None
        head = head.partition(" (")[0] if head.endswith(")") else head
    else:
        parts = line.rsplit(None, 1)
        if len(parts) != 2:
            return None
        head, last = parts
    start = header_clock_seconds(last)
    name = header_name(head) if start is not None else None
    return (name, start) if name else None


def header_name(head: str) -> str | None:
    """The speaker a header line names before its clock, single-spaced: a letter, at most 60 more characters
    and six words, no sentence punctuation, not ending in "."."""
    if _SPEAKER_NAME.fullmatch(head) is None:
        return None
    name = " ".join(head.split())
    return None if len(name.split(" ")) > _MAX_NAME_WORDS or name.endswith(".") else name


def header_clock_seconds(clock: str) -> float | None:
    """The seconds a header line's clock (``0:34``, ``1:02:03``) gives, if it is one."""
    match = _SPEAKER_CLOCK.fullmatch(clock)
    return seconds_from_clock(*match.groups()) if match else None
