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
from collections.abc import Callable
from functools import lru_cache
from itertools import compress, pairwise, repeat
from operator import add

from qualia_pipelines.core.readers.cues import seconds_from_clock, single_spaced
from qualia_pipelines.core.readers.docx import (
    BOILERPLATE_INITIALS,
    header_clock_seconds,
    header_format,
    header_line,
    header_name,
    is_boilerplate,
    parse_header_lines,
)
from qualia_pipelines.core.readers.speakers import clean_label, interview_label, looks_like_name, prefix_label
from qualia_pipelines.core.transcript import Segment, segments_of

_CLOCK = r"(?:(\d{1,2}):)?(\d{1,2}):(\d{2})(?:[.,](\d{1,3}))?"
_NAME = re.compile(r"[^\W\d_][\w.'’ -]{0,60}")
_BRACKETED_CLOCK = re.compile(rf"\[{_CLOCK}\]")
_CHAT_CLOCK = re.compile(rf"{_CLOCK}\t")  # Zoom's chat log: "01:27:42<TAB>Name:<TAB>text", tabs and all
_BARE_CLOCK = re.compile(_CLOCK)
_HEADER_LINE_SHARE = 0.25
"""Otter.ai text: a "Name  0:34" line, the speech, a blank line; headers are about half the lines with text."""
_NAME_COLON_LINE = re.compile(r"([^\W\d_][\w.'’ ]{0,60}+)\s*+:\s++(\S.*)")
"""``Name: text`` where no other shape can apply: a letter first (no clock), no "-" in the name (no interview
label), no "(" before the colon (no clock in parentheses). Possessive, so it never backtracks."""
_PARENTHESISED_CLOCK = re.compile(rf"\({_CLOCK}\)")
_SPEAKER_LINE_SHARE = 0.5
_CANDIDATE_LINE = re.compile(r"[\[\d]|[^:]*+:\s|[^(]*+\(\d|.{1,61}? - ")
"""What every line :func:`_speaker_line` can read starts with or holds: "[", a digit, a first ":" followed by a
blank, a first "(" followed by a digit, or " - " within its first 64 characters. Lines without any of them
(prose, Otter's ``Name  0:34`` headers) are not checked further; each alternative is bounded or possessive."""
_BRACKET_LINE_START = re.compile(r"^[^\S\n]*+\[", re.M)
_TURN_LINES = {
    "name": re.compile(r"^([^\W\d_][\w.'’ ]{0,60}+)[^\S\n]*+:[^\S\n]++(\S[^\n]*+)$", re.M),
    "bracket": re.compile(r"^\[([^\]\n]*+)\] [^\S\n]*+(\S[^\n]*+)$", re.M),
}
"""``Name: text`` and ``[Name] text`` lines (:func:`_speaker_line`'s last two cases) in a file's joined lines, so
that a file of one of these shapes is read by one pass in C."""
_HEADER_LINE = re.compile(
    r"^([^\W\d_][^,!?;:\s]{0,60}+(?: [^\W\d_][^,!?;:\s]*+)*+)[ \t]++((?:\d{1,2}:)?\d{1,2}:\d{2})$", re.M
)
"""Otter's ``Name  0:34`` header line with a single-spaced name (:func:`speaker_and_start` reads more shapes)."""
_SPEAKER_LINE_MARKS = re.compile(r"^[\[\d@]|:\s| - |\(\d", re.M)
"""What every line that :func:`_speaker_line` can read, or that is a Fathom header, holds somewhere."""


def parse_lines(text: str) -> tuple[list[Segment], str]:
    """Segments and the detected format name (``otter``, ``fathom``, ``bracketed``, ``interview`` or ``plain``).

    Two kinds of file skip the line-by-line reading, with the same result (tests/test_properties.py checks
    it): prose, which no line shape can match, and files of one speaker-line shape only, read in C. A file
    of one-word turns would otherwise spend microseconds of Python on each.
    """
    if _is_prose(text):
        return _paragraph_segments(text), "plain"
    lines = stripped_lines(text)
    joined = "\n".join(lines)
    return _uniform_turns(lines, joined) or _header_turns(lines, joined) or _line_segments(lines, text)


def stripped_lines(text: str) -> list[str]:
    """The text's lines without surrounding blanks, the tools' boilerplate lines left empty."""
    return [
        "" if line and line[0] in BOILERPLATE_INITIALS and is_boilerplate(line) else line
        for line in map(str.strip, text.split("\n"))
    ]


def _is_prose(text: str) -> bool:
    """Whether no line can be a speaker line, a header line or a clock mark: every such shape holds a ":" or
    " - ", or starts with "["."""
    return ":" not in text and " - " not in text and _BRACKET_LINE_START.search(text) is None


