"""Qualia's Dagster instance: batched SQLite event writes leave exactly what Dagster's own storage leaves."""

import multiprocessing
import shutil
import warnings
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from qualia_pipelines.orchestration import instance as qualia_instance
from qualia_pipelines.orchestration.instance import (
    BATCH_SIZE_ENV,
    BatchingSqliteEventLogStorage,
    QualiaInstance,
)
from qualia_pipelines.orchestration.runs import open_instance
from tests.conftest import OPS

LETTERS = dg.StaticPartitionsDefinition(["a", "b", "c", "d"])
RANGE = {"dagster/asset_partition_range_start": "a", "dagster/asset_partition_range_end": "d"}


@dg.asset(partitions_def=LETTERS, backfill_policy=dg.BackfillPolicy.single_run())
def letters(context: dg.AssetExecutionContext) -> dg.Output:
    return dg.Output({key: key.upper() for key in context.partition_keys}, metadata={"count": 4})


with warnings.catch_warnings():  # partitioned checks are a preview in Dagster 1.13
    warnings.simplefilter("ignore", dg.PreviewWarning)
    PER_LETTER = dg.AssetCheckSpec("per_letter", asset="doubled", partitions_def=LETTERS)


@dg.asset(
    partitions_def=LETTERS,
    backfill_policy=dg.BackfillPolicy.single_run(),
    deps=[letters],
    check_specs=[dg.AssetCheckSpec("not_empty", asset="doubled"), PER_LETTER],
)
def doubled(context: dg.AssetExecutionContext) -> Any:
    """As Qualia's plugin assets report a range: the output, then each partition's materialization (its own data
    version) and check evaluation, each reported on its own."""
    yield dg.AssetObservation(asset_key="doubled", metadata={"seen": len(context.partition_keys)})
    yield dg.Output({key: key * 2 for key in context.partition_keys}, metadata={"length": 2})
    for key in context.partition_keys:
        yield dg.AssetMaterialization(asset_key="doubled", partition=key, tags={"letter": key})
    for key in context.partition_keys:
        yield dg.AssetCheckEvaluation(
            asset_key=dg.AssetKey("doubled"), check_name="per_letter", passed=key != "c", partition=key
        )
    yield dg.AssetCheckResult(check_name="not_empty", passed=True)
    yield dg.Output(None, output_name=context.assets_def.get_output_name_for_asset_check_key(PER_LETTER.key))


def what_was_recorded(instance: dg.DagsterInstance, run_id: str) -> dict[str, Any]:
    """Everything the UI reads about the run: its event log, asset partitions, latest events, checks."""
    recorded: dict[str, Any] = {"run_events": Counter(e.dagster_event_type for e in instance.all_logs(run_id))}
    for name in ("letters", "doubled"):
        key = dg.AssetKey(name)
        materializations = instance.fetch_materializations(key, limit=100).records
        latest = instance.get_latest_materialization_event(key)
        entry = instance.get_asset_records([key])[0].asset_entry
        recorded[name] = {
            "materialized": instance.get_materialized_partitions(key),
            "partitions": sorted(r.partition_key for r in materializations),
            "tag_keys": sorted(
                tuple(sorted(r.asset_materialization.tags)) for r in materializations
            ),  # values: per run
            "planned": [
                p for p in LETTERS.get_partition_keys() if instance.get_latest_planned_materialization_info(key, p)
            ],
            "latest": latest.dagster_event.partition if latest and latest.dagster_event else None,
            "asset_row": (
                entry.last_run_id == run_id,
                entry.last_materialization_record.storage_id == materializations[0].storage_id,
                entry.last_materialization_record.partition_key,
            ),
            "indexed_tags": sorted(tuple(sorted(tags)) for tags in instance.get_event_tags_for_asset(key)),
            "status": instance.get_status_by_partition(key, LETTERS.get_partition_keys(), LETTERS),
        }
    history = instance.event_log_storage.get_asset_check_execution_history(
        dg.AssetCheckKey(dg.AssetKey("doubled"), "not_empty"), limit=10
    )
    recorded["checks"] = [(record.status.value, record.run_id == run_id) for record in history]
    per_letter = instance.event_log_storage.get_asset_check_execution_history(PER_LETTER.key, limit=10)
    recorded["per_letter"] = sorted((r.partition, r.status.value, r.run_id == run_id) for r in per_letter)
    return recorded


def materialize_range(instance: dg.DagsterInstance) -> dict[str, Any]:
    definitions = dg.Definitions(assets=[letters, doubled], resources={"io_manager": dg.mem_io_manager})
    job = definitions.resolve_implicit_global_asset_job_def()
    result = job.execute_in_process(instance=instance, tags=RANGE)
    assert result.success
    return what_was_recorded(instance, result.run_id)


