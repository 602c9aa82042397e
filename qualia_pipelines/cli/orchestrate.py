"""`qualia run`: process the inbox through Dagster now, on the configured instance, and summarise.

The same definitions, jobs and range runs as the inbox sensor and processing
schedule, executed in this process, so the runs and materializations appear in
the Dagster UI afterwards.
"""

from __future__ import annotations

import os
import re
from datetime import datetime
from pathlib import Path

import typer
from rich.table import Table
from rich.text import Text

from qualia_pipelines.cli.common import (
    SettingsOption,
    console,
    corpus_store,
    fail,
    print_json,
    reports_errors,
    settings,
    stdout,
)
from qualia_pipelines.cli.display import print_table, records_table
from qualia_pipelines.core.corpus_tables import SearchOrder, StoreTable
from qualia_pipelines.core.statuses import TranscriptStatus

SUMMARY_ROWS = 50
"""`qualia run` shows at most this many processed transcripts; `qualia transcripts` pages through all."""


@reports_errors
def run(
    process_all: bool = typer.Option(False, "--all", help="Reprocess every transcript, not only new or changed ones."),
    retry_failed: bool = typer.Option(
        False, "--retry-failed", help="Also try again transcripts that failed and have not changed since."
    ),
    settings_file: Path | None = SettingsOption,
) -> None:
    """Materialize every new or changed transcript in the inbox and the corpus tables through Dagster."""
    current = settings(settings_file)
    if settings_file:
        os.environ["QUALIA_CONFIG"] = str(settings_file.resolve())
    home = current.instance_dir.resolve()
    from qualia_pipelines.definitions import definitions_for
    from qualia_pipelines.orchestration.partitions import inbox_files
    from qualia_pipelines.orchestration.resources import resources_for
    from qualia_pipelines.orchestration.runs import execute_planned, open_instance, planned_runs, refresh_corpus_now
    from qualia_pipelines.orchestration.sensors import corpus_out_of_date

    qualia = resources_for(current)["qualia"]
    files = inbox_files(qualia.inbox_dir)
    if not files:
        fail(f"no transcripts in the inbox {qualia.inbox_dir} (supported: .vtt .docx .txt .srt)")
    defs = definitions_for(current)
    with open_instance(home) as instance:
        planned = planned_runs(instance, qualia, files, process_all, "cli", retry_failed)
        wanted = sum(len(run.keys) for run in planned)
        with console.status(f"processing {wanted} transcript(s) in {len(planned)} run(s)"):
            failures = [message for run in planned if (message := execute_planned(instance, defs, run))]
            stale = corpus_out_of_date(instance, current.outputs_dir)
            corpus_failure = refresh_corpus_now(instance, defs, "cli") if stale else None
        if not planned:
            console.print("nothing new or changed in the inbox (failed transcripts: `qualia run --retry-failed`)")
    processed = sorted({key for run in planned for key in run.keys})
    if processed:
        console.print(summary_table(current.outputs_dir, processed[:SUMMARY_ROWS]))
    if len(processed) > SUMMARY_ROWS:
        console.print(f"… and {len(processed) - SUMMARY_ROWS} more: `qualia transcripts` lists them all, page by page")
    console.print(f"reports: [bold]{current.outputs_dir / 'report'}[/]   all outputs: {current.outputs_dir}")
    console.print(f"Dagster instance: {home} (see it with `make ui`)")
    if failures or corpus_failure:
        fail("; ".join([*failures, *([corpus_failure] if corpus_failure else [])]))


@reports_errors
def transcripts(
    status: TranscriptStatus | None = typer.Option(None, "--status", help="Only transcripts with this status."),
    limit: int = typer.Option(50, "--limit", min=1, max=1000, help="Transcripts per page."),
    cursor: str | None = typer.Option(None, "--cursor", help="Where the previous page said the next one starts."),
    as_json: bool = typer.Option(False, "--json", help="Print the page as JSON (items and next_cursor)."),
    settings_file: Path | None = SettingsOption,
) -> None:
    """List the transcripts the pipeline knows and their status, a page at a time."""
    from qualia_pipelines.orchestration.resources import resources_for
    from qualia_pipelines.orchestration.runs import open_instance
    from qualia_pipelines.orchestration.status import RegisteredKeys, transcript_page

    current = settings(settings_file)
    qualia = resources_for(current)["qualia"]
    with open_instance(current.instance_dir.resolve()) as instance:
        items, next_cursor = transcript_page(instance, qualia, RegisteredKeys(), limit, cursor, status)
    if as_json:
        print_json({"items": items, "next_cursor": next_cursor})
        return
    table = Table(title=f"Qualia: transcripts{f' ({status})' if status else ''}")
    for column in ("transcript", "status", "file"):
        table.add_column(column, overflow="fold")
    for item in items:
        table.add_row(item["key"], item["status"], item["file"] or "")
    print_table(table)
    if next_cursor:
        stdout.print(
            f"next page: qualia transcripts --cursor {next_cursor}{f' --status {status}' if status else ''}",
            soft_wrap=True,
        )


def summary_table(outputs: Path, keys: list[str]) -> Table:
    from qualia_pipelines.orchestration.status import transcript_summary

    table = Table(title="Qualia: processed transcripts")
    for column in ("transcript", "lang", "speakers", "quality", "sentiment", "top words", "report"):
        table.add_column(column, overflow="fold")
    for key in keys:
        summary = transcript_summary(outputs, key)
        if not summary:
            table.add_row(key, "", "", "", "[red]not processed[/]", "", "")
            continue
        mood = summary["sentiment"]
        table.add_row(
            key,
            summary["language"],
            str(summary["participants"]),
            str(summary["quality_score"]),
            mood["headline"] if mood else "",
            ", ".join(row["word"] for row in summary["top_words"][:3]),
            Path(summary["outputs"]["report"]).name if "report" in summary["outputs"] else "",
        )
    return table


