"""Corpus assets across all transcripts, and the per-transcript HTML report."""

from collections.abc import Iterator
from typing import Any

import dagster as dg

from qualia_pipelines import __version__
from qualia_pipelines.orchestration.assets import INBOX_FILE_ASSET, check_outputs, inbox_file
from qualia_pipelines.orchestration.checks import (
    REPORT_CHECK,
    corpus_check_result,
    corpus_check_spec,
    report_check_evaluations,
)
from qualia_pipelines.orchestration.lineage import versioned_output
from qualia_pipelines.orchestration.partitions import TRANSCRIPTS

CORPUS_GROUP = "corpus"
CORPUS_ASSETS = ("corpus_vocabulary", "distinctive_words", "sentiment_over_time", "speaker_participation")
REPORT_ASSET = "report"


@dg.asset(
    group_name=CORPUS_GROUP,
    ins={"word_frequency": dg.AssetIn("word_frequency")},
    kinds={"pandas", "parquet"},
    code_version=__version__,
    description="Every word across all transcripts: total count and how many transcripts use it.",
    check_specs=[corpus_check_spec("corpus_vocabulary")],
)
def corpus_vocabulary(word_frequency: dict[str, Any]) -> Iterator[Any]:
    from qualia_pipelines.core.corpus import vocabulary

    table = vocabulary({key: record["values"]["word_frequencies"] for key, record in word_frequency.items()})
    yield dg.Output(
        table,
        metadata={
            "words": len(table),
            "transcripts": len(word_frequency),
            "top": dg.MetadataValue.md(table.head(15).to_markdown(index=False)),
        },
    )
    yield corpus_check_result("corpus_vocabulary", table, None)


@dg.asset(
    group_name=CORPUS_GROUP,
    ins={"word_frequency": dg.AssetIn("word_frequency")},
    kinds={"pandas", "parquet"},
    code_version=__version__,
    description="The words that set each transcript apart from the others (TF-IDF, top 10 per transcript).",
    check_specs=[corpus_check_spec("distinctive_words")],
)
def distinctive_words(word_frequency: dict[str, Any]) -> Iterator[Any]:
    from qualia_pipelines.core.corpus import distinctive_words as distinctive

    frequencies = {key: record["values"]["word_frequencies"] for key, record in word_frequency.items()}
    table = distinctive(frequencies)
    preview = table[table["rank"] <= 3][["transcript", "rank", "word", "tfidf"]]
    yield dg.Output(
        table, metadata={"rows": len(table), "top_3": dg.MetadataValue.md(preview.to_markdown(index=False))}
    )
    yield corpus_check_result("distinctive_words", table, {key for key, counts in frequencies.items() if counts})


@dg.asset(
    group_name=CORPUS_GROUP,
    ins={"sentiment_analyzer": dg.AssetIn("sentiment_analyzer"), "teams_cleaner": dg.AssetIn("teams_cleaner")},
    kinds={"pandas", "parquet"},
    code_version=__version__,
    description="Sentiment of each meeting in date order (meeting date from the document, else the file's date).",
    check_specs=[corpus_check_spec("sentiment_over_time")],
)
def sentiment_over_time(sentiment_analyzer: dict[str, Any], teams_cleaner: dict[str, Any]) -> Iterator[Any]:
    from qualia_pipelines.core.corpus import sentiment_over_time as over_time

    dates = {key: record["values"]["metadata"].get("date") for key, record in teams_cleaner.items()}
    moods = {key: record["values"]["sentiment"] for key, record in sentiment_analyzer.items()}
    table = over_time(moods, dates)
    yield dg.Output(
        table,
        metadata={
            "meetings": len(table),
            "mean_polarity": float(table["polarity"].mean() or 0),
            "table": dg.MetadataValue.md(table.to_markdown(index=False)),
        },
    )
    scored = {key for key, mood in moods.items() if mood["polarity"] is not None}  # other languages have no row
    yield corpus_check_result("sentiment_over_time", table, scored, nullable=("date",))


@dg.asset(
    group_name=CORPUS_GROUP,
    ins={"teams_cleaner": dg.AssetIn("teams_cleaner")},
    kinds={"pandas", "parquet"},
    code_version=__version__,
    description="Participation of each speaker across meetings: meetings, turns, words, talk time, share of words.",
    check_specs=[corpus_check_spec("speaker_participation")],
)
def speaker_participation(teams_cleaner: dict[str, Any]) -> Iterator[Any]:
    from qualia_pipelines.core.corpus import participation

    table = participation({key: record["values"]["speakers"] for key, record in teams_cleaner.items()})
    yield dg.Output(
        table, metadata={"speakers": len(table), "table": dg.MetadataValue.md(table.head(20).to_markdown(index=False))}
    )
    yield corpus_check_result("speaker_participation", table, None)


@dg.asset(
    partitions_def=TRANSCRIPTS,
    group_name="report",
    ins={name: dg.AssetIn(name) for name in ("teams_cleaner", "word_frequency", "sentiment_analyzer", "wordcloud_viz")},
    deps=[inbox_file],
    backfill_policy=dg.BackfillPolicy.single_run(),
    kinds={"html"},
    code_version=__version__,
    description="One offline HTML page per transcript (its charts load the plotly.min.js beside it): summary, "
    "speakers, top words, word cloud, charts, sentiment timeline and provenance.",
    check_specs=[REPORT_CHECK],
)
def report(
    context: dg.AssetExecutionContext,
    teams_cleaner: dict[str, Any],
    word_frequency: dict[str, Any],
    sentiment_analyzer: dict[str, Any],
    wordcloud_viz: dict[str, Any],
) -> Iterator[Any]:
    from qualia_pipelines.core.report import report_html

    pages = {}
    for key in context.partition_keys:
        missing = [name for name, loaded in (("teams_cleaner", teams_cleaner), ("word_frequency", word_frequency),
                   ("sentiment_analyzer", sentiment_analyzer)) if key not in loaded]  # fmt: skip
        if missing:
            raise dg.Failure(f"report on transcript {key!r}: no output of {', '.join(missing)} (did it fail?)")
        cloud = wordcloud_viz.get(key)  # none where there were no words to draw
        png = cloud.read_bytes() if cloud is not None and cloud.suffix == ".png" else None
        pages[key] = {
            "report": report_html(teams_cleaner[key], word_frequency[key], sentiment_analyzer[key], png, __version__)
        }
    sizes = {key: {"bytes": len(page["report"].content)} for key, page in pages.items()}
    yield from versioned_output(context, pages, sizes, observed=[INBOX_FILE_ASSET])
    shown = {key: shown_texts(teams_cleaner[key], sentiment_analyzer[key]) for key in pages}
    yield from report_check_evaluations({key: page["report"].content for key, page in pages.items()}, shown)
    yield from check_outputs(context)


def shown_texts(cleaner: dict[str, Any], sentiment: dict[str, Any]) -> list[str]:
    """Texts from the transcript that its report shows: speaker names and example utterances."""
    mood = sentiment["values"]["sentiment"]
    examples = [row["text"] for row in (*mood["most_positive"], *mood["most_negative"])]
    return [row["speaker"] for row in cleaner["values"]["speakers"]] + examples


def corpus_inputs() -> set[str]:
    """The per-transcript assets the corpus tables read, taken from their definitions."""
    tables = (corpus_vocabulary, distinctive_words, sentiment_over_time, speaker_participation)
    inputs = {key.to_user_string() for table in tables for key in table.dependency_keys}
    assert {table.key.to_user_string() for table in tables} == set(CORPUS_ASSETS)
    return inputs
