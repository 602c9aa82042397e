"""The `qualia` command line: thin commands over the engine and registry.

Start-up is kept fast by importing heavy libraries (plotly, pandas, textblob,
Dagster) only inside the commands that need them.
"""

from __future__ import annotations

import typer

from qualia_pipelines.cli import analysis, menu, ops, orchestrate, project, qda, serve

app = typer.Typer(
    name="qualia",
    help="Qualia Pipelines: quantified, reproducible insight from meeting transcripts.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("list")(project.list_plugins)
app.command()(project.inspect)
app.command()(analysis.analyze)
app.command()(analysis.process)
app.command()(analysis.visualize)
app.command()(analysis.pipeline)
app.command()(analysis.batch)
app.command()(analysis.watch)
app.command()(analysis.export)
app.add_typer(project.config_app, name="config")
app.command()(project.init)
app.command()(project.create)
app.command()(menu.menu)
app.add_typer(ops.backup_app, name="backup")
app.command()(ops.health)
app.command()(orchestrate.run)
app.command()(orchestrate.transcripts)
app.command()(orchestrate.corpus)
app.command()(orchestrate.search)
app.command()(orchestrate.trend)
app.command("export-qda")(qda.export_qda)
app.command("import-qda")(qda.import_qda)
app.command()(serve.serve)


def main() -> None:
    app()
