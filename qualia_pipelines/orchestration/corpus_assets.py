"""Corpus assets across all transcripts, and the per-transcript HTML report."""

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import dagster as dg

from qualia_pipelines import __version__
from qualia_pipelines.core.corpus_tables import TABLE_ASSETS
from qualia_pipelines.orchestration.assets import check_outputs, inbox_file
from qualia_pipelines.orchestration.checks import (
    REPORT_CHECK,
    corpus_check_result,
    corpus_check_spec,
    report_check_evaluations,
)
from qualia_pipelines.orchestration.lineage import versioned_output
from qualia_pipelines.orchestration.partitions import TRANSCRIPTS
from qualia_pipelines.orchestration.resources import QualiaResource, stored_output

CORPUS_GROUP = "corpus"
STORE_ASSET = "corpus_store"
SEARCH_ASSET = "search_index"
PAGE_ASSET = "corpus_page"
CORPUS_ASSETS = (STORE_ASSET, SEARCH_ASSET, *TABLE_ASSETS.values(), PAGE_ASSET)
REPORT_ASSET = "report"
EXPORT_GROUP = "exports"
"""Assets materialized on demand only (from the UI or a job of one's own): no sensor or schedule runs them."""
QDA_ASSET = "qda_project"
STORE_INPUTS = ("word_frequency", "sentiment_analyzer", "teams_cleaner")
_TABLE_KINDS = {"duckdb", "parquet"}


@dg.asset(
    name=STORE_ASSET,
    group_name=CORPUS_GROUP,
    deps=list(STORE_INPUTS),
    kinds=_TABLE_KINDS,
    code_version=__version__,
    description="The corpus store (outputs/corpus_store/, Parquet files DuckDB queries): each transcript's word "
    "counts, sentiment and speakers, and the corpus vocabulary. A refresh takes in only the transcripts "
    "materialized since the last one and drops removed ones, so it costs what the drop costs.",
)
def corpus_store(context: dg.AssetExecutionContext, qualia: QualiaResource) -> dg.MaterializeResult:
    from qualia_pipelines.core.corpus import CorpusStore

    store = CorpusStore(store_folder(qualia))
    since = None if store.outdated else store.state.cursor  # an older layout: every transcript taken in again
    changed, cursor = changed_since(context.instance, since, STORE_INPUTS)
    removed = store.keys() - set(context.instance.get_dynamic_partitions(TRANSCRIPTS.name))
    store.apply([transcript_facts(qualia, key) for key in sorted(changed - removed)], removed, cursor)
    return dg.MaterializeResult(
        metadata={
            "transcripts": len(store.keys()),
            "taken_in": len(changed - removed),
            "removed": len(removed),
            "store": dg.MetadataValue.path(str(store.root.resolve())),
        }
    )


def store_folder(qualia: QualiaResource) -> Path:
    return Path(qualia.outputs) / STORE_ASSET


def search_file(outputs: Path) -> Path:
    """The search index's SQLite file in an outputs folder (the API and `qualia search` read it)."""
    return outputs / SEARCH_ASSET / "search.sqlite"


@dg.asset(
    name=SEARCH_ASSET,
    group_name=CORPUS_GROUP,
    deps=["teams_cleaner"],
    kinds={"sqlite"},
    code_version=__version__,
    description="Full-text index of every cleaned utterance (SQLite FTS5, accent- and case-insensitive): what "
    "`qualia search` and `GET /search` answer from. A refresh replaces only the transcripts cleaned since the "
    "last one and drops removed ones.",
)
def search_index(context: dg.AssetExecutionContext, qualia: QualiaResource) -> dg.MaterializeResult:
    from qualia_pipelines.core.search import SearchIndex

    index = SearchIndex(search_file(Path(qualia.outputs)))
    if index.outdated:  # an older layout: built again from every transcript's record
        index.reset()
    changed, cursor = changed_since(context.instance, index.cursor, ("teams_cleaner",))
    removed = index.keys() - set(context.instance.get_dynamic_partitions(TRANSCRIPTS.name))
    meetings = [meeting for key in sorted(changed - removed) if (meeting := searchable_meeting(qualia, key))]
    index.apply(meetings, removed, cursor)
    return dg.MaterializeResult(
        metadata={
            "transcripts": len(index.keys()),
            "taken_in": len(meetings),
            "removed": len(removed),
            "index": dg.MetadataValue.path(str(index.path.resolve())),
        }
    )