@reports_errors
def corpus(
    table: StoreTable = typer.Argument("vocabulary", help="The table to show."),
    transcript: str | None = typer.Option(None, "--transcript", help="Only this transcript's rows (by key)."),
    limit: int = typer.Option(20, "--limit", min=1, help="Rows to show."),
    offset: int = typer.Option(0, "--offset", min=0, help="Rows to skip first (the next page: --offset LIMIT)."),
    sql: str | None = typer.Option(
        None,
        "--sql",
        help="A SQL query over the store's views (transcripts, speakers, vocabulary, word_counts, coded_segments, "
        "code_counts).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the rows as JSON."),
    settings_file: Path | None = SettingsOption,
) -> None:
    """Show a corpus table, or answer a SQL query, from the corpus store the pipeline keeps."""
    _, store = corpus_store(settings_file)
    frame = store.query(sql) if sql else getattr(store, table)()
    if transcript is not None and "transcript" in frame:
        frame = frame[frame["transcript"] == transcript]
    rows = frame.iloc[offset : offset + limit].to_dict("records")
    if as_json:
        print_json(rows)
    elif rows:
        print_table(records_table(f"Qualia corpus: {'query' if sql else table} ({len(frame):,} rows)", rows))
        if offset + limit < len(frame):
            stdout.print(f"next page: --offset {offset + limit}")
    else:
        stdout.print("no rows")


@reports_errors
def search(
    query: str = typer.Argument(..., help='Words (all must occur), "a phrase", prefix* ; accents and case ignored.'),
    speaker: str | None = typer.Option(None, "--speaker", help="Only what this speaker said."),
    transcript: str | None = typer.Option(None, "--transcript", help="Only this transcript (by key)."),
    language: str | None = typer.Option(None, "--language", help="Only meetings in this language (pt, en, ...)."),
    since: datetime | None = typer.Option(None, "--since", formats=["%Y-%m-%d"], help="Only meetings on or after."),
    until: datetime | None = typer.Option(None, "--until", formats=["%Y-%m-%d"], help="Only meetings on or before."),
    limit: int = typer.Option(20, "--limit", min=1, max=100, help="Matches per page."),
    page: int = typer.Option(1, "--page", min=1, help="Which page of matches."),
    order: SearchOrder = typer.Option(
        "relevance", "--order", help="Best first (newest first where too many match to rank), or newest first."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the matches as JSON."),
    settings_file: Path | None = SettingsOption,
) -> None:
    """Search every transcript's utterances: keyword-in-context matches, best first."""
    from qualia_pipelines.core.search import SearchFilters, SearchIndex
    from qualia_pipelines.orchestration.corpus_assets import search_file

    index = SearchIndex(search_file(settings(settings_file).outputs_dir))
    if not index.path.exists():
        fail(f"no search index at {index.path}: run `qualia run` (or let the pipeline refresh the corpus) first")
    days = (day.date().isoformat() if day else None for day in (since, until))
    filters = SearchFilters(speaker, transcript, language, *days)
    result = index.search(query, filters, limit, (page - 1) * limit, order)
    matches = result.matches
    if as_json:
        print_json({"matches": matches, "order": result.order})
        return
    table = Table(title=f"Qualia: {query!r}, page {page}, {'best' if result.order == 'relevance' else 'newest'} first")
    for column in ("file", "speaker", "at", "date", "in context"):
        table.add_column(column, overflow="fold")
    for match in matches:
        context = Text()
        for number, part in enumerate(re.split(r"[\[\]]", match["context"])):  # [match] marks each match
            context.append(part, style="bold yellow" if number % 2 else None)
        at = f"{int(match['start'] // 60)}:{int(match['start'] % 60):02d}" if match["start"] is not None else ""
        table.add_row(match["file"], match["speaker"] or "", at, (match["date"] or "")[:10], context)
    if matches:
        print_table(table)
    else:
        stdout.print("no matches")


@reports_errors
def trend(
    word: str = typer.Argument(..., help="One word, as the word counts hold it (case and curly quotes ignored)."),
    meetings: bool = typer.Option(False, "--meetings", help="Show the meetings that said it, not the weeks."),
    limit: int = typer.Option(52, "--limit", min=1, help="Rows to show (the newest)."),
    as_json: bool = typer.Option(False, "--json", help="Print weeks and meetings as JSON."),
    settings_file: Path | None = SettingsOption,
) -> None:
    """How often one word was said over time: per week (per 1,000 words), or per meeting that said it."""
    from qualia_pipelines.core.corpus import counted_form

    _, store = corpus_store(settings_file)
    weeks, said = store.word_trend(counted_form(word))
    if as_json:
        print_json({"word": counted_form(word), "weeks": weeks.tail(limit).to_dict("records"),
                    "meetings": said.head(limit).to_dict("records")})  # fmt: skip
        return
    frame = said.head(limit) if meetings else weeks.tail(limit).drop(columns="word")
    title = f"Qualia: {counted_form(word)!r} " + (f"in {len(said):,} meeting(s)" if meetings else "per week")
    if frame.empty:
        stdout.print(f"{counted_form(word)!r} was not said in any dated meeting" if meetings else "no dated meetings")
        return
    print_table(records_table(title, frame.to_dict("records")))
