"""Commands about plugins and projects: list, inspect, config, init, create."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from qualia_pipelines.cli.common import (
    SettingsOption,
    console,
    fail,
    print_json,
    reports_errors,
    settings,
    stdout,
)
from qualia_pipelines.cli.display import print_table

config_app = typer.Typer(help="Show, validate or create the settings file.", no_args_is_help=True)


def _registry(settings_file: Path | None):
    from qualia_pipelines.core.registry import discover

    return discover(settings(settings_file).plugin_dirs)


@reports_errors
def list_plugins(
    as_json: bool = typer.Option(False, "--json", help="Print the plugins as JSON."),
    settings_file: Path | None = SettingsOption,
) -> None:
    """List the available plugins and any that failed to load."""
    registry = _registry(settings_file)
    if as_json:
        print_json(
            {
                "plugins": [_summary(p) for p in registry.plugins.values()],
                "problems": [problem.__dict__ for problem in registry.problems],
            }
        )
        return
    table = Table(title="Qualia plugins")
    for column in ("id", "kind", "version", "requires", "provides", "description"):
        table.add_column(column)
    for plugin in sorted(registry.plugins.values(), key=lambda p: (p.kind, p.id)):
        table.add_row(
            plugin.id,
            plugin.kind,
            plugin.version,
            ", ".join(plugin.requires),
            ", ".join(plugin.provides),
            plugin.description,
        )
    print_table(table)
    for problem in registry.problems:
        console.print(f"[yellow]skipped[/] {problem.source}: {problem.message}")


def _summary(plugin) -> dict:
    return {
        "id": plugin.id,
        "kind": plugin.kind,
        "version": plugin.version,
        "description": plugin.description,
        "requires": list(plugin.requires),
        "provides": list(plugin.provides),
        "source": plugin.source,
        "retry": plugin.retry.__dict__,
        "parameters": plugin.json_schema(),
    }


@reports_errors
def inspect(
    plugin_id: str = typer.Argument(..., help="Plugin id."),
    as_json: bool = typer.Option(False, "--json", help="Print the metadata as JSON."),
    settings_file: Path | None = SettingsOption,
) -> None:
    """Show a plugin's metadata, dependencies and parameters."""
    from qualia_pipelines.core.resolver import execution_order

    registry = _registry(settings_file)
    plugin = registry.get(plugin_id)
    chain = [p.id for p in execution_order(registry, plugin_id)]
    if as_json:
        print_json({**_summary(plugin), "runs_after": chain[:-1]})
        return
    stdout.print(f"[bold]{plugin.id}[/] {plugin.version} ({plugin.kind}) — {plugin.description}", soft_wrap=True)
    stdout.print(f"requires: {', '.join(plugin.requires)}   provides: {', '.join(plugin.provides)}", soft_wrap=True)
    stdout.print(f"runs after: {' -> '.join(chain[:-1]) or 'nothing'}   source: {plugin.source}", soft_wrap=True)
    table = Table(title="parameters (-P name=value)")
    for column in ("name", "type", "default", "allowed", "help"):
        table.add_column(column)
    for parameter in plugin.parameters:
        table.add_row(parameter.name, parameter.type, repr(parameter.default), parameter.allowed(), parameter.help)
    print_table(table)


@config_app.command("show")
@reports_errors
def config_show(settings_file: Path | None = SettingsOption) -> None:
    """Print the effective settings (file + environment) as YAML."""
    import yaml

    from qualia_pipelines.core.settings import config_path

    current = settings(settings_file)
    data = current.model_dump(mode="json")
    data.update(inbox=str(current.inbox_dir), outputs=str(current.outputs_dir), cache_dir=str(current.cache_path))
    console.print(f"# from {config_path(settings_file) or 'defaults'} and QUALIA_* variables")
    typer.echo(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))


@config_app.command("validate")
@reports_errors
def config_validate(file: Path = typer.Argument(Path("qualia.yaml"), help="Settings file to check.")) -> None:
    """Check a settings file: fields, types, and every plugin parameter in it."""
    from qualia_pipelines.core.engine import Engine
    from qualia_pipelines.core.registry import discover
    from qualia_pipelines.core.settings import load_settings

    current = load_settings(file)
    engine = Engine(discover(current.plugin_dirs), defaults=current.parameters)
    engine.validated_parameters(list(current.parameters), {})
    console.print(f"[green]valid[/] {file}")


@config_app.command("new")
@reports_errors
def config_new(
    file: Path = typer.Argument(Path("qualia.yaml"), help="Where to write the settings file."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing file."),
) -> None:
    """Write a commented settings file with the defaults."""
    from qualia_pipelines.core.settings import default_config_yaml
    from qualia_pipelines.core.storage import write_text_atomic

    if file.exists() and not force:
        fail(f"{file} already exists (use --force to overwrite)")
    write_text_atomic(file, default_config_yaml())
    console.print(f"wrote {file}")


@reports_errors
def init(directory: Path = typer.Argument(Path("."), help="Project folder (created if missing).")) -> None:
    """Create a project: settings file, data/inbox, data/outputs and a plugins folder."""
    from qualia_pipelines.core.settings import default_config_yaml
    from qualia_pipelines.core.storage import write_text_atomic

    for folder in ("data/inbox", "data/outputs", "data/backups", "plugins"):
        (directory / folder).mkdir(parents=True, exist_ok=True)
    config = directory / "qualia.yaml"
    if config.exists():
        console.print(f"kept existing {config}")
    else:
        write_text_atomic(config, default_config_yaml())
    console.print(f"project ready in {directory}: drop transcripts into {directory / 'data/inbox'}")


@reports_errors
def create(
    name: str = typer.Argument(..., help="Plugin id, snake_case."),
    kind: str = typer.Option("analyzer", "--kind", "-k", help="analyzer, document or visualizer."),
    directory: Path = typer.Option(Path("plugins"), "--dir", "-d", help="Plugin folder to create it in."),
) -> None:
    """Scaffold a working plugin with a test, in a folder Qualia scans."""
    from qualia_pipelines.cli.scaffold import write_plugin

    created = write_plugin(name, kind, directory)
    for path in created:
        console.print(f"created {path}")
    console.print(f"add {directory} to plugin_dirs in qualia.yaml (or QUALIA_PLUGIN_PATH) and run `qualia list`")
