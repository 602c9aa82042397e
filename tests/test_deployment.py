"""Deployment: the instance configurations in ops/, a real PostgreSQL instance, backups on PostgreSQL."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import dagster as dg
import pytest
import yaml
from typer.testing import CliRunner

from qualia_pipelines.cli import app
from qualia_pipelines.core.backup import BackupError, create_backup, list_backups, restore_backup, verify_backup
from qualia_pipelines.core.settings import Settings
from qualia_pipelines.definitions import definitions_for
from qualia_pipelines.orchestration.instance import INSTANCE_CLASS, BatchingSqliteEventLogStorage
from qualia_pipelines.orchestration.jobs import BACKUP_JOB_NAME, PRUNE_JOB_NAME
from qualia_pipelines.orchestration.partitions import TRANSCRIPTS
from qualia_pipelines.orchestration.runs import (
    execute_planned,
    planned_runs,
    postgres_url,
    refresh_corpus_now,
    runs_to_prune,
)
from tests.conftest import OPS, SAMPLES, requires_restic
from tests.postgres import PostgresServer

runner = CliRunner()


def instance_yaml(name: str) -> dict:
    return yaml.safe_load((OPS / name).read_text(encoding="utf-8"))


def test_the_sqlite_instance_config_turns_on_monitoring_retries_and_a_run_queue(tmp_path: Path) -> None:
    shutil.copy(OPS / "dagster.yaml", tmp_path / "dagster.yaml")
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        assert instance.run_monitoring_enabled and instance.run_monitoring_max_runtime_seconds == 7200
        assert instance.run_retries_enabled and instance.run_retries_max_retries == 2
        assert not instance.run_retries_retry_on_asset_or_op_failure
        assert instance.get_concurrency_config().run_queue_config.max_concurrent_runs == 2
        assert instance.run_coordinator.dequeue_interval_seconds == 1
        assert instance.get_settings("sensors")["use_threads"] and instance.get_settings("schedules")["use_threads"]
        assert postgres_url(instance) is None
        assert type(instance.run_storage).__name__ == "SqliteRunStorage"
        assert isinstance(instance.event_log_storage, BatchingSqliteEventLogStorage)
    assert instance_yaml("dagster.yaml")["instance_class"] == INSTANCE_CLASS


def test_the_postgres_config_differs_from_the_sqlite_one_only_in_its_storage() -> None:
    postgres, sqlite = instance_yaml("dagster-postgres.yaml"), instance_yaml("dagster.yaml")
    assert set(postgres.pop("storage")) == {"postgres"}
    assert postgres == sqlite


def test_the_scale_out_config_runs_each_run_in_a_container_on_the_same_postgres_instance(
    postgres_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    docker, postgres = instance_yaml("dagster-docker.yaml"), instance_yaml("dagster-postgres.yaml")
    assert docker.pop("run_launcher")["class"] == "DockerRunLauncher" and docker == postgres
    shutil.copy(OPS / "dagster-docker.yaml", postgres_home / "dagster.yaml")
    monkeypatch.setenv("QUALIA_RUN_IMAGE", "qualia-pipelines:1.0")
    monkeypatch.setenv("QUALIA_RUN_NETWORK", "qualia_default")
    with dg.DagsterInstance.get() as instance:  # loads and validates the config; Docker is contacted only at launch
        launcher = instance.run_launcher
        assert (type(launcher).__name__, launcher.image, launcher.networks) == (
            "DockerRunLauncher",
            "qualia-pipelines:1.0",
            ["qualia_default"],
        )
        assert "qualia_outputs:/data/outputs" in launcher.container_kwargs["volumes"]
        assert launcher.supports_check_run_worker_health  # run monitoring sees a dead run container
        assert "DAGSTER_PG_PASSWORD" in launcher.env_vars and postgres_url(instance)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    (data / "inbox").mkdir(parents=True)
    for name in ("txt_pt", "vtt_en"):
        shutil.copy(SAMPLES[name], data / "inbox" / SAMPLES[name].name)
    return data


def process_inbox(instance: dg.DagsterInstance, data: Path, **settings_fields: float) -> dg.Definitions:
    """What `qualia run` does: plan the inbox's runs and execute them, then refresh the corpus."""
    settings = Settings(data_dir=data, **settings_fields)
    defs = definitions_for(settings)
    qualia = defs.resources["qualia"]
    files = {path.name: path for path in sorted(settings.inbox_dir.iterdir())}
    for planned in planned_runs(instance, qualia, files, process_all=True, launcher="cli"):
        assert execute_planned(instance, defs, planned) is None
    assert refresh_corpus_now(instance, defs, "cli") is None
    return defs


@pytest.mark.slow
def test_the_pipeline_runs_on_a_postgres_instance(postgres_home: Path, data_dir: Path) -> None:
    with dg.DagsterInstance.get() as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert postgres_url(instance).endswith("/" + os.environ["DAGSTER_PG_DB"])
        process_inbox(instance, data_dir)
        partitions = {"retro_pt.txt", "customer_interview_en.vtt"}
        assert set(instance.get_dynamic_partitions(TRANSCRIPTS.name)) == partitions
        for asset in ("transcript", "teams_cleaner", "word_frequency", "sentiment_analyzer", "report"):
            assert instance.get_materialized_partitions(dg.AssetKey(asset)) == partitions
        assert instance.get_latest_materialization_event(dg.AssetKey("corpus_vocabulary")) is not None
        runs = instance.get_runs()
        assert runs and all(run.status == dg.DagsterRunStatus.SUCCESS for run in runs)
    assert (data_dir / "outputs" / "report" / "retro_pt.txt.html").is_file()


