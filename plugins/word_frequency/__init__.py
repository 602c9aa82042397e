"""word_frequency: which words a meeting is about, overall and per speaker."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from operator import itemgetter
from typing import Any

from qualia_pipelines.core.contract import Parameter, Plugin, PluginInputError
from qualia_pipelines.core.text import (
    UNDETERMINED,
    detect_language,
    maintained_stop_words,
    normalise_quotes,
    stop_word_languages,
    stop_words,
    word_counts,
)


def run(inputs: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    document = inputs["cleaned_document"]
    segments = document_segments(document, "word_frequency")
    language = resolved_language(params["language"], document, segments)
    counts = counted_words(segment["text"] for segment in segments)
    total_tokens = sum(counts.values())
    kept, removed = kept_and_removed(counts, language, params)
    ordered = dict(ranked(kept))
    counted = sum(ordered.values())
    top = [
        {"word": word, "count": count, "share": round(count / counted, 6)}
        for word, count in list(ordered.items())[: params["max_words"]]
    ]
    by_speaker: dict[str, dict[str, int]] = {}
    if params["by_speaker"]:
        by_speaker = speaker_frequencies(segments, language, params)
    return {
        "word_frequencies": ordered,
        "top_words": top,
        "vocabulary_size": len(ordered),
        "total_tokens": total_tokens,
        "counted_tokens": counted,
        "hapax_legomena": sum(1 for count in ordered.values() if count == 1),
        "language": language,
        "speaker_frequencies": by_speaker,
        "removed_stop_words": [
            {"word": word, "count": count, "list": stop_word_list(word, language)}
            for word, count in ranked(removed)[: params["max_words"]]
        ],
        "removed_tokens": sum(removed.values()),
    }


def document_segments(document: Any, plugin_id: str) -> list[Mapping[str, Any]]:
    """The segments of a cleaned document, or a clear error about its shape."""
    if not isinstance(document, Mapping) or not isinstance(document.get("segments"), list):
        raise PluginInputError(f"{plugin_id} needs a cleaned document with a 'segments' list")
    for index, segment in enumerate(document["segments"]):
        if not isinstance(segment, Mapping) or not isinstance(segment.get("text"), str):
            raise PluginInputError(f"{plugin_id}: segment {index} of the cleaned document has no 'text'")
    return document["segments"]


def resolved_language(requested: str, document: Mapping[str, Any], segments: list[Mapping[str, Any]]) -> str:
    if requested != "auto":
        return requested
    language = document.get("language")
    if language and language != UNDETERMINED:
        return language
    return detect_language(" ".join(segment["text"] for segment in segments[:400]))


def counted_words(texts: Iterable[str]) -> Counter[str]:
    """Word counts over ``texts``, tokenised in one pass (no word spans the joining newline)."""
    return word_counts("\n".join(texts))


def kept_words(counts: Counter[str], language: str, params: Mapping[str, Any]) -> dict[str, int]:
    return kept_and_removed(counts, language, params)[0]


def kept_and_removed(
    counts: Counter[str], language: str, params: Mapping[str, Any]
) -> tuple[dict[str, int], dict[str, int]]:
    """Fold case and quotes, then drop short words and set stop words apart (on distinct words only): the
    counts kept, and how often each stop word was taken out (what the counts leave unsaid)."""
    stops = stop_words(language) if params["remove_stopwords"] and language != UNDETERMINED else frozenset()
    shortest, case_sensitive = params["min_word_length"], params["case_sensitive"]
    kept: dict[str, int] = {}
    removed: dict[str, int] = {}
    for word, count in counts.items():
        if len(word) < shortest:  # folding quotes keeps the length
            continue
        folded = normalise_quotes(word)
        lowered = folded.lower()
        if lowered in stops:
            removed[lowered] = removed.get(lowered, 0) + count
            continue
        key = folded if case_sensitive else lowered
        kept[key] = kept.get(key, 0) + count
    return kept, removed


def stop_word_list(word: str, language: str) -> str:
    """Which list removed ``word``: the maintained one or Qualia's conversational one."""
    return "stop-words" if word in maintained_stop_words(language) else "conversational"


def ranked(counts: Mapping[str, int]) -> list[tuple[str, int]]:
    """Most frequent first, ties alphabetically: two sorts on C keys (the second is stable)."""
    return sorted(sorted(counts.items()), key=itemgetter(1), reverse=True)


def speaker_frequencies(
    segments: list[Mapping[str, Any]], language: str, params: Mapping[str, Any]
) -> dict[str, dict[str, int]]:
    texts: dict[str, list[str]] = {}
    for segment in segments:
        texts.setdefault(segment.get("speaker") or "(no speaker)", []).append(segment["text"])
    result = {}
    for speaker, parts in texts.items():
        kept = kept_words(counted_words(parts), language, params)
        result[speaker] = dict(ranked(kept)[: params["max_words"]])
    return result


plugin = Plugin(
    id="word_frequency",
    kind="analyzer",
    version="1.2.0",
    description="Counts words (Unicode-aware, stop words removed for the language) overall and per speaker.",
    requires=("cleaned_document",),
    provides=(
        "word_frequencies",
        "top_words",
        "vocabulary_size",
        "total_tokens",
        "counted_tokens",
        "hapax_legomena",
        "language",
        "speaker_frequencies",
        "removed_stop_words",
        "removed_tokens",
    ),
    run=run,
    parameters=(
        Parameter("min_word_length", "int", 3, "Ignore words shorter than this many letters.", minimum=1, maximum=50),
        Parameter(
            "max_words", "int", 100, "How many words to list in top_words and per speaker.", minimum=1, maximum=100_000
        ),
        Parameter("case_sensitive", "bool", False, "Count 'Qualia' and 'qualia' apart."),
        Parameter("remove_stopwords", "bool", True, "Drop the language's stop words and conversational fillers."),
        Parameter(
            "language",
            "choice",
            "auto",
            "Language of the stop words; auto uses the detected language (a language without a list keeps every word).",
            choices=("auto", *stop_word_languages()),
        ),
        Parameter("by_speaker", "bool", False, "Also count words per speaker."),
    ),
)
