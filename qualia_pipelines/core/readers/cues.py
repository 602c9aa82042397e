"""Cue-based subtitle formats: Teams WebVTT and SRT.

Both are blocks separated by blank lines with a ``start --> end`` timing line.
A malformed timing line is an error naming the line: silently dropping a cue
would lose part of the meeting without anyone noticing.
"""

from __future__ import annotations

import html
import re

from qualia_pipelines.core.readers.errors import TranscriptError
from qualia_pipelines.core.readers.speakers import prefix_label, speaker_labels
from qualia_pipelines.core.transcript import Segment

# Liberal, as real exports are: old Teams writes "0:0:0.0", some tools "00:00:60.000" or no fraction at all.
_VTT_TIME = r"(?:(\d+):)?(\d{1,2}):(\d{1,2})(?:[.,](\d{1,3}))?"
_TIMING = re.compile(rf"^\s*{_VTT_TIME}\s*-->\s*{_VTT_TIME}(?:\s+.*)?$")
# Every pattern here runs in time linear in its input: a tag or voice span cannot contain "<", so a search
# from each "<" stops at the next one, and no repetition can split the same text two ways.
_VOICE = re.compile(r"<v(?:\.[^\s<>]*)?\s([^<>]*)>", re.IGNORECASE)
_TAG = re.compile(r"</?[a-zA-Z][^<>]*>|<\d[\d:.]*>")
_ASS_OVERRIDE = re.compile(r"\{\\[^{}]*\}")
_VTT_SKIPPED_BLOCKS = ("NOTE", "STYLE", "REGION")
# A line with text: blanks, then a non-blank, then the rest, possessively (one way to match, not one per "\S").
_TEXT_LINE = r"[^\S\n]*+\S[^\n]*+"
# How Teams writes a cue: an optional id line, "HH:MM:SS.mmm --> HH:MM:SS.mmm", one "<v Name>text</v>" line.
_TEAMS_CUE_PATTERN = (
    rf"(?:(?![^\n]*-->){_TEXT_LINE}\n)?"
    r"(\d+):([0-5]\d):([0-5]\d)\.(\d{3}) --> (\d+):([0-5]\d):([0-5]\d)\.(\d{3})\n"
    r"<v ([^\n<>&]*+)>([^\n<&]*+)</v>(?:\n\n++|\n?+\Z)"
)
_NOTE_BLOCK_PATTERN = rf"(?![^\n]*-->)NOTE(?: [^\n]*+)?+(?:\n(?![^\n]*-->){_TEXT_LINE})*+(?:\n\n++|\n?+\Z)"
_CAPTURING_GROUP = re.compile(r"(?<!\\)\((?!\?)")
_NOTE_BLOCK = _CAPTURING_GROUP.sub("(?:", _NOTE_BLOCK_PATTERN)
# Blocks one after another from the body's start: findall meets each at its first character, never mid-line.
_TEAMS_BLOCK = re.compile(rf"{_TEAMS_CUE_PATTERN}|{_NOTE_BLOCK}")
# A body of nothing but such cues and NOTE blocks, each block the first match at its place (atomic), as findall
# sees it; without capturing groups, which CPython 3.11's re mishandles inside a possessive repeat.
_TEAMS_BODY = re.compile(r"\n*+(?>%s|%s)*+" % (_CAPTURING_GROUP.sub("(?:", _TEAMS_CUE_PATTERN), _NOTE_BLOCK))  # noqa: UP031


def seconds_from_clock(hours: str | None, minutes: str, seconds: str, fraction: str | None = None) -> float:
    """Seconds from clock parts; the fraction is read as decimal digits (``5`` = 0.5 s)."""
    whole = int(hours or 0) * 3600 + int(minutes) * 60 + int(seconds)
    return whole + int(fraction) / 10 ** len(fraction) if fraction else float(whole)


def parse_vtt(text: str, source: str) -> list[Segment]:
    header, _, body = text.partition("\n")
    if not header.lstrip("\ufeff").startswith("WEBVTT"):
        raise TranscriptError(source, "not a WebVTT file: the first line must start with WEBVTT")
    segments = _teams_cues(body) or _parse_cue_blocks(body.split("\n"), source, first_line_number=2, voice_tags=True)
    if not segments:
        raise TranscriptError(source, "the WebVTT file has no cues with text")
    return segments


