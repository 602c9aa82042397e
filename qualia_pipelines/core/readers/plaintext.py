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
_NAME_COLON_LINE = re.compile(r"([^\W\d_][\w.'’ ]{0,60}+)\s*+:\s++(\S.*)")
"""``Name: text`` where no other shape can apply: a letter first (no clock), no "-" in the name (no interview
label), no "(" before the colon (no clock in parentheses). Possessive, so it never backtracks."""
_PARENTHESISED_CLOCK = re.compile(rf"\({_CLOCK}\)")
_SPEAKER_LINE_SHARE = 0.5


def parse_lines(text: str) -> tuple[list[Segment], str]:
    """Segments and the detected format name (``otter``, ``fathom``, ``bracketed``, ``interview`` or ``plain``)."""
    lines = [
        "" if line and line[0] in _BOILERPLATE_INITIALS and is_boilerplate(line) else line
        for line in map(str.strip, text.split("\n"))
    ]
    parsed = _parsed_lines(lines)
    content = [line for line in lines if line and not (line[0].isdigit() and _clock_mark(line))]
    recognised = len(parsed) - parsed.count(None)
    if _header_lines_lead(content, recognised):
        segments, _ = parse_header_lines(content)
        return segments, header_format(content, "otter")
    labelled = recognised >= 2 and recognised >= _SPEAKER_LINE_SHARE * _turn_lines(lines, parsed, len(content))
    if labelled or (recognised == 1 and len(content) == 1):
        interview = all(item is None or item[3] for item in parsed)
        single_spaced_lines = "  " not in text and text.replace("\n", "").isprintable()
        return _speaker_segments(lines, parsed, single_spaced_lines), "interview" if interview else "bracketed"
    return _paragraph_segments(text), "plain"


def _turn_lines(lines: list[str], parsed: list[tuple | None], content_lines: int) -> int:
    """The lines with text after the preamble (what comes before the first speaker line)."""
    first = next((index for index, item in enumerate(parsed) if item is not None), len(parsed))
    return content_lines - sum(1 for line in lines[:first] if line and not _clock_mark(line))


def _header_lines_lead(content: list[str], recognised: int) -> bool:
    """Whether the lines are mostly Otter/Fathom header lines, more than the ``recognised`` speaker lines.

    Counting stops once headers can no longer outnumber them, so a file of speaker lines is not checked
    a second time line by line; and only lines that start with "@" or end in a digit can be headers.
    """
    headers, unchecked = 0, len(content)
    for line in content:
        if headers + unchecked <= recognised:
            return False
        unchecked -= 1
        headers += (line[0] == "@" or line[-1].isdigit()) and speaker_and_start(line) is not None
    return headers >= 2 and headers >= _HEADER_LINE_SHARE * len(content) and headers > recognised


def _clock_mark(line: str) -> re.Match[str] | None:
    """The clock of a line that is only a clock (Google Meet's "00:05:00"): a time mark, not text."""
    return _BARE_CLOCK.fullmatch(line) if line[:1].isdigit() else None


def _parsed_lines(lines: list[str]) -> list[tuple[str | None, float | None, str, bool] | None]:
    """:func:`_speaker_line` of each line, the commonest shape (``Name: text``) matched in C first.

    A file of short turns spends its time in the per-line checks; the one pattern gives the same result
    for the lines it matches (tests/test_properties.py checks that) at a third of the cost. Every shape
    holds a ":" or " - " or starts with "[", so other lines (prose) are not checked at all.
    """
    return [
        (name, None, match[2], False)
        if match and (name := _speaker_name(match[1]))
        else (_speaker_line(line) if ":" in line or " - " in line or line[:1] == "[" else None)
        for line, match in zip(lines, map(_NAME_COLON_LINE.fullmatch, lines), strict=True)
    ]


def _speaker_line(line: str) -> tuple[str | None, float | None, str, bool] | None:
    """The line's speaker, start, text and whether it is an interview label, if it has one of the shapes.

    A name cannot hold ":" or "(", so the first of them ends it: each shape is read by finding that
    character and checking the bounded name before it, in time linear in the line (a lazy name pattern
    followed by blanks tried every name length against every blank: 61 passes over a line of spaces).
    """
    if not line:
        return None
    first = line[0]
    clock = _BRACKETED_CLOCK.match(line) if first == "[" else None
    if clock:
        rest = line[clock.end() :].lstrip()
        head, colon, said = rest.partition(":")
        name = _name(head) if colon else None
        if name:
            return clean_label(name), _seconds(clock), said.lstrip(), False
        return None, _seconds(clock), rest, False
    clock = _CHAT_CLOCK.match(line) if first.isdigit() else None
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
    if first == "[":
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
    lines: list[str], parsed: list[tuple[str | None, float | None, str, bool] | None], single_spaced_lines: bool
) -> list[Segment]:
    """One segment per turn (a speaker line and the unlabelled lines after it), ending where the next
    turn starts, in one pass. Where every line is known to be single-spaced, a one-line turn's text is
    taken as it is."""
    segments: list[Segment] = []
    speaker: str | None = None
    start: float | None = None
    said: str | None = None  # the turn's first line; None before the first turn and its preamble
    more: list[str] = []  # the lines that continue it
    mark: float | None = None  # a bare clock line's time, for the turn after it
    for line, item in zip(lines, parsed, strict=True):
        if item is not None:
            next_start = item[1] if item[1] is not None else mark
            if said is not None:
                text = said if not more and (single_spaced_lines or single_spaced(said)) else _joined(said, more)
                if text:
                    end = next_start if start is not None and (next_start is None or next_start >= start) else None
                    segments.append(Segment(speaker, start, end, text))
            speaker, start, said, more, mark = item[0], next_start, item[2], [], None
        elif (clock := _clock_mark(line)) is not None:
            mark = _seconds(clock)
        elif said is None:
            said = line or None
        elif line:
            more.append(line)
    if said is not None and (text := _joined(said, more)):
        segments.append(Segment(speaker, start, None, text))
    return segments


def _joined(said: str, more: list[str]) -> str:
    """A turn's lines as one single-spaced text."""
    return " ".join(" ".join([said, *more]).split())


def _paragraph_segments(text: str) -> list[Segment]:
    paragraphs = re.split(r"\n\s*\n", text)
    return [Segment(None, None, None, " ".join(p.split())) for p in paragraphs if not p.isspace() and p]
