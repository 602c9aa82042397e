"""Line-based text: bracketed Teams/Zoom exports and plain paragraphs.

Three speaker-line shapes are recognised: ``[00:00:05] Speaker: text``,
``Speaker (00:00:05): text`` and ``Speaker: text``. A file counts as a
speaker transcript when most of its lines have one of these shapes; lines in
between continue the previous utterance. Anything else is plain text whose
paragraphs become speaker-less segments.
"""

from __future__ import annotations

import re

from qualia_pipelines.core.readers.cues import seconds_from_clock
from qualia_pipelines.core.transcript import Segment

_CLOCK = r"(?:(\d{1,2}):)?(\d{1,2}):(\d{2})(?:[.,](\d{1,3}))?"
_NAME = r"[^\W\d_][\w.'’ -]{0,60}?"
_BRACKETED = re.compile(rf"^\[{_CLOCK}\]\s*(?:({_NAME})\s*:)?\s*(.*)$")
_PARENTHESISED = re.compile(rf"^({_NAME})\s*\({_CLOCK}\)\s*:?\s*(.*)$")
_NAMED = re.compile(rf"^({_NAME})\s*:\s+(\S.*)$")
_MAX_NAME_WORDS = 6
_SPEAKER_LINE_SHARE = 0.5


def parse_lines(text: str) -> tuple[list[Segment], str]:
    """Segments and the detected format name (``bracketed`` or ``plain``)."""
    lines = [line.strip() for line in text.split("\n")]
    parsed = [_speaker_line(line) for line in lines]
    content = [line for line in lines if line]
    recognised = sum(1 for item in parsed if item is not None)
    if content and recognised >= 2 and recognised >= _SPEAKER_LINE_SHARE * len(content):
        return _speaker_segments(lines, parsed), "bracketed"
    if content and recognised == 1 and len(content) == 1:
        return _speaker_segments(lines, parsed), "bracketed"
    return _paragraph_segments(text), "plain"


def _speaker_line(line: str) -> tuple[str | None, float | None, str] | None:
    if not line:
        return None
    match = _BRACKETED.match(line)
    if match:
        hours, minutes, seconds, fraction, speaker, body = match.groups()
        return _clean_name(speaker), seconds_from_clock(hours, minutes, seconds, fraction or "0"), body
    match = _PARENTHESISED.match(line)
    if match and _clean_name(match.group(1)):
        speaker, hours, minutes, seconds, fraction, body = match.groups()
        return _clean_name(speaker), seconds_from_clock(hours, minutes, seconds, fraction or "0"), body
    match = _NAMED.match(line)
    if match and _clean_name(match.group(1)):
        return _clean_name(match.group(1)), None, match.group(2)
    return None


def _clean_name(name: str | None) -> str | None:
    if not name:
        return None
    name = " ".join(name.split())
    if len(name.split(" ")) > _MAX_NAME_WORDS or "://" in name:
        return None
    return name


def _speaker_segments(lines: list[str], parsed: list[tuple[str | None, float | None, str] | None]) -> list[Segment]:
    pending: list[list] = []  # [speaker, start, [text parts]]
    for line, item in zip(lines, parsed, strict=True):
        if item is not None:
            speaker, start, body = item
            pending.append([speaker, start, [body] if body else []])
        elif line and pending:
            pending[-1][2].append(line)
        elif line:
            pending.append([None, None, [line]])
    segments: list[Segment] = []
    for index, (speaker, start, parts) in enumerate(pending):
        body = " ".join(" ".join(parts).split())
        if not body:
            continue
        end = pending[index + 1][1] if index + 1 < len(pending) else None
        if start is None or (end is not None and end < start):
            end = None
        segments.append(Segment(speaker=speaker, start=start, end=end, text=body))
    return segments


def _paragraph_segments(text: str) -> list[Segment]:
    paragraphs = re.split(r"\n\s*\n", text)
    return [Segment(speaker=None, start=None, end=None, text=" ".join(p.split())) for p in paragraphs if p.strip()]