def _teams_cues(body: str) -> list[Segment] | None:
    """The segments of a WebVTT body written the way Teams writes it, read by two regex passes in C; else None.

    One pass checks that the body is nothing but Teams cues and NOTE blocks, the other picks out every
    block's fields, block after block. Both are linear: every repetition is possessive or has one way to
    match (a NOTE glued to a cue once tried every split of each NOTE line, 40x per extra line). Anything else (other
    layouts, STYLE blocks, entities, nested tags, a cue ending before it starts) returns None and goes to
    the general block reader, which reads Teams cues to the same segments (a property test keeps the two
    in step); on an hour-long meeting this path takes 1.8 ms, the general reader 2.5-3.6 ms.
    """
    if _TEAMS_BODY.fullmatch(body) is None:
        return None
    segments: list[Segment] = []
    for h1, m1, s1, f1, h2, m2, s2, f2, name, said in _TEAMS_BLOCK.findall(body):
        if not h1:  # a NOTE block
            continue
        # seconds_from_clock's arithmetic for a three-digit fraction, inline: half the time on 2 clocks a cue
        start = int(h1) * 3600 + int(m1) * 60 + int(s1) + int(f1) / 1000
        end = int(h2) * 3600 + int(m2) * 60 + int(s2) + int(f2) / 1000
        if end < start:
            return None
        text = said if single_spaced(said) else " ".join(said.split())
        if text:
            segments.append(Segment(name.strip() or None, start, end, text))
    return segments or None


def single_spaced(text: str) -> bool:
    """Whether ``" ".join(text.split())`` would give ``text`` back (checked in C, 3x quicker than doing it).

    Other than the ASCII space, every whitespace character is unprintable, so a printable text splits only
    at its spaces.
    """
    return text.isprintable() and "  " not in text and text[:1] != " " and text[-1:] != " "


def parse_srt(text: str, source: str) -> list[Segment]:
    segments = _parse_cue_blocks(text.split("\n"), source, first_line_number=1, voice_tags=False)
    if not segments:
        raise TranscriptError(source, "not an SRT file: no numbered cues with timings found")
    return segments


def looks_like_srt(text: str) -> bool:
    head = [line for line in text.split("\n")[:6] if line.strip()]
    return len(head) >= 2 and head[0].strip().isdigit() and "-->" in head[1]


_PREFIXED_SHARE = 0.5
_MIN_LABEL_CUES = 2
"""``Name:`` and ``[Name]`` labels are speakers where they begin at least _PREFIXED_SHARE of the cues (the file
labels its speakers, as Zoom does), else where they look like a name and begin _MIN_LABEL_CUES cues or more
(see speakers.speaker_labels)."""


def _parse_cue_blocks(lines: list[str], source: str, first_line_number: int, voice_tags: bool) -> list[Segment]:
    cues: list[tuple[float, float, str, list[str]]] = []  # start, end, raw text, text of continuation blocks
    for number, block in _blocks(lines, first_line_number, timing_starts_a_cue=voice_tags):
        timing_index = _timing_index(block)
        if timing_index is None:
            if block[0].partition(" ")[0] in _VTT_SKIPPED_BLOCKS:
                continue
            if cues:  # a blank line inside a cue's text: keep the text, do not lose it
                cues[-1][3].append(_plain(" ".join(block)))
            continue
        start, end = _timing(block[timing_index], source, number + timing_index)
        cues.append((start, end, "\n".join(block[timing_index + 1 :]), []))
    read = _speakers_and_texts([raw for _, _, raw, _ in cues], voice_tags)
    segments = []
    for (start, end, _, more), (speaker, body) in zip(cues, read, strict=True):
        # joined once per cue: appending to a cue's text for each continuation block made many of them quadratic
        text = " ".join(filter(None, [body, *more]))
        if text:
            segments.append(Segment(speaker, start, end, text))
    return segments


