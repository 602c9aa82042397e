"""Operations commands: `qualia backup create|list|verify|restore` and `qualia health`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from qualia_pipelines.cli.common import SettingsOption, console, fail, print_json, reports_errors, settings
from qualia_pipelines.core.settings import Settings

backup_app = typer.Typer(help="Back up and restore the instance, outputs and inbox.", no_args_is_help=True)
DagsterHomeOption = typer.Option(
    None, "--dagster-home", help="Dagster instance folder (default: $DAGSTER_HOME, else <data_dir>/dagster_home)."
)


def _dagster_home(explicit: Path | None, current: Settings) -> Path | None:
    value = explicit or current.instance_dir
    return value if value.is_dir() else None


def _health(home: Path | None, current: Settings) -> tuple[dict[str, Any], str | None]:
    """The health report (breakers from the instance when there is one), and the instance's PostgreSQL URL if any."""
    import dagster as dg

    from qualia_pipelines.orchestration.resources import resources_for
    from qualia_pipelines.orchestration.runs import postgres_url
    from qualia_pipelines.orchestration.status import health_report

    qualia = resources_for(current)["qualia"]
    if home is None:
        return health_report(current, qualia, None), None
    with dg.DagsterInstance.from_config(str(home)) as instance:
        return health_report(current, qualia, instance), postgres_url(instance)


RepositoryOption = typer.Option(
    None,
    "--repository",
    envvar="QUALIA_BACKUP_REPOSITORY",
    help="restic repository (a folder, sftp:, s3:, rest: ...; default: <backups>/restic).",
)


@backup_app.command("create")
@reports_errors
def backup_create(
    to: Path | None = typer.Option(None, "--to", help="Backups folder (default: the settings' backups)."),
    dagster_home: Path | None = DagsterHomeOption,
    retention_days: float | None = typer.Option(None, "--retention-days", min=0.0, help="Forget older snapshots."),
    repository: str | None = RepositoryOption,
    settings_file: Path | None = SettingsOption,
) -> None:
    """Snapshot the Dagster storage (SQLite online backup or pg_dump), outputs and inbox into the restic repository."""
    from qualia_pipelines import __version__
    from qualia_pipelines.core.backup import create_backup
    from qualia_pipelines.orchestration.jobs import backup_scope

    current = settings(settings_file)
    home = _dagster_home(dagster_home, current)
    sources = {"outputs": current.outputs_dir, "inbox": current.inbox_dir}
    if home:
        sources = {"dagster_home": home, **sources}
    else:
        console.print(
            f"[yellow]no Dagster instance found at {current.instance_dir}; backing up outputs and inbox only[/]"
        )
    report, database = _health(home, current)
    exclude, held = backup_scope(current.outputs_dir)
    snapshot = create_backup(
        sources,
        to or current.backups_dir,
        retention_days or current.backup_retention_days,
        {"breakers": report["breakers"]},
        __version__,
        database,
        repository=repository,
        exclude=exclude,
        held=held,
    )
    console.print(f"snapshot {snapshot.name}: {snapshot.bytes:,} bytes added to the repository")


@backup_app.command("list")
@reports_errors
def backup_list(
    folder: Path | None = typer.Argument(None, help="Backups folder (default: the settings' backups)."),
    repository: str | None = RepositoryOption,
    settings_file: Path | None = SettingsOption,
) -> None:
    """List the snapshots (and any archives of an earlier Qualia), oldest first."""
    from qualia_pipelines.core.backup import list_backups

    folder = folder or settings(settings_file).backups_dir
    table = Table(title=f"backups in {folder}")
    for column in ("backup", "kind", "created (UTC)", "bytes"):
        table.add_column(column, no_wrap=column == "backup")
    for info in list_backups(folder, repository):
        size = f"{info.bytes:,}" if info.bytes is not None else ""
        table.add_row(Path(info.name).name, info.kind, info.created.strftime("%Y-%m-%d %H:%M:%S"), size)
    console.print(table)


@backup_app.command("verify")
@reports_errors
def backup_verify(
    backup: str = typer.Argument(..., help="A snapshot id (or 'latest'), or the path of an earlier archive."),
    folder: Path | None = typer.Option(None, "--folder", help="Backups folder (default: the settings' backups)."),
    repository: str | None = RepositoryOption,
    settings_file: Path | None = SettingsOption,
) -> None:
    """Check a backup: the repository and every file of the snapshot (restic), or an archive's checksums."""
    from qualia_pipelines.core.backup import verify_backup

    manifest = verify_backup(backup, folder or settings(settings_file).backups_dir, repository)
    count = manifest.get("file_count", len(manifest.get("files", {})))
    console.print(f"[green]ok[/] {backup}: {count} files verified")


@backup_app.command("restore")
@reports_errors
def backup_restore(
    backup: str = typer.Argument(..., help="A snapshot id (or 'latest'), or the path of an earlier archive."),
    target: Path = typer.Argument(..., help="Empty folder to restore into."),
    postgres_url: str | None = typer.Option(
        None,
        "--postgres-url",
        envvar="QUALIA_RESTORE_POSTGRES_URL",
        help="Empty PostgreSQL database to load the backup's dump into (postgresql://user:password@host:port/db).",
    ),
    folder: Path | None = typer.Option(None, "--folder", help="Backups folder (default: the settings' backups)."),
    repository: str | None = RepositoryOption,
    settings_file: Path | None = SettingsOption,
) -> None:
    """Verify, then restore into an empty folder: dagster_home/, outputs/, inbox/ (and load a PostgreSQL dump)."""
    from qualia_pipelines.core.backup import restore_backup

    manifest = restore_backup(backup, target, folder or settings(settings_file).backups_dir, postgres_url, repository)
    count = manifest.get("file_count", len(manifest.get("files", {})))
    console.print(f"restored {count} files into {target}")
    if manifest.get("postgres") and not postgres_url:
        dump = target / manifest["postgres"]["dump"]
        console.print(f"[yellow]the instance's database is in {dump}: load it with --postgres-url or pg_restore[/]")
    if (target / "dagster_home").is_dir():
        console.print(f"start Dagster on it with DAGSTER_HOME={target / 'dagster_home'}")


@reports_errors
def health(
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    dagster_home: Path | None = DagsterHomeOption,
    settings_file: Path | None = SettingsOption,
) -> None:
    """Plugins, Dagster instance, circuit breakers, inbox and disk space; exits 1 when something needs attention."""
    current = settings(settings_file)
    home = _dagster_home(dagster_home, current)
    report, _ = _health(home, current)
    if as_json:
        print_json(report)
    else:
        table = Table(title="Qualia health", show_header=False)
        table.add_row("plugins", ", ".join(report["plugins"]))
        for plugin_id, state in report["breakers"].items():
            colour = "green" if state == "closed" else "red"
            table.add_row(f"breaker {plugin_id}", f"[{colour}]{state}[/]")
        if not home:
            table.add_row("dagster", f"no instance yet at {current.instance_dir}")
        table.add_row("inbox", f"{report['inbox']['transcripts']} transcripts in {report['inbox']['path']}")
        table.add_row("disk free", f"{report['disk']['free_bytes'] / 1e9:.1f} GB in {current.data_dir}")
        for problem in report["problems"]:
            table.add_row("[red]problem[/]", problem)
        console.print(table)
    if not report["healthy"]:
        fail("unhealthy: " + "; ".join(report["problems"]))
