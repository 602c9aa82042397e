"""Backups (core, CLI and Dagster job), the processing schedule and `qualia health`, on real instances."""

from __future__ import annotations

import hashlib
import io
import json
import re
import shutil
import sqlite3
import tarfile
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pytest
from typer.testing import CliRunner

from qualia_pipelines.cli import app
from qualia_pipelines.core.backup import (
    BackupError,
    Repository,
    create_backup,
    list_backups,
    prune_archives,
    restore_archive,
    restore_backup,
    verify_archive,
    verify_backup,
)
from qualia_pipelines.core.settings import Settings
from qualia_pipelines.definitions import definitions_for
from qualia_pipelines.orchestration.assets import inbox_file, plugin_assets, transcript
from qualia_pipelines.orchestration.corpus_assets import report
from qualia_pipelines.orchestration.dagster_private import ASSET_PARTITION_RANGE_END_TAG as RANGE_END
from qualia_pipelines.orchestration.dagster_private import ASSET_PARTITION_RANGE_START_TAG as RANGE_START
from qualia_pipelines.orchestration.jobs import backup_job
from qualia_pipelines.orchestration.partitions import TRANSCRIPTS, inbox_files, partition_statuses
from qualia_pipelines.orchestration.resources import QualiaIOManager, QualiaResource, registry_for
from qualia_pipelines.orchestration.runs import planned_runs
from qualia_pipelines.orchestration.schedules import per_transcript_assets, processing_schedule
from tests.conftest import SAMPLES, digest, requires_restic, schedule_tick

runner = CliRunner()


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """A data folder with the samples in its inbox, a real instance under DAGSTER_HOME, one processed transcript."""
    data = tmp_path / "data"
    (data / "inbox").mkdir(parents=True)
    for path in SAMPLES.values():
        shutil.copy(path, data / "inbox" / path.name)
    home = tmp_path / "dagster_home"
    home.mkdir()
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("QUALIA_DATA_DIR", str(data))
    return {"data": data, "home": home}


def qualia_resource(data: Path) -> QualiaResource:
    return QualiaResource(
        inbox=str(data / "inbox"),
        max_bytes=50 * 1024 * 1024,
        outputs=str(data / "outputs"),
        backups=str(data / "backups"),
    )


def process(instance: dg.DagsterInstance, data: Path, key: str) -> None:
    instance.add_dynamic_partitions(TRANSCRIPTS.name, [key])
    assets = [inbox_file, transcript, *plugin_assets(registry_for(())), report]
    resources = {"qualia": qualia_resource(data), "io_manager": QualiaIOManager(base_dir=str(data / "outputs"))}
    assert dg.materialize(assets, partition_key=key, instance=instance, resources=resources).success


@requires_restic
def test_backup_round_trip_restores_the_same_materializations(project: dict[str, Path], tmp_path: Path) -> None:
    data = project["data"]
    with dg.DagsterInstance.get() as instance:
        process(instance, data, "retro_pt.txt")
        expected = instance.get_materialized_partitions(dg.AssetKey("sentiment_analyzer"))
        result = backup_job.execute_in_process(instance=instance, resources={"qualia": qualia_resource(data)})
        assert result.success
    [snapshot] = list_backups(data / "backups")
    assert snapshot.kind == "snapshot" and (data / "backups" / "restic" / "config").is_file()
    manifest = verify_backup(snapshot.name, data / "backups")
    assert manifest["plugin_health"]["breakers"]["sentiment_analyzer"] == "closed"
    assert set(manifest["sources"]) == {"dagster_home", "outputs", "inbox"} and manifest["file_count"] > 10

    restored = tmp_path / "restored"
    done = runner.invoke(app, ["backup", "restore", snapshot.name, str(restored)])
    assert done.exit_code == 0, done.output
    with dg.DagsterInstance.from_config(str(restored / "dagster_home")) as copy:
        assert copy.get_materialized_partitions(dg.AssetKey("sentiment_analyzer")) == expected == {"retro_pt.txt"}
        assert copy.get_dynamic_partitions(TRANSCRIPTS.name) == ["retro_pt.txt"]
    assert (restored / "inbox" / "retro_pt.txt").read_bytes() == SAMPLES["txt_pt"].read_bytes()
    assert (restored / "outputs" / "report" / "retro_pt.txt.html").is_file() and (restored / "manifest.json").is_file()
    again = runner.invoke(app, ["backup", "restore", snapshot.name, str(restored)])
    assert again.exit_code == 1 and "restore needs an empty folder" in again.stderr