def searchable_meeting(qualia: QualiaResource, key: str) -> Any:
    """A transcript's cleaned utterances as the index holds them, from its teams_cleaner record (None: no record)."""
    from qualia_pipelines.core.search import Meeting

    record = stored_record(qualia, "teams_cleaner", key)
    if record is None:
        return None
    values = record["values"]
    document = values["cleaned_document"]
    utterances = [(row["speaker"], row["start"], row["text"]) for row in document["segments"]]
    source = Path(record.get("source") or key).name
    return Meeting(key, source, values["metadata"].get("date"), document.get("language"), utterances)


def stored_record(qualia: QualiaResource, asset: str, key: str) -> dict[str, Any] | None:
    """One transcript's stored JSON record of ``asset``, found by name (None when there is none)."""
    path = stored_output(Path(qualia.outputs) / asset, key)
    if path is None or path.suffix != ".json":
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def changed_since(
    instance: dg.DagsterInstance, cursor: int | None, assets: tuple[str, ...]
) -> tuple[set[str], int | None]:
    """The transcripts with a result of ``assets`` recorded after ``cursor`` (an event-log storage id), and
    the newest such id: the drop since the last refresh, read a page at a time."""
    keys: set[str] = set()
    newest = cursor
    for asset in assets:
        page_cursor = None
        while True:
            page = instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), after_storage_id=cursor),
                limit=1000,
                cursor=page_cursor,
                ascending=True,
            )
            for record in page.records:
                keys.add(record.partition_key)
                newest = max(newest or 0, record.storage_id)
            if not page.has_more:
                break
            page_cursor = page.cursor
    return keys - {None}, newest


def transcript_facts(qualia: QualiaResource, key: str) -> Any:
    """What the corpus takes from one transcript: its stored records, read by name (absent ones are None)."""
    from qualia_pipelines.core.corpus import TranscriptFacts

    records = (stored_record(qualia, asset, key) for asset in STORE_INPUTS)
    words, mood, cleaned = (record["values"] if record else None for record in records)
    return TranscriptFacts(
        key,
        word_counts=words["word_frequencies"] if words else None,
        date=cleaned["metadata"].get("date") if cleaned else None,
        sentiment=mood["sentiment"] if mood else None,
        speakers=cleaned["speakers"] if cleaned else None,
    )


def corpus_table(description: str) -> Callable[[Callable[..., Any]], dg.AssetsDefinition]:
    """A corpus table's asset, named for its function: computed from the corpus store, with the check that every
    transcript it should cover is in it."""

    def table(compute: Callable[..., Any]) -> dg.AssetsDefinition:
        return dg.asset(
            group_name=CORPUS_GROUP,
            deps=[STORE_ASSET],
            kinds=_TABLE_KINDS,
            code_version=__version__,
            description=description,
            check_specs=[corpus_check_spec(compute.__name__)],
        )(compute)

    return table


def _store(qualia: QualiaResource) -> Any:
    from qualia_pipelines.core.corpus import CorpusStore

    return CorpusStore(store_folder(qualia))


@corpus_table("Every word across all transcripts: total count and how many transcripts use it.")
def corpus_vocabulary(qualia: QualiaResource) -> Iterator[Any]:
    store = _store(qualia)
    table = store.vocabulary()
    yield dg.Output(
        table,
        metadata={
            "words": len(table),
            "transcripts": len(store.keys()),
            "top": dg.MetadataValue.md(table.head(15).to_markdown(index=False)),
        },
    )
    yield corpus_check_result("corpus_vocabulary", table, None)


@corpus_table("The words that set each transcript apart from the others (TF-IDF, top 10 per transcript).")
def distinctive_words(qualia: QualiaResource) -> Iterator[Any]:
    store = _store(qualia)
    table = store.distinctive_words()
    preview = table[table["rank"] <= 3][["transcript", "rank", "word", "tfidf"]].head(60)
    yield dg.Output(
        table, metadata={"rows": len(table), "top_3": dg.MetadataValue.md(preview.to_markdown(index=False))}
    )
    yield corpus_check_result("distinctive_words", table, store.keys_with_words())


@corpus_table("Sentiment of each meeting in date order (meeting date from the document, else the file's date).")
def sentiment_over_time(qualia: QualiaResource) -> Iterator[Any]:
    store = _store(qualia)
    table = store.sentiment_over_time()
    yield dg.Output(
        table,
        metadata={
            "meetings": len(table),
            "mean_polarity": float(table["polarity"].mean() or 0),
            "table": dg.MetadataValue.md(table.head(50).to_markdown(index=False)),
        },
    )
    yield corpus_check_result("sentiment_over_time", table, store.keys_with_sentiment(), nullable=("date",))


@corpus_table("Participation of each speaker across meetings: meetings, turns, words, talk time, share of words.")
def speaker_participation(qualia: QualiaResource) -> Iterator[Any]:
    table = _store(qualia).participation()
    yield dg.Output(
        table, metadata={"speakers": len(table), "table": dg.MetadataValue.md(table.head(20).to_markdown(index=False))}
    )
    yield corpus_check_result("speaker_participation", table, None)


