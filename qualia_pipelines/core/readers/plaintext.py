"""Line-based text: bracketed Teams/Zoom exports, Zoom chat logs, interviews, Otter.ai and Fathom text, plain
paragraphs (and the lines of a DOCX that has no Teams headers, such as a Google Meet transcript).

Six speaker-line shapes are recognised: ``[00:00:05] Speaker: text``,
``Speaker (00:00:05): text``, ``Speaker: text``, Zoom chat's
``00:00:05<TAB>Speaker:<TAB>text``, ``[Speaker] text`` and interview labels
(``A - text``). A file counts as a speaker transcript when most of its lines
have one of these shapes; lines in between continue the previous utterance,
and a line that is only a clock (Google Meet's ``00:05:00``) dates the turn
after it. Header-line exports (Otter.ai's ``Speaker  0:34``, Fathom's
``@0:34 - Speaker``, then the speech) are read as Teams DOCX is. The tools'
boilerplate lines ("Transcribed by otter.ai") are left out. Anything else is
plain text whose paragraphs become speaker-less segments.
"""

from __future__ import annotations

import re
from functools import lru_cache

from qualia_pipelines.core.readers.cues import seconds_from_clock, single_spaced
from qualia_pipelines.core.readers.docx import header_format, is_boilerplate, parse_header_lines, speaker_and_start
from qualia_pipelines.core.readers.speakers import clean_label, interview_label, prefix_label
from qualia_pipelines.core.transcript import Segment

_CLOCK = r"(?:(\d{1,2}):)?(\d{1,2}):(\d{2})(?:[.,](\d{1,3}))?"
_NAME = re.compile(r"[^\W\d_][\w.'’ -]{0,60}")
_BRACKETED_CLOCK = re.compile(rf"\[{_CLOCK}\]")
_CHAT_CLOCK = re.compile(rf"{_CLOCK}\t")  # Zoom's chat log: "01:27:42<TAB>Name:<TAB>text", tabs and all
_BARE_CLOCK = re.compile(_CLOCK)
_BOILERPLATE_INITIALS = "TtVv"  # "Transcribed by otter.ai", "VIEW RECORDING", "This editable transcript ..."
_HEADER_LINE_SHARE = 0.25
"""Otter.ai text: a "Name  0:34" line, the speech, a blank line; headers are about half the lines with text."""
_PARENTHESISED_CLOCK = re.compile(rf"\({_CLOCK}\)")
_SPEAKER_LINE_SHARE = 0.5


def parse_lines(text: str) -> tuple[list[Segment], str]:
    """Segments and the detected format name (``otter``, ``fathom``, ``bracketed``, ``interview`` or ``plain``)."""
    lines = [line.strip() for line in text.split("\n")]
    lines = ["" if line[:1] in _BOILERPLATE_INITIALS and is_boilerplate(line) else line for line in lines]
    parsed = [_speaker_line(line) for line in lines]
    content = [line for line in lines if line and not _clock_mark(line)]
    recognised = sum(1 for item in parsed if item is not None)
    headers = sum(1 for line in content if speaker_and_start(line))
    if headers >= 2 and headers >= _HEADER_LINE_SHARE * len(content) and headers > recognised:
        segments, _ = parse_header_lines(content)
        return segments, header_format(content, "otter")
    first = next((index for index, item in enumerate(parsed) if item is not None), len(parsed))
    turns = len(content) - sum(1 for line in lines[:first] if line and not _clock_mark(line))  # after the preamble
    labelled = recognised >= 2 and recognised >= _SPEAKER_LINE_SHARE * turns
    if labelled or (recognised == 1 and len(content) == 1):
        interview = all(item is None or item[3] for item in parsed)
        return _speaker_segments(lines, parsed), "interview" if interview else "bracketed"
    return _paragraph_segments(text), "plain"


def _clock_mark(line: str) -> re.Match[str] | None:
    """The clock of a line that is only a clock (Google Meet's "00:05:00"): a time mark, not text."""
    return _BARE_CLOCK.fullmatch(line) if line[:1].isdigit() else None


