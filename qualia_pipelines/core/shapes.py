"""Checks that visualizers run on their inputs, so wrong data fails with a clear message."""

from __future__ import annotations

from collections.abc import Mapping
from numbers import Real
from typing import Any

from qualia_pipelines.core.contract import PluginInputError


def word_counts(value: Any, plugin_id: str) -> dict[str, float]:
    """``word_frequencies`` as a word -> non-negative number mapping, or PluginInputError."""
    if not isinstance(value, Mapping):
        raise PluginInputError(
            f"{plugin_id} needs word_frequencies as a mapping of word to count, got {type(value).__name__}"
        )
    counts: dict[str, float] = {}
    for word, count in value.items():
        if not isinstance(word, str) or isinstance(count, bool) or not isinstance(count, Real) or count < 0:
            raise PluginInputError(
                f"{plugin_id}: word_frequencies entry {word!r}: {count!r} is not a word with a non-negative count"
            )
        counts[word] = float(count)
    return counts


def sentiment_headline(record: Mapping[str, Any]) -> str:
    """``positive (+0.23)``, or ``not available (fr)`` for a language no engine scores: one line for tables."""
    if record.get("polarity") is None:
        return f"{record.get('sentiment_label', 'not available')} ({record.get('language', '?')})"
    return f"{record['sentiment_label']} ({record['polarity']:+.2f})"


def sentiment_record(value: Any, plugin_id: str) -> Mapping[str, Any]:
    """The sentiment_analyzer record, checked for the fields a chart reads."""
    needed = ("polarity", "sentiment_label", "segment_sentiments", "by_speaker", "statistics")
    if not isinstance(value, Mapping) or any(key not in value for key in needed):
        raise PluginInputError(f"{plugin_id} needs the sentiment record of sentiment_analyzer ({', '.join(needed)})")
    if not isinstance(value["segment_sentiments"], list) or not isinstance(value["by_speaker"], list):
        raise PluginInputError(f"{plugin_id}: segment_sentiments and by_speaker must be lists")
    return value