@corpus_table("Per speaker and dated meeting: week, share of words, turns, words, talk time and mean sentiment.")
def speaker_trends(qualia: QualiaResource) -> Iterator[Any]:
    table = _store(qualia).speaker_trends()
    yield dg.Output(
        table,
        metadata={"rows": len(table), "speakers": table["speaker"].nunique(), "weeks": table["week"].nunique()},
    )
    yield corpus_check_result("speaker_trends", table, None, nullable=("talk_time_s", "polarity"))


@corpus_table("Week by week, how often the corpus's 20 commonest words were said (count, meetings, per 1,000 words).")
def word_trends(qualia: QualiaResource) -> Iterator[Any]:
    table = _store(qualia).word_trends()
    yield dg.Output(table, metadata={"rows": len(table), "words": table["word"].nunique()})
    yield corpus_check_result("word_trends", table, None)


@dg.asset(
    name=PAGE_ASSET,
    group_name=CORPUS_GROUP,
    deps=["speaker_trends", "word_trends", "sentiment_over_time"],
    kinds={"html"},
    code_version=__version__,
    description="One offline HTML page of the corpus over time (outputs/corpus_page/index.html, charts on the "
    "plotly.min.js beside it): meetings and sentiment per week, each leading speaker's share of words, turns and "
    "mood, and the commonest words per 1,000 words.",
)
def corpus_page(qualia: QualiaResource) -> dg.MaterializeResult:
    import pandas as pd

    from qualia_pipelines.core.corpus_page import corpus_page_html
    from qualia_pipelines.core.storage import write_rendering

    outputs = Path(qualia.outputs)
    tables = (pd.read_parquet(outputs / name / "all.parquet") for name in deps_of(corpus_page))
    page = write_rendering(corpus_page_file(outputs), corpus_page_html(*tables, __version__))
    return dg.MaterializeResult(
        metadata={"bytes": page.stat().st_size, "page": dg.MetadataValue.path(str(page.resolve()))}
    )


def deps_of(asset: dg.AssetsDefinition) -> list[str]:
    """The names of the assets ``asset`` reads, in the order its definition gives them."""
    return [dep.asset_key.to_user_string() for spec in asset.specs for dep in spec.deps]


def corpus_page_file(outputs: Path) -> Path:
    return outputs / PAGE_ASSET / "index.html"


@dg.asset(
    name=QDA_ASSET,
    group_name=EXPORT_GROUP,
    deps=[STORE_ASSET, "distinctive_words"],
    kinds={"zip"},
    code_version=__version__,
    description="The whole corpus as a REFI-QDA project (outputs/qda_project/qualia.qdpx) for NVivo, ATLAS.ti, "
    "MAXQDA and QualCoder: a text source per transcript, speakers as cases, sentiment and distinctive words as "
    "coded selections, provenance notes. On demand: materialize it when you want a fresh project.",
)
def qda_project(qualia: QualiaResource) -> dg.MaterializeResult:
    from qualia_pipelines.core.qda import export_keys, export_transcripts, write_project

    outputs = Path(qualia.outputs)
    store = _store(qualia)
    keys = export_keys(store) if store.built else []
    summary = write_project(export_transcripts(outputs, keys), qda_file(outputs), "Qualia corpus", __version__)
    return dg.MaterializeResult(
        metadata={
            "sources": summary.sources,
            "selections": summary.selections,
            "codes": len(summary.codes),
            "bytes": summary.path.stat().st_size,
            "project": dg.MetadataValue.path(str(summary.path.resolve())),
        }
    )


def qda_file(outputs: Path) -> Path:
    return outputs / QDA_ASSET / "qualia.qdpx"


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
    yield from versioned_output(context, pages, sizes)
    shown = {key: shown_texts(teams_cleaner[key], sentiment_analyzer[key]) for key in pages}
    yield from report_check_evaluations({key: page["report"].content for key, page in pages.items()}, shown)
    yield from check_outputs(context)


def shown_texts(cleaner: dict[str, Any], sentiment: dict[str, Any]) -> list[str]:
    """Texts from the transcript that its report shows: speaker names and example utterances."""
    mood = sentiment["values"]["sentiment"]
    examples = [row["text"] for row in (*mood["most_positive"], *mood["most_negative"])]
    return [row["speaker"] for row in cleaner["values"]["speakers"]] + examples


def corpus_inputs() -> set[str]:
    """The per-transcript assets the corpus reads, taken from the store's definition."""
    return {key.to_user_string() for key in corpus_store.dependency_keys}
