"""Rich renderings of results for people (``--json`` gives the machine form)."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from qualia_pipelines.cli.common import console, stdout
from qualia_pipelines.core.contract import Rendering

_NO_LIMIT = 1_000_000


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
        table.add_column(column, overflow="fold")
    for report in reports:
        summary = report.summary
        status = "[green]ok[/]" if report.ok else "[red]failed[/]"
        if report.skipped:
            status += f" ({len(report.skipped)} skipped)"
        table.add_row(
            Path(report.path).name,
            status,
            *(str(summary.get(key, "")) for key in ("speakers", "quality", "language", "sentiment", "top words")),
            f"{report.seconds:.2f}",
        )
    return table


def print_batch_summary(reports: list[Any], elapsed: float, destination: Path) -> None:
    """The batch's table, totals, then every failure and skip as one line naming the file and the plugin."""
    print_table(batch_table(reports))
    ok = sum(report.ok for report in reports)
    stdout.print(
        f"{ok} of {len(reports)} files processed in {elapsed:.1f}s; results in {destination}",
        highlight=False,
        soft_wrap=True,
    )
    for report in reports:
        print_problems(stdout, report)


def print_problems(where: Console, report: Any) -> None:
    """One line per failure and per skipped visual of ``report``, each naming the file and the plugin."""
    for line in report.failure_lines():
        where.print(f"[red]failed[/] {line}", highlight=False, soft_wrap=True)
    for line in report.skip_lines():
        where.print(f"[yellow]skipped[/] {line}", highlight=False, soft_wrap=True)


def print_table(table: Table) -> None:
    """``table`` on stdout, never cut: folded to fit a terminal, at its full width anywhere else.

    Outside a terminal Rich assumes 80 columns and shortens cells to "webvtt…", so rows that differ
    only at the end of a file name or plugin id could not be told apart in a log or a pipe.
    """
    if stdout.is_terminal:
        stdout.print(table)
        return
    unbounded = Console(file=sys.stdout, width=_NO_LIMIT, no_color=True, highlight=False)
    Console(file=sys.stdout, width=unbounded.measure(table).maximum, no_color=True, highlight=False).print(table)


@contextlib.contextmanager
def progress_bar(total: int) -> Iterator[Callable[[Any], None]]:
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("processing", total=total)

        def advance(report: Any) -> None:
            progress.update(task, advance=1, description=f"processing {report.key}")

        yield advance