def _uniform_turns(lines: list[str], joined: str) -> tuple[list[Segment], str] | None:
    """The turns of a file of ``Name: text`` lines, or of ``[Name] text`` lines, each followed by lines that no
    shape can match, as :func:`_line_segments` reads them; None for any other file (a preamble, a clock, a
    second shape, too few speaker lines to be a speaker transcript)."""
    first = next(filter(None, lines), "")
    shape = "bracket" if first.startswith("[") else "name"
    namer = _speaker_name if shape == "name" else _bracket_label
    line = _TURN_LINES[shape].match(first)
    if not line or namer(line[1]) is None:
        return None
    parts = _TURN_LINES[shape].split(joined)  # text before the first turn, then (head, said, what follows) each
    heads, said, follows = parts[1::3], parts[2::3], parts[3::3]
    turns, text_lines = len(heads), len(lines) - lines.count("")
    if parts[0].strip() or not (turns >= max(2, text_lines / 2) or turns == text_lines == 1):
        return None
    if not _is_prose(continuation := "".join(follows)) or (names := _speakers_named(heads, namer)) is None:
        return None
    if continuation.isspace() and "  " not in joined and joined.replace("\n", "").isprintable():
        texts = said  # every turn one single-spaced line
    else:
        texts = list(map(" ".join, map(str.split, map(add, said, follows))))
    return segments_of(map(names.__getitem__, heads), repeat(None), repeat(None), texts), "bracketed"


def _header_turns(lines: list[str], joined: str) -> tuple[list[Segment], str] | None:
    """The turns of an Otter text file, as :func:`_line_segments` reads it, where every header line is
    ``Name  0:34`` with a single-spaced name and no other line can be a header or speaker line (none holds a
    ":"); None for any other file."""
    if _SPEAKER_LINE_MARKS.search(joined):
        return None
    parts = _HEADER_LINE.split(joined)  # text before the first header, then (name, clock, speech) each
    heads, clocks, follows = parts[1::3], parts[2::3], parts[3::3]
    text_lines = len(lines) - lines.count("")
    if len(heads) < max(2, _HEADER_LINE_SHARE * text_lines) or ":" in parts[0] or ":" in "".join(follows):
        return None
    names = _speakers_named(heads, header_name)
    if names is None:
        return None
    seconds = {clock: header_clock_seconds(clock) for clock in set(clocks)}
    starts = list(map(seconds.__getitem__, clocks))
    ends = [end if end >= start else None for start, end in pairwise(starts)] + [None]
    texts = list(map(" ".join, map(str.split, follows)))
    segments = segments_of(map(names.__getitem__, heads), starts, ends, texts)
    return list(compress(segments, texts)), "otter"


def _speakers_named(heads: list[str], namer: Callable[[str], str | None]) -> dict[str, str] | None:
    """The speaker each distinct head names, or None as soon as one names nobody."""
    names: dict[str, str] = {}
    for head in set(heads):
        name = namer(head)
        if name is None:
            return None
        names[head] = name
    return names


def _bracket_label(label: str) -> str | None:
    """The speaker a ``[label] text`` line names, as :func:`prefix_label` reads it."""
    return label.strip() if looks_like_name(label) else None


def _line_segments(lines: list[str], text: str) -> tuple[list[Segment], str]:
    """Segments and format of any line-based file, read line by line."""
    parsed = _parsed_lines(lines)
    content = [line for line in lines if line and not (line[0].isdigit() and _clock_mark(line))]
    recognised = len(parsed) - parsed.count(None)
    headers = _lead_header_lines(content, recognised)
    if headers is not None:
        segments, _ = parse_header_lines(content, headers)
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


def _lead_header_lines(content: list[str], recognised: int) -> list[tuple[str, float] | None] | None:
    """Each line's :func:`header_line` where the lines are mostly Otter/Fathom header lines, more than the
    ``recognised`` speaker lines; else None.

    Reading stops once headers can no longer outnumber them, so a file of speaker lines is not read a
    second time line by line.
    """
    headers: list[tuple[str, float] | None] = []
    found, unchecked = 0, len(content)
    for line in content:
        if found + unchecked <= recognised:
            return None
        unchecked -= 1
        header = header_line(line)
        headers.append(header)
        found += header is not None
    return headers if found >= 2 and found >= _HEADER_LINE_SHARE * len(content) and found > recognised else None


def _clock_mark(line: str) -> re.Match[str] | None:
    """The clock of a line that is only a clock (Google Meet's "00:05:00"): a time mark, not text."""
    return _BARE_CLOCK.fullmatch(line) if line[:1].isdigit() else None


def _parsed_lines(lines: list[str]) -> list[tuple[str | None, float | None, str, bool] | None]:
    """:func:`_speaker_line` of each line, the commonest shape (``Name: text``) matched in C first.

    A file of short turns spends its time in the per-line checks; the one pattern gives the same result
    for the lines it matches (tests/test_properties.py checks that) at a third of the cost. Lines that no
    shape can match (:data:`_CANDIDATE_LINE`) are not checked at all.
    """
    return [
        (name, None, match[2], False)
        if match and (name := _speaker_name(match[1]))
        else (_speaker_line(line) if candidate else None)
        for line, match, candidate in zip(
            lines, map(_NAME_COLON_LINE.fullmatch, lines), map(_CANDIDATE_LINE.match, lines), strict=True
        )
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
    """A speaker-less segment per paragraph with text, single-spaced (built in C: prose may be a paragraph
    per word)."""
    texts = filter(None, map(" ".join, map(str.split, re.split(r"\n\s*\n", text))))
    return segments_of(repeat(None), repeat(None), repeat(None), texts)
