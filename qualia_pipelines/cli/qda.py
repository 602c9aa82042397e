"""`qualia export-qda` and `qualia import-qda`: the corpus to a QDA tool (REFI-QDA .qdpx) and coding back."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

import typer

from qualia_pipelines.cli.common import SettingsOption, console, corpus_store, fail, print_json, reports_errors, stdout
from qualia_pipelines.cli.display import print_table, records_table

DateOption = typer.Option(None, "--since", formats=["%Y-%m-%d"], help="Only meetings on or after this day.")


@reports_errors
def export_qda(
    out: Path = typer.Argument(..., dir_okay=False, help="The .qdpx file to write (replaced if it exists)."),
    transcripts: list[str] = typer.Option(
        [], "--transcripts", "-t", help="Only these transcripts (keys; repeat the option or separate by commas)."
    ),
    since: datetime | None = DateOption,
    name: str = typer.Option("Qualia corpus", "--name", help="The project's name as the QDA tool shows it."),
    settings_file: Path | None = SettingsOption,
) -> None:
    """Export transcripts as a REFI-QDA project (.qdpx) for NVivo, ATLAS.ti, MAXQDA or QualCoder."""
    from qualia_pipelines import __version__
    from qualia_pipelines.core.qda import export_keys, export_transcripts, write_project

    outputs, store = corpus_store(settings_file)
    wanted = [key.strip() for option in transcripts for key in option.split(",") if key.strip()]
    keys = export_keys(store, wanted, since.date().isoformat() if since else None)
    if not keys:
        fail("no transcripts to export" + (f" from meetings on or after {since:%Y-%m-%d}" if since else ""))
    with console.status(f"exporting {len(keys)} transcript(s)"):
        summary = write_project(export_transcripts(outputs, keys), out, name, __version__)
    stdout.print(
        f"{out}: {summary.sources} source(s), {summary.selections} coded selection(s), "
        f"{len(summary.codes)} code(s) in use"
    )


@reports_errors
def import_qda(
    project: Path = typer.Argument(..., exists=True, dir_okay=False, help="The .qdpx a QDA tool exported."),
    name: str | None = typer.Option(
        None, "--name", help="What to call this import in the coding tables (default: from the file name)."
    ),
    replace: bool = typer.Option(False, "--replace", help="Replace an earlier import of the same name."),
    limit: int = typer.Option(20, "--limit", min=1, help="Rows of human coding counts to show."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary and the counts as JSON."),
    settings_file: Path | None = SettingsOption,
) -> None:
    """Bring back the coding done in a QDA tool on Qualia's sources, as the corpus tables `coded_segments`
    and `code_counts` (`qualia corpus code_counts`)."""
    from qualia_pipelines.core.qda_import import read_project

    _, store = corpus_store(settings_file)
    name = name or re.sub(r"[^A-Za-z0-9_.-]+", "-", project.stem).strip("-._")[:80] or "project"
    with console.status(f"reading {project}"):
        imported = read_project(project, name)
    folder = store.add_coding(name, imported.segments, imported.counts, replace)
    human = imported.counts[imported.counts["origin"] == "human"]
    summary = {
        "project": name,
        "tables": str(folder),
        "sources": len(imported.sources),
        "skipped": [{"source": source, "reason": reason} for source, reason in imported.skipped],
        "problems": imported.problems,
        "coded_segments": len(imported.segments),
        "human_selections": int(imported.segments.loc[imported.segments["origin"] == "human", "selection"].nunique()),
    }
    if as_json:
        print_json({**summary, "human_counts": human.head(limit).to_dict("records")})
        return
    for source, reason in imported.skipped:
        console.print(f"[yellow]skipped[/] {source}: {reason}")
    for problem in imported.problems:
        console.print(f"[yellow]note[/] {problem}")
    stdout.print(
        f"imported {name!r}: {summary['sources']} source(s), {summary['coded_segments']} coded segment(s), "
        f"{summary['human_selections']} selection(s) coded by people; tables in {folder}"
    )
    if len(human):
        rows = human.drop(columns=["project", "origin"]).head(limit).to_dict("records")
        print_table(records_table(f"Human coding ({len(human):,} rows)", rows))
