"""Rich renderings of results for people (``--json`` gives the machine form)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from qualia_pipelines.cli.common import console
from qualia_pipelines.core.contract import Rendering


def show_result(result: Any) -> None:
    """A readable summary: scalars as a table, the first rows of every table-like value."""
    values = result.values
    title = f"{result.plugin.id} {result.plugin.version} — {result.source}"
    scalars = Table(title=title, show_header=False)
    for name, value in values.items():
        if isinstance(value, dict) and "polarity" in value:  # sentiment record: show its headline figures
            for key in ("polarity", "subjectivity", "sentiment_label", "engine", "language"):
                scalars.add_row(key, str(value.get(key)))
            rows = value.get("by_speaker", [])
            if rows:
                console.print(records_table("by speaker", rows))
        elif isinstance(value, Rendering):
            scalars.add_row(name, f"{value.media_type}, {len(value.content):,} bytes")
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            console.print(records_table(name, value[:15]))
        elif isinstance(value, dict) and name not in ("word_frequencies", "speaker_frequencies", "document_variants"):
            if value and all(not isinstance(v, list | dict) for v in value.values()):
                console.print(records_table(name, [value]))
        elif not isinstance(value, dict | list):
            scalars.add_row(name, str(value))
    console.print(scalars)


def records_table(title: str, rows: list[dict[str, Any]]) -> Table:
    table = Table(title=title)
    columns = list(rows[0])
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*(_cell(row.get(column)) for column in columns))
    return table


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    text = "" if value is None else str(value)
    return text if len(text) <= 60 else text[:57] + "..."


def batch_table(reports: list[Any]) -> Table:
    table = Table(title="Batch summary")
    for column in ("file", "status", "speakers", "quality", "language", "sentiment", "top words", "seconds"):
        table.add_column(column)
    for report in reports:
        summary = report.summary
        table.add_row(
            Path(report.path).name,
            "[green]ok[/]" if report.ok else "[red]failed[/]",
            *(str(summary.get(key, "")) for key in ("speakers", "quality", "language", "sentiment", "top words")),
            f"{report.seconds:.2f}",
        )
    return table


@contextlib.contextmanager
def progress_bar(total: int) -> Iterator[Callable[[Any], None]]:
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("processing", total=total)

        def advance(report: Any) -> None:
            progress.update(task, advance=1, description=f"processing {report.key}")

        yield advance
