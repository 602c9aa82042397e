"""Property-based checks: readers fail only with a clear TranscriptError, never crash."""

from __future__ import annotations

import itertools
import re
from collections import Counter

from hypothesis import example, given, settings
from hypothesis import strategies as st
from qualia_plugins.teams_cleaner.cleaning import SYSTEM_MESSAGE, SYSTEM_WORDS, merged_consecutive

from qualia_pipelines.core.naming import transcript_key
from qualia_pipelines.core.readers import TranscriptError, transcript_from_bytes
from qualia_pipelines.core.readers.cues import _parse_cue_blocks, _tagged_voice_and_text, _teams_cues, _voice_and_text
from qualia_pipelines.core.readers.plaintext import (
    _line_segments,
    _parsed_lines,
    _speaker_line,
    parse_lines,
    stripped_lines,
)
from qualia_pipelines.core.readers.speakers import looks_like_name, prefix_label, speaker_labels, without_annotations
from qualia_pipelines.core.text import _WORD_EDGES, WORD_PATTERN, word_counts
from qualia_pipelines.core.transcript import Segment
from tests.conftest import FIXTURES


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=2000), extension=st.sampled_from([".vtt", ".txt", ".srt", ".docx"]))
def test_any_bytes_either_parse_or_raise_a_transcript_error(data: bytes, extension: str) -> None:
    try:
        transcript = transcript_from_bytes(data, f"fuzz{extension}")
    except TranscriptError as error:
        assert str(error).startswith(f"fuzz{extension}: ")
    else:
        assert transcript.segments and all(segment.text for segment in transcript.segments)


_TOKEN_PIECES = st.sampled_from(
    [*_WORD_EDGES, "a", "Ç", "ñ", "ß", "ǅ", "ª", "½", "²", "7", "٣", "_", "'", "’", "-", " ", "\n", "\t", "\u00a0"]
)


@settings(max_examples=500, deadline=None)
@given(text=st.one_of(st.text(max_size=300), st.lists(_TOKEN_PIECES, max_size=60).map("".join)))
def test_word_counts_are_those_of_the_word_patterns_matches(text: str) -> None:
    """``word_counts`` skips the regex for letters wrapped in punctuation; it must count what the regex finds."""
    assert word_counts(text) == Counter(WORD_PATTERN.findall(text))


_CUE_PIECES = st.sampled_from(
    ["<v ", "</v>", "<", ">", "<i>", "<00:01.000>", "&amp;", "&", " ", "\n", "\t", "Ana", "é"]
)
_CUE_PART = st.lists(_CUE_PIECES, max_size=6).map("".join)


@settings(max_examples=500, deadline=None)
@given(raw=st.one_of(_CUE_PART, st.tuples(_CUE_PART, _CUE_PART).map(lambda parts: "<v {}>{}</v>".format(*parts))))
@example(raw="<v </v>")  # no voice tag of its own: the first ">" is the closing tag's
def test_one_voice_span_cues_read_as_the_tagged_reader_reads_them(raw: str) -> None:
    """Teams cues (one ``<v Name>text</v>`` span) are sliced, not parsed: same speaker and text either way."""
    assert _voice_and_text(raw) == _tagged_voice_and_text(raw)


_CUE_IDS = st.sampled_from(["", "1\n", "4f1c-88/12-0\n", "  7\n", "NOTE\n", "x --> y\n", "a\nb\n"])
_TIMINGS = st.sampled_from(
    [
        "00:00:01.000 --> 00:00:02.500",
        "01:59:59.999 --> 02:00:00.000",
        "00:00:03.000 --> 00:00:02.000",
        "00:01.000 --> 00:02.000",
        " 00:00:01.000 --> 00:00:02.000",
        "00:00:01.000 --> 00:00:02.000 align:start",
        "00:00:01,000 --> 00:00:02,000",
        "00:00:01.000 -> 00:00:02.000",
        "00:00:01.000 --> 00:00:02.000  ",
    ]
)
_VOICES = st.sampled_from(["<v Ana Souza>", "<v  Bea >", "<v >", "<v \t>", "<v.loud Ana>", "<v Ana &amp; Bia>", ""])
_SAID = st.lists(st.sampled_from(["olá", " ", "ok.", ">", "\t", "-->", "&amp;", "<i>x</i>", "\r"]), max_size=5)
_ANY_CUE = st.builds(
    lambda cue_id, timing, voice, said, close, extra: f"{cue_id}{timing}\n{voice}{''.join(said)}{close}{extra}",
    _CUE_IDS,
    _TIMINGS,
    _VOICES,
    _SAID,
    st.sampled_from(["</v>", "", "</v> "]),
    st.sampled_from(["", "", "\nmore"]),
)
_MILLIS = st.integers(min_value=0, max_value=3 * 3600 * 1000 + 999)


