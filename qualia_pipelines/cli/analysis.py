"""Commands that analyse transcripts: analyze, process, visualize, pipeline, batch, watch, export."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import typer

from qualia_pipelines.cli.common import (
    ParamOption,
    SettingsOption,
    console,
    engine_for,
    fail,
    parameters_from_options,
    print_json,
    reports_errors,
    settings,
)
from qualia_pipelines.core.contract import PluginInputError, QualiaError, Rendering


@reports_errors
def analyze(
    file: Path = typer.Argument(..., help="Transcript file (.vtt .docx .txt .srt)."),
    plugin: str = typer.Option(..., "--plugin", "-p", help="Plugin id (see `qualia list`)."),
    param: list[str] = ParamOption,
    as_json: bool = typer.Option(False, "--json", help="Print the full result as JSON on stdout."),
    save: Path | None = typer.Option(None, "--save", help="Also write the JSON result to this file."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Ignore and do not fill the result cache."),
    settings_file: Path | None = SettingsOption,
) -> None:
    """Run an analysis (and what it depends on) on one transcript."""
    engine = engine_for(settings(settings_file), use_cache=not no_cache)
    result = engine.run_file(plugin, file, parameters_from_options(plugin, param))
    if save:
        from qualia_pipelines.core.storage import write_json_atomic

        write_json_atomic(save, result.to_dict())
    if as_json:
        print_json(result.to_dict())
    else:
        from qualia_pipelines.cli.display import show_result

        show_result(result)


@reports_errors
def process(
    file: Path = typer.Argument(..., help="Transcript file."),
    plugin: str = typer.Option("teams_cleaner", "--plugin", "-p", help="Document plugin id."),
    param: list[str] = ParamOption,
    save_as: Path | None = typer.Option(
        None, "--save-as", help="Write the cleaned text (.txt) or full result (.json)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the full result as JSON on stdout."),
    settings_file: Path | None = SettingsOption,
) -> None:
    """Clean a transcript with a document plugin; print or save the cleaned text."""
    engine = engine_for(settings(settings_file))
    if engine.registry.get(plugin).kind != "document":
        fail(f"plugin {plugin!r} is not a document plugin (use `qualia analyze` or `qualia visualize`)")
    result = engine.run_file(plugin, file, parameters_from_options(plugin, param))
    text = result.values.get("cleaned_document", {}).get("text", "")
    if save_as:
        from qualia_pipelines.core.storage import write_json_atomic, write_text_atomic

        if save_as.suffix.lower() == ".json":
            write_json_atomic(save_as, result.to_dict())
        else:
            write_text_atomic(save_as, text + "\n")
        console.print(f"saved {save_as}")
    if as_json:
        print_json(result.to_dict())
    elif not save_as:
        typer.echo(text)


@reports_errors
def visualize(
    file: Path = typer.Argument(..., help="Transcript file."),
    plugin: str = typer.Option(..., "--plugin", "-p", help="Visualizer plugin id."),
    output: Path = typer.Option(..., "--output", "-o", help="Output file; its extension picks the format."),
    param: list[str] = ParamOption,
    settings_file: Path | None = SettingsOption,
) -> None:
    """Draw a chart or word cloud for one transcript and write it to a file."""
    engine = engine_for(settings(settings_file))
    visualizer = engine.registry.get(plugin)
    if visualizer.kind != "visualizer":
        fail(f"plugin {plugin!r} is not a visualizer")
    params = parameters_from_options(plugin, param)
    fmt = output.suffix.lower().lstrip(".")
    format_parameter = next((p for p in visualizer.parameters if p.name == "format"), None)
    if format_parameter and "format" not in params.get(plugin, {}) and fmt in format_parameter.choices:
        params.setdefault(plugin, {})["format"] = fmt
    result = engine.run_file(plugin, file, params)
    rendering = next(value for value in result.values.values() if isinstance(value, Rendering))
    if output.suffix.lower() != f".{rendering.extension}":
        fail(f"{output}: the visualizer produced .{rendering.extension}; name the output accordingly")
    from qualia_pipelines.core.storage import write_rendering

    write_rendering(output, rendering)
    console.print(f"wrote {output} ({len(rendering.content):,} bytes, {rendering.media_type})")


@reports_errors
def pipeline(
    file: Path = typer.Argument(..., help="Transcript file."),
    config: Path = typer.Option(..., "--config", "-c", help="Pipeline YAML: ordered steps with parameters."),
    outputs: Path | None = typer.Option(None, "--out", "-o", help="Output folder (default: the settings' outputs)."),
    as_json: bool = typer.Option(False, "--json", help="Print every step's result as JSON."),
    settings_file: Path | None = SettingsOption,
) -> None:
    """Run the steps of a pipeline file, in order, on one document."""
    from qualia_pipelines.core.batch import process_file
    from qualia_pipelines.core.figures import static_export_session
    from qualia_pipelines.core.pipeline_config import load_pipeline

    current = settings(settings_file)
    engine = engine_for(current)
    steps = load_pipeline(config, engine)
    params = {step.plugin: step.parameters for step in steps}
    with static_export_session():
        report = process_file(engine, file, [step.plugin for step in steps], params, outputs or current.outputs_dir)
    if report.error:
        fail(report.error)
    if as_json:
        print_json({"file": report.path, "outputs": report.outputs, "summary": report.summary})
        return
    for path in report.outputs:
        console.print(f"wrote {path}")


@reports_errors
def batch(
    paths: list[Path] = typer.Argument(..., help="Files and/or folders of transcripts."),
    plugin: list[str] = typer.Option([], "--plugin", "-p", help="Plugin id; repeat for several (default: all)."),
    param: list[str] = ParamOption,
    outputs: Path | None = typer.Option(None, "--out", "-o", help="Output folder (default: the settings' outputs)."),
    workers: int | None = typer.Option(None, "--workers", "-w", min=1, max=64, help="Worker processes."),
    as_json: bool = typer.Option(False, "--json", help="Print the per-file report as JSON."),
    settings_file: Path | None = SettingsOption,
) -> None:
    """Process many transcripts in parallel; failures are listed, the rest carries on."""
    from qualia_pipelines.cli.display import print_batch_summary, progress_bar
    from qualia_pipelines.core.batch import transcript_files
    from qualia_pipelines.core.parallel import run_batch

    current = settings(settings_file)
    engine = engine_for(current)
    plugin_ids = plugin or sorted(engine.registry.plugins, key=lambda pid: _kind_rank(engine, pid))
    for plugin_id in plugin_ids:
        engine.registry.get(plugin_id)
    params = parameters_from_options(plugin_ids[0] if len(plugin_ids) == 1 else "", param)
    if "" in params:
        fail("with several plugins, name the plugin of each parameter: -P plugin.name=value")
    engine.validated_parameters(plugin_ids, params)
    files = transcript_files(paths)
    if not files:
        fail("no transcript files found in " + ", ".join(str(p) for p in paths))
    destination = outputs or current.outputs_dir
    started = time.perf_counter()
    with progress_bar(len(files)) as advance:
        reports = run_batch(files, plugin_ids, params, destination, settings_file, workers or current.workers, advance)
    elapsed = time.perf_counter() - started
    if as_json:
        print_json([report.to_dict() for report in reports])
    else:
        print_batch_summary(reports, elapsed, destination)
    if any(not report.ok for report in reports):
        raise typer.Exit(1)


def _kind_rank(engine: Any, plugin_id: str) -> tuple[int, str]:
    order = {"document": 0, "analyzer": 1, "visualizer": 2}
    return order[engine.registry.get(plugin_id).kind], plugin_id


@reports_errors
def watch(
    folder: Path = typer.Argument(..., help="Folder to watch for new transcripts."),
    plugin: list[str] = typer.Option([], "--plugin", "-p", help="Plugin id; repeat for several (default: all)."),
    outputs: Path | None = typer.Option(None, "--out", "-o", help="Output folder."),
    interval: float = typer.Option(2.0, "--interval", min=0.05, help="Seconds between looks at the folder."),
    cycles: int = typer.Option(0, "--cycles", min=0, help="Stop after this many looks (0: run until Ctrl-C)."),
    settings_file: Path | None = SettingsOption,
) -> None:
    """Process transcripts that appear in a folder, once they stop growing. Inputs are never touched."""
    import hashlib

    from qualia_pipelines.cli.display import print_problems
    from qualia_pipelines.core.batch import process_file
    from qualia_pipelines.core.inbox import observe, settled

    if not folder.is_dir():
        fail(f"{folder}: not a folder")
    current = settings(settings_file)
    engine = engine_for(current)
    plugin_ids = plugin or sorted(engine.registry.plugins, key=lambda pid: _kind_rank(engine, pid))
    destination = outputs or current.outputs_dir
    done: dict[str, str] = {}
    previous = observe(folder)
    console.print(f"watching {folder} every {interval}s; results in {destination} (Ctrl-C to stop)")
    looks = 0
    while not cycles or looks < cycles:
        time.sleep(interval)
        looks += 1
        now = observe(folder)
        for path in settled(previous, now):
            digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
            if done.get(path) == digest:
                continue
            done[path] = digest
            report = process_file(engine, Path(path), plugin_ids, None, destination)
            print_problems(console, report)
            if report.ok:
                console.print(f"[green]processed[/] {path} -> {len(report.outputs)} outputs")
        previous = now


@reports_errors
def export(
    result_file: Path = typer.Argument(..., help="A JSON result written by `analyze --save/--json` or `batch`."),
    fmt: str = typer.Option("csv", "--format", "-f", help="json, csv or parquet."),
    table: str | None = typer.Option(None, "--table", "-t", help="Which table to export (default: the first)."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Output file (default: next to the result)."),
) -> None:
    """Turn a saved result into a table file (CSV, Parquet or JSON records)."""
    from qualia_pipelines.core.export import export_table, load_result, result_tables

    if fmt not in ("json", "csv", "parquet"):
        fail(f"--format {fmt!r} is not one of json, csv, parquet")
    record = load_result(result_file)
    tables = result_tables(record)
    if not tables:
        raise PluginInputError(f"{result_file}: the result has no table to export")
    name = table or next(iter(tables))
    if name not in tables:
        fail(f"{result_file}: no table {name!r} (available: {', '.join(tables)})")
    destination = output or result_file.with_name(f"{result_file.stem}.{name}.{fmt}")
    try:
        export_table(tables[name], destination, fmt)
    except (OSError, ValueError, TypeError) as exc:  # pyarrow: ArrowInvalid / ArrowTypeError on mixed columns
        raise QualiaError(f"{destination}: cannot write ({exc})") from None
    console.print(f"wrote {destination} ({len(tables[name])} rows of {name})")