def _speaker_line(line: str) -> tuple[str | None, float | None, str, bool] | None:
    """The line's speaker, start, text and whether it is an interview label, if it has one of the shapes.

    A name cannot hold ":" or "(", so the first of them ends it: each shape is read by finding that
    character and checking the bounded name before it, in time linear in the line (a lazy name pattern
    followed by blanks tried every name length against every blank: 61 passes over a line of spaces).
    """
    if not line:
        return None
    clock = _BRACKETED_CLOCK.match(line)
    if clock:
        rest = line[clock.end() :].lstrip()
        head, colon, said = rest.partition(":")
        name = _name(head) if colon else None
        if name:
            return clean_label(name), _seconds(clock), said.lstrip(), False
        return None, _seconds(clock), rest, False
    clock = _CHAT_CLOCK.match(line)
    if clock:  # Zoom's tabs, not any blank: running text may start with a time ("10:30 Reunião: pauta")
        head, colon, said = line[clock.end() :].partition(":")
        speaker = _speaker_name(head) if colon and said[:1] == "\t" else None
        if speaker:
            return speaker, _seconds(clock), said.strip(), False
    paren = line.find("(")
    clock = _PARENTHESISED_CLOCK.match(line, paren) if paren > 0 else None
    speaker = _speaker_name(line[:paren]) if clock else None
    if clock and speaker:
        said = line[clock.end() :].lstrip()
        return speaker, _seconds(clock), said[1:].lstrip() if said.startswith(":") else said, False
    if line.find(" - ", 0, 64) > 0:  # before "Name:": "A - Eu disse: ..." is A's
        label, said = interview_label(line)
        if label and said:
            return label, None, said, True
    head, colon, said = line.partition(":")
    speaker = _speaker_name(head) if colon else None
    if speaker and said[:1].isspace() and not said.isspace():
        return speaker, None, said.lstrip(), False
    if line.startswith("["):
        label, said = prefix_label(line)
        return (label, None, said, False) if label else None
    return None


@lru_cache(maxsize=4096)
def _speaker_name(head: str) -> str | None:
    """The speaker name ``head`` holds, if any: once per distinct head, as speakers repeat."""
    return clean_label(_name(head))


def _name(head: str) -> str | None:
    """``head`` without trailing blanks, if it is a name: a letter, then at most 60 name characters."""
    name = head.rstrip()
    return name if _NAME.fullmatch(name) else None


def _seconds(clock: re.Match[str]) -> float:
    return seconds_from_clock(*clock.groups())


def _speaker_segments(
    lines: list[str], parsed: list[tuple[str | None, float | None, str, bool] | None]
) -> list[Segment]:
    turns: list[tuple[str | None, float | None, list[str]]] = []  # speaker, start, text parts
    mark: float | None = None  # a bare clock line's time, for the turn after it
    for line, item in zip(lines, parsed, strict=True):
        if item is not None:
            turns.append((item[0], item[1] if item[1] is not None else mark, [item[2]]))
            mark = None
        elif (clock := _clock_mark(line)) is not None:
            mark = _seconds(clock)
        elif line:
            if turns:
                turns[-1][2].append(line)
            else:
                turns.append((None, None, [line]))
    segments: list[Segment] = []
    ends = [start for _, start, _ in turns[1:]] + [None]
    for (speaker, start, parts), end in zip(turns, ends, strict=True):
        said = parts[0] if len(parts) == 1 else " ".join(parts)
        body = said if single_spaced(said) else " ".join(said.split())
        if not body:
            continue
        if start is None or (end is not None and end < start):
            end = None
        segments.append(Segment(speaker, start, end, body))
    return segments


def _paragraph_segments(text: str) -> list[Segment]:
    paragraphs = re.split(r"\n\s*\n", text)
    return [Segment(speaker=None, start=None, end=None, text=" ".join(p.split())) for p in paragraphs if p.strip()]