def _clock(millis: int) -> str:
    return f"{millis // 3_600_000:02d}:{millis // 60_000 % 60:02d}:{millis // 1000 % 60:02d}.{millis % 1000:03d}"


_TEAMS_CUE = st.builds(  # the layout Teams writes, with the odd spacing and empty names and texts it can have
    lambda cue_id, timing, voice, said: f"{cue_id}{timing}\n{voice}{''.join(said)}</v>",
    _CUE_IDS.filter(lambda cue_id: "\nb" not in cue_id),
    st.one_of(  # the last one ends before it starts: the general reader refuses it, the fast path steps aside
        st.builds(lambda start, length: f"{_clock(start)} --> {_clock(start + length)}", _MILLIS, _MILLIS),
        st.builds(lambda start, early: f"{_clock(start + early + 1)} --> {_clock(start)}", _MILLIS, _MILLIS),
    ),
    _VOICES.filter(lambda voice: voice.startswith("<v ") and "&" not in voice),
    st.lists(st.sampled_from(["olá", "sim", " ", "ok.", ">", "\t", "-->"]), min_size=1, max_size=5),
)
_OTHER_BLOCK = st.sampled_from(
    [
        "NOTE",
        "NOTE request 7",
        "NOTE\nwith a second line",
        "NOTE x --> y",
        "NOTEs",
        "NOTE\tx",
        "STYLE\n::cue {}",
        "just text",
        "NOTE\n00:00:01.000 --> 00:00:02.000\n<v A>hi</v>",
    ]
)
_SEPARATORS = st.sampled_from([*["\n\n"] * 8, "\n\n\n", "\n \n", "\n"])
_BLOCKS = st.one_of(*[_TEAMS_CUE] * 10, _ANY_CUE, _OTHER_BLOCK)  # mostly Teams layout, so both paths run


@settings(max_examples=600, deadline=None)
@given(
    blocks=st.lists(_BLOCKS, max_size=6),
    separators=st.lists(_SEPARATORS, min_size=7, max_size=7),
    lead=st.sampled_from(["", "\n", "\n\n"]),
    tail=st.sampled_from(["", "\n", "\n\n", " "]),
)
@example(  # no blank line between two cues: the fast path steps aside, a timing line starts a cue (WebVTT)
    blocks=["1\n00:00:01.000 --> 00:00:02.500\n<v Ana>olá</v>", "00:00:03.000 --> 00:00:04.500\n<v Bia>sim</v>"],
    separators=["\n"] * 7,
    lead="",
    tail="",
)
@example(  # a cue that ends before it starts is an error to the general reader
    blocks=["00:00:04.000 --> 00:00:03.000\n<v Ana>olá</v>"], separators=["\n\n"] * 7, lead="", tail=""
)
@example(  # a NOTE line with an arrow is a malformed timing to the general reader
    blocks=["00:00:01.000 --> 00:00:02.500\n<v Ana>olá</v>", "NOTE x --> y"], separators=["\n\n"] * 7, lead="", tail=""
)
def test_teams_cues_read_as_the_general_block_reader_reads_them(
    blocks: list[str], separators: list[str], lead: str, tail: str
) -> None:
    """The one-regex-per-cue path for Teams files gives the general reader's segments, or steps aside."""
    body = lead + "".join(block + separator for block, separator in zip(blocks, separators, strict=False)).rstrip("\n ")
    body += tail
    fast = _teams_cues(body)
    try:
        general = _parse_cue_blocks(body.split("\n"), "s.vtt", first_line_number=2, voice_tags=True)
    except TranscriptError:
        assert fast is None
    else:
        assert fast is None or fast == general