@requires_restic
def test_a_nights_backup_grows_with_the_change_and_old_snapshots_are_forgotten(tmp_path: Path) -> None:
    outputs, backups = tmp_path / "outputs", tmp_path / "backups"
    for number in range(40):  # a corpus of 40 records of 50 KB that do not compress
        write_record(outputs / f"meeting_{number}.json", number)
    first = create_backup({"outputs": outputs}, backups)
    assert first.bytes > 40 * 50_000
    for number in range(40, 42):  # a drop of two
        write_record(outputs / f"meeting_{number}.json", number)
    second = create_backup({"outputs": outputs}, backups)
    assert second.bytes < 3 * 2 * 50_000  # what the drop added, not the corpus again
    repository = Repository.of(backups)
    old = tmp_path / "old"
    write_record(old / "x.json", 99)
    repository.run("backup", "--host", "qualia", "--tag", "qualia", "--time", "2026-01-01 00:00:00", str(old))
    assert len(list_backups(backups)) == 3
    create_backup({"outputs": outputs}, backups, retention_days=30)
    kept = list_backups(backups)
    assert len(kept) == 3 and min(info.created for info in kept).year == datetime.now(tz=UTC).year
    assert all(info.created.month != 1 or info.created.day != 1 for info in kept)  # the January one is gone
    assert verify_backup("latest", backups)["sources"] == {"outputs": str(outputs.resolve())}