def _speakers_and_texts(raws: list[str], webvtt: bool) -> list[tuple[str | None, str]]:
    """Each cue's speaker and plain text: from voice tags where a WebVTT file has any, else from ``Name:`` and
    ``[Name]`` labels (see _PREFIXED_SHARE).

    In WebVTT a cue without a label continues the speaker of the last ``Name:`` label: podcasts and Zoom
    label a turn's first cue only. Subtitles label a line now and then (``[Name]``, an off-screen voice; SRT
    dialogue), so there an unlabelled cue has no speaker.
    """
    if webvtt and any("<v" in raw or "<V" in raw for raw in raws):
        return [_voice_and_text(raw) for raw in raws]
    texts = [_plain(raw) for raw in raws]
    labelled = [prefix_label(text) for text in texts]
    labels = speaker_labels([label for label, _ in labelled], _PREFIXED_SHARE, _MIN_LABEL_CUES)
    read: list[tuple[str | None, str]] = []
    current: str | None = None
    for (label, rest), text in zip(labelled, texts, strict=True):
        if label in labels:
            current = None if text.startswith(("[", "- [")) else label
            read.append((label, rest))
        else:
            read.append((current if webvtt else None, text))
    return read


def _timing_index(block: list[str]) -> int | None:
    """The index of the block's ``-->`` line: the first or second line in every well-formed cue."""
    for index, line in enumerate(block):
        if "-->" in line:
            return index
    return None


def _blocks(lines: list[str], first_line_number: int, timing_starts_a_cue: bool) -> list[tuple[int, list[str]]]:
    """Blocks of non-blank lines with their first line's number. With ``timing_starts_a_cue`` (WebVTT's
    parsing rule) a second timing line starts a new block even without a blank line before it, as
    youtube-dl writes cues; a "-->" that is not a timing stays text, where a strict parser would drop it."""
    blocks: list[tuple[int, list[str]]] = []
    current: list[str] = []
    timed = False
    start = first_line_number
    for offset, line in enumerate(lines):
        if not line.strip():
            if current:
                blocks.append((start, current))
                current, timed = [], False
            continue
        arrow = "-->" in line
        if arrow and timed and timing_starts_a_cue and _TIMING.match(line):
            blocks.append((start, current))
            current, timed = [], False
        if not current:
            start = first_line_number + offset
        current.append(line.rstrip())
        timed = timed or arrow
    if current:
        blocks.append((start, current))
    return blocks


def _timing(line: str, source: str, line_number: int) -> tuple[float, float]:
    match = _TIMING.match(line)
    if not match:
        raise TranscriptError(source, f"line {line_number}: malformed cue timing {line.strip()!r}")
    parts = match.groups()
    start = seconds_from_clock(*parts[:4])
    end = seconds_from_clock(*parts[4:])
    if end < start:
        raise TranscriptError(source, f"line {line_number}: cue ends before it starts {line.strip()!r}")
    return start, end


def _voice_and_text(raw: str) -> tuple[str | None, str]:
    """The cue's speaker (its first voice tag) and its text without tags or entities."""
    close = raw.find(">")
    one_span = raw.startswith("<v ") and raw.endswith("</v>") and raw.count("<") == 2 and "&" not in raw
    # how Teams writes every cue, one voice span: name and text are slices (a test keeps this in step); the
    # voice tag must close before "</v>" does ("<v </v>" has no voice tag of its own, as _VOICE reads it)
    if one_span and close < len(raw) - 4:
        return raw[3:close].strip() or None, " ".join(raw[close + 1 : -4].split())
    return _tagged_voice_and_text(raw)


def _tagged_voice_and_text(raw: str) -> tuple[str | None, str]:
    voice = _VOICE.search(raw)
    speaker = html.unescape(voice.group(1)).strip() if voice else None
    return speaker or None, _plain(raw)


def _plain(raw: str) -> str:
    """Text without tags, entities and ASS/SSA override codes, single-spaced; most cue text has none of them,
    and skips those passes."""
    if "<" in raw:
        raw = _TAG.sub("", raw)
    if "\\" in raw:  # {\an8}, {\i1}: subtitle renderers' overrides; \h, \N: hard space, line break
        raw = _ASS_OVERRIDE.sub("", raw).replace("\\h", " ").replace("\\N", " ").replace("\\n", " ")
    if "&" in raw:
        raw = html.unescape(raw)
    return " ".join(raw.split())
