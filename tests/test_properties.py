"""Property-based checks: readers fail only with a clear TranscriptError, never crash."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st
from qualia_plugins.teams_cleaner.cleaning import SYSTEM_MESSAGE, SYSTEM_WORDS

from qualia_pipelines.core.naming import transcript_key
from qualia_pipelines.core.readers import TranscriptError, transcript_from_bytes
from qualia_pipelines.core.text import split_sentences, words


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=2000), extension=st.sampled_from([".vtt", ".txt", ".srt", ".docx"]))
def test_any_bytes_either_parse_or_raise_a_transcript_error(data: bytes, extension: str) -> None:
    try:
        transcript = transcript_from_bytes(data, f"fuzz{extension}")
    except TranscriptError as error:
        assert str(error).startswith(f"fuzz{extension}: ")
    else:
        assert transcript.segments and all(segment.text for segment in transcript.segments)


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=500))
def test_text_helpers_never_lose_words(text: str) -> None:
    assert sum(len(words(sentence)) for sentence in split_sentences(text)) == len(words(text))


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