def write_record(path: Path, number: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(hashlib.shake_256(str(number).encode()).digest(50_000))


@requires_restic
def test_sqlite_is_copied_with_the_backup_api_while_it_is_being_written(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    database = sqlite3.connect(home / "live.db")
    database.execute("pragma journal_mode=wal")
    database.execute("create table t (n integer)")
    database.executemany("insert into t values (?)", [(n,) for n in range(1000)])
    database.commit()
    database.execute("insert into t values (-1)")  # uncommitted: must not appear in the snapshot
    snapshot = create_backup({"dagster_home": home}, tmp_path / "backups")
    database.rollback()
    database.close()
    restored = tmp_path / "out"
    restore_backup(snapshot.name, restored, tmp_path / "backups")
    copy = sqlite3.connect(restored / "dagster_home" / "live.db")
    assert copy.execute("select count(*), min(n) from t").fetchone() == (1000, 0)
    copy.close()


def one_file_backup(tmp_path: Path) -> tuple[Path, Path]:
    """An outputs folder holding ``a.json``, and an archive of it as an earlier Qualia wrote them."""
    source = tmp_path / "outputs"
    source.mkdir()
    (source / "a.json").write_text('{"a": 1}')
    manifest = {"created": "2026-11-30T00:00:00+00:00", "files": {"outputs/a.json": entry(b'{"a": 1}')}}
    folder = tmp_path / "backups"
    folder.mkdir(exist_ok=True)
    return source, archive_of(
        folder / "qualia-backup-20261130T000000000000Z.tar.gz", manifest, {"outputs/a.json": b'{"a": 1}'}
    )


@requires_restic
def test_archives_of_an_earlier_qualia_are_listed_verified_restored_and_pruned(tmp_path: Path) -> None:
    source, archive = one_file_backup(tmp_path)
    snapshot = create_backup({"outputs": source}, tmp_path / "backups", retention_days=3650)
    listed = list_backups(tmp_path / "backups")
    assert [(Path(info.name).name, info.kind) for info in listed] == [
        (archive.name, "archive"),
        (snapshot.name, "snapshot"),
    ]
    cli = runner.invoke(app, ["backup", "list", "--settings", str(settings_file(tmp_path))])
    assert archive.name in cli.stderr and snapshot.name in cli.stderr
    assert verify_backup(str(archive), tmp_path / "backups")["files"]["outputs/a.json"]["bytes"] == 8
    restore_backup(str(archive), tmp_path / "from-archive", tmp_path / "backups")
    assert json.loads((tmp_path / "from-archive" / "outputs" / "a.json").read_text()) == {"a": 1}
    assert prune_archives(tmp_path / "backups", 30, now=datetime(2027, 1, 15, tzinfo=UTC).timestamp()) == [archive]
    assert [info.kind for info in list_backups(tmp_path / "backups")] == ["snapshot"]


def settings_file(tmp_path: Path) -> Path:
    path = tmp_path / "qualia.yaml"
    path.write_text(f"data_dir: {tmp_path}\n", encoding="utf-8")
    return path


def test_verify_names_tampered_and_missing_files(tmp_path: Path) -> None:
    source, archive = one_file_backup(tmp_path)
    tampered = tmp_path / "tampered.tar.gz"
    with tarfile.open(archive) as original, tarfile.open(tampered, "w:gz") as copy:
        for member in original.getmembers():
            data = original.extractfile(member).read()
            if member.name == "outputs/a.json":
                data = b'{"a": 2}'
            member.size = len(data)
            copy.addfile(member, io.BytesIO(data))
    with pytest.raises(BackupError, match=r"outputs/a.json: checksum mismatch"):
        verify_archive(tampered)
    cli = runner.invoke(app, ["backup", "verify", str(tampered)])
    assert cli.exit_code == 1 and "checksum mismatch" in cli.stderr
    with pytest.raises(BackupError, match="not a Qualia backup"):
        verify_archive(source / "a.json")
    unknown = runner.invoke(app, ["backup", "verify", "nonsense!"])
    assert unknown.exit_code == 1 and "not a snapshot id" in unknown.stderr


def test_restore_refuses_links_and_paths_leaving_the_target(tmp_path: Path) -> None:
    _, archive = one_file_backup(tmp_path)
    hostile = tmp_path / "hostile.tar.gz"
    with tarfile.open(archive) as original, tarfile.open(hostile, "w:gz") as copy:
        for member in original.getmembers():
            copy.addfile(member, original.extractfile(member) if member.isfile() else None)
        link = tarfile.TarInfo("outputs/passwd")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        copy.addfile(link)
    target = tmp_path / "restored"
    with pytest.raises(BackupError, match="unsafe entry 'outputs/passwd'"):
        restore_archive(hostile, target)
    assert not (target / "outputs" / "passwd").exists()


def archive_of(path: Path, manifest: object, files: dict[str, bytes]) -> Path:
    """A tar.gz holding ``manifest`` (as JSON) and ``files``, whatever they say."""
    with tarfile.open(path, "w:gz") as tar:
        for name, data in {"manifest.json": json.dumps(manifest).encode(), **files}.items():
            member = tarfile.TarInfo(name)
            member.size = len(data)
            tar.addfile(member, io.BytesIO(data))
    return path


def entry(data: bytes) -> dict[str, object]:
    return {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}


@pytest.mark.parametrize(
    ("manifest", "named"),
    [
        ({"created": "2026-11-30T00:00:00+00:00", "files": ["a"]}, "files: Input should be an object"),
        ({"files": {}}, "created: Field required"),
        ({"created": "2026-11-30T00:00:00+00:00", "files": {"../../etc/cron.d/x": entry(b"x")}}, "is not a plain path"),
        ({"created": "2026-11-30T00:00:00+00:00", "files": {"a": {"sha256": "zz", "bytes": 1}}}, "not a SHA-256"),
        (
            {
                "created": "2026-11-30T00:00:00+00:00",
                "files": {"a": entry(b"x")},
                "postgres": {"dump": "../../../tmp/evil.dump"},
            },
            "postgres.dump",
        ),
        (
            {"created": "2026-11-30T00:00:00+00:00", "files": {"a": entry(b"x")}, "postgres": {"dump": "b.dump"}},
            "is not among the archived files",
        ),
    ],
)
def test_a_malformed_manifest_is_refused_naming_its_field(tmp_path: Path, manifest: object, named: str) -> None:
    archive = archive_of(tmp_path / "bad.tar.gz", manifest, {"a": b"x"})
    with pytest.raises(BackupError, match=r"manifest\.json is not valid: .*" + re.escape(named)):
        verify_archive(archive)
    cli = runner.invoke(app, ["backup", "verify", str(archive)])
    assert cli.exit_code == 1 and "not valid" in cli.stderr and "Traceback" not in cli.output + cli.stderr


def test_verify_checks_sizes_and_streams_large_files(tmp_path: Path) -> None:
    big = b"0123456789abcdef" * (4 * 1024 * 1024)  # 64 MiB: hashed in chunks, not read whole
    archive = archive_of(
        tmp_path / "big.tar.gz", {"created": "2026-11-30T00:00:00+00:00", "files": {"big": entry(big)}}, {"big": big}
    )
    assert verify_archive(archive)["files"]["big"]["bytes"] == len(big)
    short = archive_of(
        tmp_path / "short.tar.gz",
        {"created": "2026-11-30T00:00:00+00:00", "files": {"a": {**entry(b"xy"), "bytes": 2}}},
        {"a": b"x"},
    )
    with pytest.raises(BackupError, match="a: 1 bytes, the manifest says 2"):
        verify_archive(short)


def test_a_restore_that_fails_midway_leaves_nothing_behind(tmp_path: Path) -> None:
    """'a' is a file, so 'a/b' cannot be unpacked: the restore fails, and the target stays as it was."""
    files = {"a": b"x", "a/b": b"y"}
    manifest = {"created": "2026-11-30T00:00:00+00:00", "files": {name: entry(data) for name, data in files.items()}}
    archive = archive_of(tmp_path / "clash.tar.gz", manifest, files)
    target = tmp_path / "restored"
    with pytest.raises((BackupError, OSError)):
        restore_archive(archive, target)
    assert not target.exists() and not list(tmp_path.glob(".restored.restoring-*"))
    target.mkdir()
    with pytest.raises((BackupError, OSError)):
        restore_archive(archive, target)
    assert target.is_dir() and not any(target.iterdir()) and not list(tmp_path.glob(".restored.restoring-*"))
    _, good = one_file_backup(tmp_path)
    restore_archive(good, target)
    assert json.loads((target / "outputs" / "a.json").read_text()) == {"a": 1}


@requires_restic
def test_cli_backup_create_and_list_without_an_instance(project: dict[str, Path], monkeypatch) -> None:
    monkeypatch.delenv("DAGSTER_HOME")
    created = runner.invoke(app, ["backup", "create"])
    assert created.exit_code == 0, created.stderr
    assert "outputs and inbox only" in created.stderr and "bytes added" in created.stderr
    listed = runner.invoke(app, ["backup", "list"])
    assert "snapshot" in listed.stderr


def test_processing_schedule_requests_missing_and_stale_partitions(project: dict[str, Path]) -> None:
    data = project["data"]
    content = digest(data / "inbox" / "retro_pt.txt")
    with dg.DagsterInstance.get() as instance:
        instance.report_runless_asset_event(  # as the sensor records a file before its run
            dg.AssetObservation("inbox_file", partition="retro_pt.txt", tags={"dagster/data_version": content})
        )
        process(instance, data, "retro_pt.txt")
        instance.add_dynamic_partitions(TRANSCRIPTS.name, ["weekly_sync_pt.vtt", "planning_en.docx"])
        requests = schedule_tick(
            processing_schedule,
            instance=instance,
            resources={"qualia": qualia_resource(data)},
            scheduled_execution_time=datetime(2026, 11, 25, 3, tzinfo=UTC),
        )
        ranges = [
            (r.tags.get("dagster/asset_partition_range_start"), r.tags.get("dagster/asset_partition_range_end"))
            for r in requests
            if RANGE_START in r.tags
        ]
        assert ranges == [("weekly_sync_pt.vtt", "planning_en.docx")]
        corpus = [r for r in requests if RANGE_START not in r.tags]
        assert processing_schedule.job_name == "scheduled_processing"  # a named job, not an anonymous target
        [missing] = [r for r in requests if RANGE_START in r.tags]
        job = definitions_for(Settings(data_dir=data)).resolve_job_def("scheduled_processing")
        ran = job.execute_in_process(instance=instance, tags=missing.tags, asset_selection=missing.asset_selection)
        assert ran.success and ran.dagster_run.tags["qualia/launched_by"] == "schedule"
        assert {"weekly_sync_pt.vtt", "planning_en.docx"} <= instance.get_materialized_partitions(dg.AssetKey("report"))
        assert {key.to_user_string() for key in corpus[0].asset_selection} >= {"corpus_vocabulary", "distinctive_words"}
        instance.report_runless_asset_event(  # seen again with the same content (touched): nothing to redo
            dg.AssetObservation("inbox_file", partition="retro_pt.txt", tags={"dagster/data_version": content})
        )
        again = schedule_tick(
            processing_schedule,
            instance=instance,
            resources={"qualia": qualia_resource(data)},
            scheduled_execution_time=datetime(2026, 11, 25, 3, 30, tzinfo=UTC),
        )
        assert [r.tags[RANGE_START] for r in again if RANGE_START in r.tags] == []  # the others ran above
        instance.report_runless_asset_event(
            dg.AssetObservation("inbox_file", partition="retro_pt.txt", tags={"dagster/data_version": "changed"})
        )
        stale = schedule_tick(
            processing_schedule,
            instance=instance,
            resources={"qualia": qualia_resource(data)},
            scheduled_execution_time=datetime(2026, 11, 25, 4, tzinfo=UTC),
        )
        starts = [r.tags.get("dagster/asset_partition_range_start") for r in stale if RANGE_START in r.tags]
        assert starts == ["retro_pt.txt"]


def assert_statuses_as_dagster_reads_them(instance: dg.DagsterInstance, data: Path) -> None:
    """``partition_statuses``, read for the keys asked, gives what Dagster's status cache gives, for every
    per-transcript asset, and for a single key as for all of them."""
    keys = sorted(instance.get_dynamic_partitions(TRANSCRIPTS.name))
    seen = set()
    for asset in per_transcript_assets(qualia_resource(data)):
        dagster = instance.get_status_by_partition(dg.AssetKey(asset), keys, TRANSCRIPTS) or {}
        expected = {key: status for key, status in dagster.items() if status is not None}
        assert partition_statuses(instance, asset, keys) == expected, asset
        assert partition_statuses(instance, asset, keys[-1:]) == {k: v for k, v in expected.items() if k == keys[-1]}
        seen |= set(expected.values())
    assert seen - {dg.AssetPartitionStatus.MATERIALIZED}, "only materialized partitions: nothing to compare"


def test_processing_schedule_leaves_partitions_an_unfinished_run_will_process(project: dict[str, Path]) -> None:
    data = project["data"]
    keys = ["weekly_sync_pt.vtt", "planning_en.docx"]
    with dg.DagsterInstance.get() as instance:
        instance.add_dynamic_partitions(TRANSCRIPTS.name, keys)
        process = definitions_for(Settings(data_dir=data)).resolve_job_def("process_transcripts")
        instance.create_run_for_job(  # a run the sensor requested, not finished yet (queued, starting or running)
            process, status=dg.DagsterRunStatus.NOT_STARTED, tags={"dagster/partition": "weekly_sync_pt.vtt"}
        )
        assert_statuses_as_dagster_reads_them(instance, data)
        requests = schedule_tick(
            processing_schedule,
            instance=instance,
            resources={"qualia": qualia_resource(data)},
            scheduled_execution_time=datetime(2026, 11, 25, 3, tzinfo=UTC),
        )
        planned = planned_runs(instance, qualia_resource(data), inbox_files(data / "inbox"), False, "cli")
    ranges = [(r.tags[RANGE_START], r.tags[RANGE_END]) for r in requests]
    assert ranges == [("planning_en.docx", "planning_en.docx")]  # not the queued one, and no corpus refresh yet
    taken_by_qualia_run = {key for run in planned for key in run.keys}  # all but the queued one
    assert taken_by_qualia_run == {"planning_en.docx", "customer_interview_en.vtt", "retro_pt.txt"}


def test_health_reports_plugins_breakers_and_disk(project: dict[str, Path]) -> None:
    with dg.DagsterInstance.get() as instance:
        process(instance, project["data"], "retro_pt.txt")
    result = runner.invoke(app, ["health", "--json"])
    assert result.exit_code == 0, result.stderr
    report_ = json.loads(result.stdout)
    assert report_["healthy"] and report_["breakers"]["word_frequency"] == "closed"
    assert report_["inbox"]["transcripts"] == 4 and report_["disk"]["free_bytes"] > 0
    assert report_["dagster"]["reachable"] and report_["problems"] == []


def test_qualia_transcripts_lists_page_by_page(project: dict[str, Path]) -> None:
    with dg.DagsterInstance.get() as instance:
        process(instance, project["data"], "retro_pt.txt")
    keys, cursor, pages = [], None, 0
    while True:
        page = runner.invoke(app, ["transcripts", "--limit", "2", "--json", *(["--cursor", cursor] if cursor else [])])
        assert page.exit_code == 0, page.stderr
        answer = json.loads(page.stdout)
        keys += [(item["key"], item["status"]) for item in answer["items"]]
        pages, cursor = pages + 1, answer["next_cursor"]
        if cursor is None:
            break
    expected = [(name, "received") for name in sorted(path.name for path in SAMPLES.values()) if name != "retro_pt.txt"]
    assert keys == [("retro_pt.txt", "processed"), *expected] and pages == 2
    table = runner.invoke(app, ["transcripts", "--limit", "1"])
    assert "retro_pt.txt" in table.stdout and "next page: qualia transcripts --cursor " in table.stdout
    failed = runner.invoke(app, ["transcripts", "--status", "failed", "--json"])
    assert json.loads(failed.stdout) == {"items": [], "next_cursor": None}
    assert runner.invoke(app, ["transcripts", "--status", "lost"]).exit_code == 2


def test_a_broken_file_fails_once_until_it_changes_or_a_retry_is_asked(project: dict[str, Path]) -> None:
    """Nothing launches a transcript whose content already failed (no hourly failure and alert), nor a corpus
    refresh when nothing changed; a changed file, `qualia run --retry-failed` or the API's launch do."""
    data = project["data"]
    broken = data / "inbox" / "photo.vtt"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n")
    first = runner.invoke(app, ["run"])
    assert first.exit_code == 1 and "photo.vtt" in first.stderr
    with dg.DagsterInstance.get() as instance:
        assert_statuses_as_dagster_reads_them(instance, data)
    words = runner.invoke(app, ["corpus", "distinctive_words", "--transcript", "retro_pt.txt", "--json"])
    assert words.exit_code == 0 and [row["rank"] for row in json.loads(words.stdout)] == list(range(1, 11))
    counted = runner.invoke(app, ["corpus", "--sql", "SELECT count(*) AS n FROM transcripts", "--json"])
    assert json.loads(counted.stdout) == [{"n": len(SAMPLES)}]  # the store the corpus refresh kept, as SQL
    assert "clientes" in runner.invoke(app, ["corpus", "vocabulary", "--limit", "5"]).stdout
    search = ["search", "integracao", "--speaker", "Rafael Costa", "--json"]
    found = json.loads(runner.invoke(app, search).stdout)["matches"]
    assert found and {match["file"] for match in found} == {"retro_pt.txt"}  # the index the refresh kept
    assert "[integração]" in found[0]["context"]

    def hourly(instance: dg.DagsterInstance, hour: int) -> list[dg.RunRequest]:
        return schedule_tick(
            processing_schedule,
            instance=instance,
            resources={"qualia": qualia_resource(data)},
            scheduled_execution_time=datetime(2026, 11, 25, hour, tzinfo=UTC),
        )

    with dg.DagsterInstance.get() as instance:
        runs = len(instance.get_run_records())
        assert hourly(instance, 3) == []  # neither the broken file nor a corpus refresh: nothing changed
    again = runner.invoke(app, ["run"])
    assert again.exit_code == 0 and "nothing new or changed" in again.stderr
    with dg.DagsterInstance.get() as instance:
        assert len(instance.get_run_records()) == runs  # no run at all, not even the corpus
    retried = runner.invoke(app, ["run", "--retry-failed"])
    assert retried.exit_code == 1 and "photo.vtt" in retried.stderr

    broken.write_bytes(b"\x89PNG\r\n\x1a\n another version")
    with dg.DagsterInstance.get() as instance:
        instance.report_runless_asset_event(  # the sensor sees the new content
            dg.AssetObservation("inbox_file", partition="photo.vtt", tags={"dagster/data_version": digest(broken)})
        )
        [request] = hourly(instance, 4)
        assert (request.tags[RANGE_START], request.tags[RANGE_END]) == ("photo.vtt", "photo.vtt")
        assert request.tags["qualia/launched_by"] == "schedule"
        launchers = {run.dagster_run.tags.get("qualia/launched_by") for run in instance.get_run_records()}
        assert launchers == {"cli"}  # every run of `qualia run` says so, the corpus refresh too
        for record in instance.get_run_records():  # and is a run of the code location, as the daemon's are
            run = record.dagster_run
            assert run.tags["dagster/code_location"] == "qualia" and run.remote_job_origin.location_name == "qualia"
            assert run.remote_job_origin.repository_origin.repository_name == "__repository__"
            assert run.job_code_origin.repository_origin.code_pointer.module == "qualia_pipelines.definitions"

    shutil.rmtree(data / "outputs" / "search_index")  # as a restored backup leaves it: derived, not backed up
    assert runner.invoke(app, ["run"]).exit_code == 1  # photo.vtt still fails; the corpus is refreshed
    assert (data / "outputs" / "search_index" / "search.sqlite").is_file()
    assert json.loads(runner.invoke(app, search).stdout)["matches"] == found
