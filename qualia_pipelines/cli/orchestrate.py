"""`qualia run`: process the inbox through Dagster now, on the configured instance, and summarise.

The same definitions, jobs and range runs as the inbox sensor and processing
schedule, executed in this process, so the runs and materializations appear in
the Dagster UI afterwards.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from qualia_pipelines.cli.common import SettingsOption, console, fail, reports_errors, settings

QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
"""Run logs stay in the instance (and the UI); the terminal gets the summary."""


@reports_errors
def run(
    process_all: bool = typer.Option(False, "--all", help="Reprocess every transcript, not only new or changed ones."),
    settings_file: Path | None = SettingsOption,
) -> None:
    """Materialize every new or changed transcript in the inbox and the corpus tables through Dagster."""
    current = settings(settings_file)
    if settings_file:
        os.environ["QUALIA_CONFIG"] = str(settings_file.resolve())
    home = Path(os.environ.get("DAGSTER_HOME") or current.data_dir / "dagster_home").resolve()
    home.mkdir(parents=True, exist_ok=True)
    os.environ["DAGSTER_HOME"] = str(home)
    import dagster as dg

    from qualia_pipelines.definitions import defs
    from qualia_pipelines.orchestration.partitions import TRANSCRIPTS, inbox_files
    from qualia_pipelines.orchestration.resources import resources_for
    from qualia_pipelines.orchestration.schedules import pending_partitions
    from qualia_pipelines.orchestration.sensors import record_arrivals, transcript_run_requests

    qualia = resources_for(current)["qualia"]
    files = inbox_files(qualia.inbox_dir)
    if not files:
        fail(f"no transcripts in the inbox {qualia.inbox_dir} (supported: .vtt .docx .txt .srt)")
    with dg.DagsterInstance.get() as instance:
        arrived, unreadable = record_arrivals(instance, qualia, files)
        existing = set(instance.get_dynamic_partitions(TRANSCRIPTS.name))
        instance.add_dynamic_partitions(TRANSCRIPTS.name, sorted(set(files) - existing))
        ordered = list(instance.get_dynamic_partitions(TRANSCRIPTS.name))
        wanted = set(files) if process_all else pending_partitions(instance, qualia, ordered) & set(files)
        hashes = {key: arrived.get(key, "") for key in wanted}
        requests = transcript_run_requests(ordered, hashes, unreadable & wanted, qualia.batch_size)
        job = defs.resolve_job_def("process_transcripts")
        failures = []
        with console.status(f"processing {len(wanted)} transcript(s) in {len(requests)} run(s)"):
            for request in requests:
                tags = dict(request.tags)
                result = job.execute_in_process(
                    instance=instance,
                    partition_key=request.partition_key,
                    tags=tags,
                    raise_on_error=False,
                    run_config=QUIET,
                )
                if not result.success:
                    failures.append(_failure_message(result))
            corpus = defs.resolve_job_def("refresh_corpus").execute_in_process(
                instance=instance, raise_on_error=False, run_config=QUIET
            )
        if not corpus.success:
            failures.append("corpus: " + _failure_message(corpus))
    console.print(summary_table(current.outputs_dir, sorted(files)))
    console.print(f"reports: [bold]{current.outputs_dir / 'report'}[/]   all outputs: {current.outputs_dir}")
    console.print(f"Dagster instance: {home} (see it with `make ui`)")
    if failures:
        fail("; ".join(failures))


def _failure_message(result: Any) -> str:
    messages = [event.message or "" for event in result.all_events if event.event_type_value == "STEP_FAILURE"]
    errors = [
        str(event.event_specific_data.error.message).strip()
        for event in result.all_events
        if event.event_type_value == "STEP_FAILURE" and event.event_specific_data.error
    ]
    return "; ".join(errors or messages) or "run failed"


def summary_table(outputs: Path, keys: list[str]) -> Table:
    table = Table(title="Qualia: processed transcripts")
    for column in ("transcript", "lang", "speakers", "quality", "sentiment", "top words", "report"):
        table.add_column(column, overflow="fold")
    for key in keys:
        cleaner = _record(outputs / "teams_cleaner" / f"{key}.json")
        words = _record(outputs / "word_frequency" / f"{key}.json")
        mood = _record(outputs / "sentiment_analyzer" / f"{key}.json")
        report = outputs / "report" / f"{key}.html"
        if not cleaner:
            table.add_row(key, "", "", "", "[red]not processed[/]", "", "")
            continue
        sentiment = mood.get("sentiment", {})
        table.add_row(
            key,
            cleaner["metadata"]["language"],
            str(cleaner["metadata"]["participant_count"]),
            str(cleaner["quality_report"]["score"]),
            f"{sentiment.get('sentiment_label', '')} ({sentiment.get('polarity', 0):+.2f})" if sentiment else "",
            ", ".join(row["word"] for row in words.get("top_words", [])[:3]),
            report.name if report.exists() else "",
        )
    return table


def _record(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))["values"]
    except (OSError, ValueError, KeyError):
        return {}
