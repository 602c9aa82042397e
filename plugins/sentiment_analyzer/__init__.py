"""sentiment_analyzer: polarity per utterance, per speaker and for the meeting.

Units are utterances, scored whole: on labelled data (bench/sentiment.py) one score
per utterance beat averaging its sentences. One-word replies ("Ótimo!", "Yeah!")
count here even though the cleaner keeps them out of word statistics. A language
without an engine gets a record that says so (``available: false``), never an
English score.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping
from typing import Any

from qualia_plugins.sentiment_analyzer.engines import ENGINES, Scorer, scorer_for
from qualia_plugins.word_frequency import document_segments

from qualia_pipelines.core.contract import Parameter, Plugin
from qualia_pipelines.core.text import UNDETERMINED, detect_language, language_name

_EXAMPLES = 3
LABELS = ("positive", "neutral", "negative")


def run(inputs: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    document = inputs["cleaned_document"]
    segments = document_segments(document, "sentiment_analyzer")
    language = sentiment_language(params["language"], document, segments)
    threshold = params["polarity_threshold"]
    if language not in ENGINES:
        return {"sentiment": unavailable_sentiment(language, threshold)}
    engine = params[f"{language}_engine"]
    scorer = scorer_for(language, engine)
    utterances = in_meeting_order([*segments, *short_utterances(document)])
    scored = [scored_segment(segment, scorer, threshold) for segment in utterances if segment["text"].strip()]
    polarity = weighted_mean([(row["polarity"], row["words"]) for row in scored])
    subjectivities = [(row["subjectivity"], row["words"]) for row in scored if row["subjectivity"] is not None]
    positives = sorted((r for r in scored if r["label"] == "positive"), key=lambda r: -r["polarity"])
    negatives = sorted((r for r in scored if r["label"] == "negative"), key=lambda r: r["polarity"])
    include = params["include_examples"]
    return {
        "sentiment": {
            "available": True,
            "note": "",
            "polarity": round(polarity, 4),
            "subjectivity": round(weighted_mean(subjectivities), 4) if subjectivities else None,
            "sentiment_label": label_for(polarity, threshold),
            "engine": engine,
            "language": language,
            "threshold": threshold,
            "statistics": polarity_statistics(scored),
            "segment_sentiments": scored if params["analyze_segments"] else [],
            "by_speaker": speaker_sentiment(scored, threshold),
            "most_positive": positives[:_EXAMPLES] if include else [],
            "most_negative": negatives[:_EXAMPLES] if include else [],
        }
    }


def sentiment_language(requested: str, document: Mapping[str, Any], segments: list[Mapping[str, Any]]) -> str:
    """The language to score in: the one asked for, else the document's, else the one detected."""
    if requested != "auto":
        return requested
    language = document.get("language") or ""
    if not language or language == UNDETERMINED:
        language = detect_language(" ".join(segment["text"] for segment in segments[:400]))
    return language


def short_utterances(document: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The replies the cleaner kept out of word statistics ("Ótimo!"): they still say how people feel."""
    short = document.get("short_utterances") or []
    return [row for row in short if isinstance(row, Mapping) and isinstance(row.get("text"), str)]


def in_meeting_order(utterances: list[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """By start time where there is one (a stable sort keeps untimed ones in reading order)."""
    return sorted(utterances, key=lambda row: (row.get("start") is None, row.get("start") or 0.0))


def unavailable_sentiment(language: str, threshold: float) -> dict[str, Any]:
    """The record for a language no engine scores: the same fields, no figures, and a note saying why."""
    engines = " and ".join(language_name(code) for code in ENGINES)
    return {
        "available": False,
        "note": f"sentiment not available for {language_name(language)} ({language}): engines exist for {engines}",
        "polarity": None,
        "subjectivity": None,
        "sentiment_label": "not available",
        "engine": None,
        "language": language,
        "threshold": threshold,
        "statistics": polarity_statistics([]),
        "segment_sentiments": [],
        "by_speaker": [],
        "most_positive": [],
        "most_negative": [],
    }


def scored_segment(segment: Mapping[str, Any], scorer: Scorer, threshold: float) -> dict[str, Any]:
    score = scorer(segment["text"])
    return {
        "speaker": segment.get("speaker"),
        "start": segment.get("start"),
        "end": segment.get("end"),
        "text": segment["text"],
        "words": len(segment["text"].split()),
        "polarity": round(score.polarity, 4),
        "subjectivity": None if score.subjectivity is None else round(score.subjectivity, 4),
        "label": label_for(score.polarity, threshold),
    }


def weighted_mean(pairs: list[tuple[float, int]]) -> float:
    total = sum(weight for _, weight in pairs)
    return sum(value * weight for value, weight in pairs) / total if total else 0.0


def label_for(polarity: float, threshold: float) -> str:
    if polarity > threshold:
        return "positive"
    if polarity < -threshold:
        return "negative"
    return "neutral"


def polarity_statistics(scored: list[dict[str, Any]]) -> dict[str, Any]:
    values = [row["polarity"] for row in scored]
    count = len(values)
    return {
        "segments": count,
        "mean": round(statistics.fmean(values), 4) if values else 0.0,
        "std": round(statistics.pstdev(values), 4) if values else 0.0,
        "min": min(values, default=0.0),
        "max": max(values, default=0.0),
        **{
            f"share_{label}": round(sum(r["label"] == label for r in scored) / count, 4) if count else 0.0
            for label in LABELS
        },
    }


def speaker_sentiment(scored: list[dict[str, Any]], threshold: float) -> list[dict[str, Any]]:
    rows: dict[str, list[dict[str, Any]]] = {}
    for row in scored:
        rows.setdefault(row["speaker"] or "(no speaker)", []).append(row)
    table = []
    for speaker, own in rows.items():
        polarity = weighted_mean([(r["polarity"], r["words"]) for r in own])
        table.append(
            {
                "speaker": speaker,
                "segments": len(own),
                "polarity": round(polarity, 4),
                "label": label_for(polarity, threshold),
                **{label: sum(r["label"] == label for r in own) for label in LABELS},
            }
        )
    return sorted(table, key=lambda row: -row["segments"])


plugin = Plugin(
    id="sentiment_analyzer",
    kind="analyzer",
    version="2.0.0",
    description="Sentiment per utterance, speaker and meeting, by a lexicon engine per language (LeIA's lexicon "
    "for Portuguese, VADER's and TextBlob's for English) with negation, emoji and contrast rules; "
    "other languages get a clear 'not available'.",
    requires=("cleaned_document",),
    provides=("sentiment",),
    run=run,
    parameters=(
        Parameter(
            "language",
            "choice",
            "auto",
            "Language of the analyzer; auto uses the detected language.",
            choices=("auto", *ENGINES),
        ),
        *(
            Parameter(f"{language}_engine", "choice", engine.default, engine.description, choices=engine.choices)
            for language, engine in ENGINES.items()
        ),
        Parameter(
            "polarity_threshold",
            "float",
            0.1,
            "Polarity beyond ±threshold is positive/negative (bench/sentiment.py measures with VADER's 0.05).",
            minimum=0.0,
            maximum=1.0,
        ),
        Parameter("analyze_segments", "bool", True, "List the sentiment of every utterance."),
        Parameter("include_examples", "bool", True, "List the most positive and most negative utterances."),
    ),
)