def test_batched_writes_record_what_the_stock_sqlite_storage_records(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    batches: list[Counter[Any]] = []
    store_batch = BatchingSqliteEventLogStorage.store_event_batch

    def counting(storage: BatchingSqliteEventLogStorage, events: Sequence[Any]) -> None:
        if qualia_instance._batchable(events):
            batches.append(Counter(event.dagster_event_type for event in events))
        store_batch(storage, events)

    monkeypatch.setattr(BatchingSqliteEventLogStorage, "store_event_batch", counting)
    (tmp_path / "stock").mkdir()
    with dg.DagsterInstance.from_config(str(tmp_path / "stock")) as stock:
        assert type(stock.event_log_storage).__name__ == "SqliteEventLogStorage"
        expected = materialize_range(stock)
    assert batches == []
    shutil.copy(OPS / "dagster.yaml", tmp_path / "dagster.yaml")
    with dg.DagsterInstance.from_config(str(tmp_path)) as batching:
        assert isinstance(batching, QualiaInstance)
        assert isinstance(batching.event_log_storage, BatchingSqliteEventLogStorage)
        recorded = materialize_range(batching)
    assert recorded == expected
    assert expected["letters"]["materialized"] == {"a", "b", "c", "d"}
    assert expected["doubled"]["planned"] == ["a", "b", "c", "d"]
    assert expected["checks"] == [("SUCCEEDED", True)]
    assert expected["per_letter"] == [(key, "FAILED" if key == "c" else "SUCCEEDED", True) for key in "abcd"]
    assert max(sum(batch.values()) for batch in batches) >= 8, batches  # the run's planned events
    # the step's materializations and check evaluations reported one by one were stored as one batch
    assert {dg.DagsterEventType.ASSET_MATERIALIZATION: 4, dg.DagsterEventType.ASSET_CHECK_EVALUATION: 4} in batches
    assert (tmp_path / "history" / "runs" / "index.db").exists()  # Dagster's own place: the stock class reopens it


def test_an_instance_can_switch_between_the_stock_and_the_batching_class(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with open_instance(tmp_path) as batching:
        assert isinstance(batching, QualiaInstance)
        first = materialize_range(batching)
    (tmp_path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n", encoding="utf-8")
    with dg.DagsterInstance.from_config(str(tmp_path)) as stock:
        assert not isinstance(stock, QualiaInstance)
        assert what_was_recorded(stock, stock.get_runs()[0].run_id) == first


def _open_when_all_are_ready(home: str, start: Any, outcomes: Any) -> None:
    start.wait()
    try:
        open_instance(Path(home)).dispose()
        outcomes.put("opened")
    except Exception as error:  # reported to the test in the parent process
        outcomes.put(f"{type(error).__name__}: {error}")


def test_processes_opening_a_new_instance_at_once_all_open_it(tmp_path: Path) -> None:
    """The API's workers open the instance together; on a new one, Dagster creates its databases then.

    Before the open was serialised, four processes failed here every time ("table ... already exists"),
    and some runs left the schema version stamped twice, which broke every later open.
    """
    context = multiprocessing.get_context("spawn")
    start, outcomes = context.Barrier(4), context.Queue()
    processes = [
        context.Process(target=_open_when_all_are_ready, args=(str(tmp_path), start, outcomes)) for _ in "abcd"
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=120)
    assert [outcomes.get(timeout=10) for _ in processes] == ["opened"] * 4
    with open_instance(tmp_path) as reopened:
        assert reopened.get_runs() == []
    assert (tmp_path / qualia_instance.STORAGE_LOCK).exists()


def test_only_sqlite_storage_is_replaced(postgres_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(BATCH_SIZE_ENV, raising=False)
    with dg.DagsterInstance.get() as instance:
        assert isinstance(instance, QualiaInstance)
        assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
        materialize_range(instance)


def test_runless_entries_store_what_reporting_stores(tmp_path: Path) -> None:
    """``runless_entry`` (bench/scale.py stores a corpus in batches with it, `qualia run` and the API their
    inbox observations) gives the records that ``report_runless_asset_event`` gives: same run, event type,
    asset, partition, tags and metadata."""
    from qualia_pipelines.orchestration.dagster_private import runless_entry

    events = [
        dg.AssetObservation("inbox_file", partition="a.txt", tags={"dagster/data_version": "abc"}, metadata={"n": 1}),
        dg.AssetMaterialization("report", partition="a.txt", metadata={"bytes": 3}),
    ]
    observations = [
        dg.AssetObservation("inbox_file", partition=f"{n}.txt", tags={"dagster/data_version": str(n)})
        for n in range(qualia_instance.EVENT_BATCH_SIZE + 5)
    ]

    def stored(instance: dg.DagsterInstance) -> list[tuple[Any, ...]]:
        found = [
            *instance.fetch_observations(dg.AssetKey("inbox_file"), limit=5).records,
            *instance.fetch_materializations(dg.AssetKey("report"), limit=5).records,
        ]
        return [
            (
                r.run_id,
                r.event_log_entry.dagster_event_type,
                r.asset_key,
                r.partition_key,
                r.event_log_entry.dagster_event.event_specific_data,
            )
            for r in found
        ]

    with open_instance(tmp_path / "reported") as reported, open_instance(tmp_path / "batched") as batched:
        for event in events:
            reported.report_runless_asset_event(event)
        batched.event_log_storage.store_event_batch([runless_entry(event, 1.0) for event in events])
        assert stored(batched) == stored(reported) and len(stored(batched)) == 2
        qualia_instance.report_runless_events(batched, observations)  # two batches
        records = batched.fetch_observations(dg.AssetKey("inbox_file"), limit=1000).records
        assert {r.partition_key: r.asset_observation.tags["dagster/data_version"] for r in records} == {
            "a.txt": "abc",
            **{event.partition: event.tags["dagster/data_version"] for event in observations},
        }