@given(first=st.text(min_size=1, max_size=30), second=st.text(min_size=1, max_size=30))
def test_distinct_file_names_get_distinct_keys(first: str, second: str) -> None:
    if first != second:
        assert transcript_key(first) != transcript_key(second)
    assert transcript_key(first) == transcript_key(first)


def test_keys_that_slugify_alike_stay_distinct() -> None:
    names = ["a.b", "a-b", "Reunião 1.vtt", "reuniao 1.vtt", "reuniao-1.vtt", "REUNIAO 1.VTT"]
    assert len({transcript_key(name) for name in names}) == len(names)
    assert transcript_key("weekly_sync_pt.vtt") == "weekly_sync_pt.vtt"
    assert transcript_key("Reunião 1.vtt").startswith("reuniao-1-vtt-")


@settings(max_examples=300, deadline=None)
@given(message=st.from_regex(re.compile(SYSTEM_MESSAGE.pattern), fullmatch=True))
def test_every_system_message_contains_a_word_of_the_quick_check(message: str) -> None:
    """teams_cleaner skips the full match for text without any of SYSTEM_WORDS: no system message may lack one."""
    for spelling in (message, message.upper(), message.title()):
        assert SYSTEM_MESSAGE.fullmatch(spelling) is None or any(word in spelling.lower() for word in SYSTEM_WORDS)


def test_teams_exports_take_the_one_regex_per_cue_path() -> None:
    """Both Teams samples are read cue by cue with one match each (and the reader tests check what they hold)."""
    for name in ("weekly_sync_pt.vtt", "customer_interview_en.vtt"):
        body = (FIXTURES / name).read_text(encoding="utf-8").partition("\n")[2]
        cues = _teams_cues(body)
        assert cues is not None and cues == _parse_cue_blocks(body.split("\n"), name, 2, voice_tags=True)


_WORDS = st.sampled_from(
    ["Ana", "Souza", "da", "reunião", "ok", "Règle", "numéro", "un", "J'ai", "dit", "A", "B2", "é"]
)
_LABEL_TEXT = st.builds(
    lambda opener, words, colon, rest: opener + " ".join(words) + colon + rest,
    st.sampled_from(["", "- ", "["]),
    st.lists(_WORDS, min_size=1, max_size=7),
    st.sampled_from([": ", ":", "] ", "]", " "]),
    st.text(st.sampled_from("ab :[]()"), max_size=12),
)


@settings(max_examples=400, deadline=None)
@given(text=_LABEL_TEXT)
def test_a_label_is_a_bounded_name_at_the_start_and_the_rest_is_what_follows_it(text: str) -> None:
    label, rest = prefix_label(text)
    if label is None:
        assert rest == text
        return
    assert 1 <= len(label.split()) <= 6 and len(label) <= 60 and ":" not in label
    body = text.removeprefix("- ")
    bracketed = body.startswith("[") and body[1:].partition("]")[0].strip() == label  # "[Ana ] text" is Ana
    assert bracketed or body.startswith(label)
    assert body.rstrip().endswith(rest) and rest == rest.strip()
    if body.startswith("["):
        assert looks_like_name(label)  # "[risas] ..." is a note, never a speaker


@settings(max_examples=300, deadline=None)
@given(labels=st.lists(st.one_of(st.none(), st.sampled_from(["Ana", "Bia Souza", "Règle numéro un", "J'ai dit", "B"]))))
def test_speaker_labels_need_the_file_labelled_or_a_recurring_name(labels: list[str | None]) -> None:
    speakers = speaker_labels(labels, 0.5, 2)
    counts = Counter(label for label in labels if label)
    assert speakers <= set(counts)
    if sum(counts.values()) < 0.5 * len(labels):  # labels here and there: only recurring names
        assert all(counts[label] >= 2 and looks_like_name(label) for label in speakers)
        assert "Règle numéro un" not in speakers and "J'ai dit" not in speakers
    else:
        assert speakers == set(counts)