@pytest.mark.slow
@requires_restic
def test_backups_on_postgres_dump_and_restore_the_database(
    postgres_home: Path,
    postgres_server: PostgresServer,
    data_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with dg.DagsterInstance.get() as instance:
        defs = process_inbox(instance, data_dir)
        expected = instance.get_materialized_partitions(dg.AssetKey("word_frequency"))
        result = defs.resolve_job_def(BACKUP_JOB_NAME).execute_in_process(instance=instance)
        assert result.success
    cli = runner.invoke(
        app, ["backup", "create", "--to", str(tmp_path / "cli-backups")], env={"QUALIA_DATA_DIR": str(data_dir)}
    )
    assert cli.exit_code == 0, cli.output
    [by_cli] = list_backups(tmp_path / "cli-backups")
    assert verify_backup(by_cli.name, tmp_path / "cli-backups")["postgres"]["database"] == os.environ["DAGSTER_PG_DB"]
    [snapshot] = list_backups(data_dir / "backups")
    manifest = verify_backup(snapshot.name, data_dir / "backups")
    assert manifest["postgres"]["dump"] == "postgres/dagster.dump"

    empty = postgres_server.url(postgres_server.create_database("qualia_restored"))
    restored = tmp_path / "restored"
    done = runner.invoke(
        app,
        ["backup", "restore", snapshot.name, str(restored), "--postgres-url", empty],
        env={"QUALIA_DATA_DIR": str(data_dir)},
    )
    assert done.exit_code == 0, done.output
    monkeypatch.setenv("DAGSTER_PG_DB", "qualia_restored")  # the restored dagster.yaml reads the same variables
    with dg.DagsterInstance.from_config(str(restored / "dagster_home")) as copy:
        assert type(copy.run_storage).__name__ == "PostgresRunStorage"
        assert copy.get_materialized_partitions(dg.AssetKey("word_frequency")) == expected
        assert len(expected) == 2 and len(copy.get_runs()) == 3
    assert (restored / "outputs" / "word_frequency" / "retro_pt.txt.json").is_file()
    assert (restored / "postgres" / "dagster.dump").is_file()
    assert not list((restored / "dagster_home").rglob("*.db")), "a Postgres instance has no SQLite files"

    with pytest.raises(BackupError, match="failed"):
        restore_backup(snapshot.name, tmp_path / "again", data_dir / "backups", empty)  # not empty any more


@requires_restic
def test_a_sqlite_backup_refuses_a_postgres_restore_target(tmp_path: Path) -> None:
    source = tmp_path / "outputs"
    source.mkdir()
    (source / "a.json").write_text("{}", encoding="utf-8")
    snapshot = create_backup({"outputs": source}, tmp_path / "backups")
    with pytest.raises(BackupError, match="no PostgreSQL dump"):
        restore_backup(snapshot.name, tmp_path / "restored", tmp_path / "backups", "postgresql://u:p@127.0.0.1:1/db")
    assert not (tmp_path / "restored").exists()


def test_run_retention_prunes_old_runs_but_keeps_the_latest_state_and_every_output(
    data_dir: Path, tmp_path: Path
) -> None:
    (tmp_path / "home").mkdir()
    shutil.copy(OPS / "dagster.yaml", tmp_path / "home" / "dagster.yaml")
    with dg.DagsterInstance.from_config(str(tmp_path / "home")) as instance:
        process_inbox(instance, data_dir)
        superseded = {run.run_id for run in instance.get_runs()}
        # The same drop again: the first runs no longer hold the latest state. Retention: a millisecond.
        defs = process_inbox(instance, data_dir, run_retention_days=1e-8)
        latest = {run.run_id for run in instance.get_runs()} - superseded
        processed = instance.get_materialized_partitions(dg.AssetKey("report"))
        outputs = sorted(p.relative_to(data_dir) for p in (data_dir / "outputs").rglob("*") if p.is_file())

        assert set(runs_to_prune(instance, time.time() - 3600)) == set()  # nothing is an hour old yet
        assert set(runs_to_prune(instance, time.time() + 1)) == superseded
        time.sleep(0.01)
        result = defs.resolve_job_def(PRUNE_JOB_NAME).execute_in_process(instance=instance)
        assert result.success
        [pruned] = [
            event.step_output_data.metadata["pruned_runs"].value
            for event in result.all_node_events
            if event.is_successful_output
        ]
        assert pruned == len(superseded)
        remaining = {run.run_id for run in instance.get_runs()}
        assert superseded.isdisjoint(remaining) and latest <= remaining
        assert (
            instance.get_materialized_partitions(dg.AssetKey("report"))
            == processed
            == {
                "retro_pt.txt",
                "customer_interview_en.vtt",
            }
        )
    assert sorted(p.relative_to(data_dir) for p in (data_dir / "outputs").rglob("*") if p.is_file()) == outputs
