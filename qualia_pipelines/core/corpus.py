"""Corpus results across transcripts: vocabulary, distinctive words (TF-IDF), sentiment over time, participation.

Inputs are the stored per-transcript records keyed by transcript; outputs are
pandas tables (stored as Parquet by the Dagster IO manager).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pandas as pd


def vocabulary(frequencies: Mapping[str, Mapping[str, int]]) -> pd.DataFrame:
    """Every word across the corpus: total count and how many transcripts use it."""
    rows = [(key, word, count) for key, counts in frequencies.items() for word, count in counts.items()]
    frame = pd.DataFrame(rows, columns=["transcript", "word", "count"])
    if frame.empty:
        return pd.DataFrame(columns=["word", "count", "transcripts"])
    table = frame.groupby("word").agg(count=("count", "sum"), transcripts=("transcript", "nunique")).reset_index()
    return table.sort_values(["count", "word"], ascending=[False, True], ignore_index=True)


def distinctive_words(frequencies: Mapping[str, Mapping[str, int]], top: int = 10) -> pd.DataFrame:
    """Per transcript, the words that set it apart: TF-IDF with smoothed IDF, ln((1+N)/(1+df)) + 1."""
    documents = len(frequencies)
    document_frequency: dict[str, int] = {}
    for counts in frequencies.values():
        for word in counts:
            document_frequency[word] = document_frequency.get(word, 0) + 1
    rows: list[dict[str, Any]] = []
    for key, counts in frequencies.items():
        total = sum(counts.values()) or 1
        scored = []
        for word, count in counts.items():
            idf = math.log((1 + documents) / (1 + document_frequency[word])) + 1
            scored.append((count / total * idf, word, count, idf))
        scored.sort(key=lambda item: (-item[0], item[1]))
        for rank, (tfidf, word, count, idf) in enumerate(scored[:top], start=1):
            rows.append(
                {
                    "transcript": key,
                    "rank": rank,
                    "word": word,
                    "count": count,
                    "tf": round(count / total, 6),
                    "idf": round(idf, 6),
                    "tfidf": round(tfidf, 6),
                }
            )
    return pd.DataFrame(rows, columns=["transcript", "rank", "word", "count", "tf", "idf", "tfidf"])


def sentiment_over_time(sentiments: Mapping[str, Mapping[str, Any]], dates: Mapping[str, str]) -> pd.DataFrame:
    """One row per meeting in date order: polarity, label and label shares (meetings in a language without a
    sentiment engine have none, and no row)."""
    rows = []
    for key, sentiment in sentiments.items():
        if sentiment["polarity"] is None:
            continue
        statistics = sentiment["statistics"]
        rows.append(
            {
                "transcript": key,
                "date": _utc(dates.get(key)),
                "polarity": sentiment["polarity"],
                "label": sentiment["sentiment_label"],
                "share_positive": statistics["share_positive"],
                "share_negative": statistics["share_negative"],
                "segments": statistics["segments"],
                "engine": sentiment["engine"],
                "language": sentiment["language"],
            }
        )
    frame = pd.DataFrame(
        rows,
        columns=[
            "transcript",
            "date",
            "polarity",
            "label",
            "share_positive",
            "share_negative",
            "segments",
            "engine",
            "language",
        ],
    )
    return frame.sort_values(["date", "transcript"], ignore_index=True)


def _utc(value: str | None) -> pd.Timestamp:
    """Dates as UTC; a date without a zone (as Teams DOCX writes them) is taken as UTC."""
    if not value:
        return pd.NaT
    stamp = pd.Timestamp(value)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def participation(speakers: Mapping[str, list[Mapping[str, Any]]]) -> pd.DataFrame:
    """Per speaker across meetings: meetings attended, turns, words, talk time, mean share of words."""
    rows = [{**row, "transcript": key} for key, table in speakers.items() for row in table]
    if not rows:
        return pd.DataFrame(
            columns=["speaker", "meetings", "utterances", "words", "talk_time_s", "mean_share_of_words"]
        )
    frame = pd.DataFrame(rows)
    table = (
        frame.groupby("speaker")
        .agg(
            meetings=("transcript", "nunique"),
            utterances=("utterances", "sum"),
            words=("words", "sum"),
            talk_time_s=("talk_time_s", lambda s: float(s.fillna(0).sum())),
            mean_share_of_words=("share_of_words", "mean"),
        )
        .reset_index()
    )
    table["mean_share_of_words"] = table["mean_share_of_words"].round(4)
    return table.sort_values(["words", "speaker"], ascending=[False, True], ignore_index=True)