_NOTE_TEXT = st.lists(
    st.sampled_from(["Sim", "claro", "[risos]", "(risas)", "(en la oficina)", "[Ana ri]", "[", ")", "(", "ok."]),
    max_size=8,
).map(" ".join)


@settings(max_examples=400, deadline=None)
@given(text=_NOTE_TEXT)
def test_annotations_go_and_speech_stays(text: str) -> None:
    cleaned, removed = without_annotations(text)
    assert without_annotations(cleaned) == (cleaned, 0)  # one pass takes every note
    notes = text.count("[risos]") + text.count("(risas)") + text.count("[Ana ri]")
    assert removed == notes
    for word in ("Sim", "claro", "ok.", "(en la oficina)"):
        assert cleaned.count(word) == text.count(word)  # speech, and speech in parentheses, is kept


_NAME_PIECES = st.sampled_from(
    ["Ana", "A", "E1", "é", "Ana-Maria", "Souza", "_", "7", "’", ".", "http://x", "[Ana]", "@0:03"]
)
_SEPARATORS = st.sampled_from(
    [": ", ":", " - ", " ", "  ", "\t", "(", "(00:01)", "(1", ":\t", "[00:00:05] ", "01:27:42\t", "[A] ", "  0:01", "@"]
)
_NAME_COLON_SHAPES = st.lists(st.one_of(_NAME_PIECES, _SEPARATORS), max_size=8).map(lambda parts: "".join(parts))


@settings(max_examples=1500, deadline=None)
@given(lines=st.lists(_NAME_COLON_SHAPES, max_size=4))
def test_the_name_colon_pattern_reads_lines_as_the_general_line_reader_does(lines: list[str]) -> None:
    assert _parsed_lines(lines) == [_speaker_line(line) for line in lines]


_FILE_LINES = st.sampled_from(
    [
        "Ana: oi", "Ana Souza: tudo bem,  e você?", "Bia:\tsim", "[Ana] oi", "[Ana  Souza]  ok", "[risos] ok",
        "[00:01] x", "A  0:01", "Ana Souza  1:02:03", "Ana 0:34", "Ana  9:99:99", "Speaker 1  0:34", "Ana\t0:34",
        "Ana  0:3", "Dr. Ana  0:05", "b", "c d", "é ok", "", "  ", "Transcribed by otter.ai", "10:30", "Ana: ",
        "Ana:b", "x (00:01)", "A - b", "@0:03 - Ana", "Ana (00:01): oi", "Um Dois Três Quatro Cinco Seis Sete: x",
        "http://x: y", "a\u00a0b", "\x1c", "Ana  0:01 b", "Reunião: pauta",
    ]
)  # fmt: skip


@settings(max_examples=2000, deadline=None)
@given(lines=st.lists(_FILE_LINES, max_size=10))
def test_files_read_in_one_pass_in_c_give_what_the_line_reader_gives(lines: list[str]) -> None:
    text = "\n".join(lines)
    if not text.strip():
        return
    general = _line_segments(stripped_lines(text), text)
    assert parse_lines(text) == general


@settings(max_examples=300, deadline=None)
@given(turns=st.lists(st.tuples(st.sampled_from(["Ana", "Bia", None, ""]), st.sampled_from(["oi", "tudo bem"]))))
def test_merging_keeps_every_word_and_leaves_no_two_neighbours_of_one_speaker(turns: list[tuple]) -> None:
    segments = [Segment(speaker, float(index), None, said) for index, (speaker, said) in enumerate(turns)]
    merged = merged_consecutive(segments)
    assert " ".join(segment.text for segment in merged) == " ".join(said for _, said in turns)
    assert all(not a.speaker or a.speaker != b.speaker for a, b in itertools.pairwise(merged))
    assert [segment.start for segment in merged] == sorted({segment.start for segment in merged})
