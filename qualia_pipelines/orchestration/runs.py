"""Processing transcripts through Dagster from outside the daemon: `qualia run` and the REST API.

The same jobs, partitions and range runs as the inbox sensor, executed in the
calling process on the given instance as runs of the `qualia` code location, so
the runs and materializations show up in the Dagster UI like any other.
"""

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import yaml

from qualia_pipelines.core.contract import QualiaError
from qualia_pipelines.core.storage import write_text_atomic
from qualia_pipelines.orchestration.dagster_private import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
    CODE_LOCATION_TAG,
    InMemoryJob,
    JobExecutionResult,
    code_location_job_origin,
    execute_run,
    module_job_origin,
)
from qualia_pipelines.orchestration.instance import INSTANCE_CLASS
from qualia_pipelines.orchestration.jobs import CODE_LOCATION, CORPUS_JOB_NAME, PROCESS_JOB_NAME, launched_by
from qualia_pipelines.orchestration.partitions import TRANSCRIPTS
from qualia_pipelines.orchestration.resources import QualiaResource
from qualia_pipelines.orchestration.schedules import pending_partitions
from qualia_pipelines.orchestration.sensors import record_arrivals, transcript_run_requests

INSTANCE_YAML = "# Created by Qualia. Telemetry off: nothing leaves this machine.\n" + yaml.safe_dump(
    {"telemetry": {"enabled": False}, "instance_class": INSTANCE_CLASS}, sort_keys=False
)


def open_instance(home: Path) -> dg.DagsterInstance:
    """The Dagster instance in ``home``, created on first use with a ``dagster.yaml`` of its own."""
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "dagster.yaml").exists():
        write_text_atomic(home / "dagster.yaml", INSTANCE_YAML)
    return dg.DagsterInstance.from_config(str(home))


def postgres_url(instance: dg.DagsterInstance) -> str | None:
    """The PostgreSQL database holding the instance's runs, events and schedules; None when it is SQLite."""
    storages = (instance.run_storage, instance.event_log_storage, instance.schedule_storage)
    urls = {getattr(storage, "postgres_url", None) for storage in storages}
    if urls == {None}:
        return None
    if len(urls) > 1:
        raise QualiaError("the instance keeps runs, events and schedules in different databases; back them up apart")
    return urls.pop()


FINISHED = [dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED]


def runs_to_prune(instance: dg.DagsterInstance, cutoff: float) -> list[str]:
    """Finished runs last updated before ``cutoff`` (unix time), except those recording the latest state.

    A run that holds the latest materialization or observation of some asset
    partition is kept whatever its age: deleting it would make Dagster forget
    that the partition is processed, and the schedule would process it again.
    """
    keep = _runs_with_latest_events(instance)
    before = datetime.fromtimestamp(cutoff, tz=UTC)
    records = instance.get_run_records(dg.RunsFilter(statuses=FINISHED, updated_before=before))
    return [record.dagster_run.run_id for record in records if record.dagster_run.run_id not in keep]


def _runs_with_latest_events(instance: dg.DagsterInstance) -> set[str]:
    run_ids: set[str] = set()
    kinds = (
        (dg.DagsterEventType.ASSET_MATERIALIZATION, instance.fetch_materializations),
        (dg.DagsterEventType.ASSET_OBSERVATION, instance.fetch_observations),
    )
    for key in instance.get_asset_keys():
        for event_type, fetch in kinds:
            latest = [*instance.get_latest_storage_id_by_partition(key, event_type).values()]
            latest += [record.storage_id for record in fetch(key, limit=1, ascending=False).records]
            for start in range(0, len(latest), 500):
                chunk = latest[start : start + 500]
                records = fetch(dg.AssetRecordsFilter(asset_key=key, storage_ids=chunk), limit=len(chunk)).records
                run_ids |= {record.run_id for record in records}
    return run_ids


QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
"""Run logs stay in the instance (and the UI); callers report outcomes their own way."""


@dataclass(frozen=True)
class PlannedRun:
    """One range run (or single-transcript run), with its id chosen before it starts so callers can quote it."""

    run_id: str
    request: dg.RunRequest
    keys: tuple[str, ...]


def planned_runs(
    instance: dg.DagsterInstance,
    qualia: QualiaResource,
    files: dict[str, Path],
    process_all: bool,
    launcher: str,
    retry_failed: bool = False,
) -> list[PlannedRun]:
    """Record the files' hashes, add their partitions, and plan runs for the new, changed or unprocessed ones
    (those that failed as they are only with ``retry_failed``)."""
    arrived, unreadable = record_arrivals(instance, qualia, files)
    existing = set(instance.get_dynamic_partitions(TRANSCRIPTS.name))
    instance.add_dynamic_partitions(TRANSCRIPTS.name, sorted(set(files) - existing))
    ordered = list(instance.get_dynamic_partitions(TRANSCRIPTS.name))
    pending = pending_partitions(instance, qualia, ordered, retry_failed) if not process_all else set()
    wanted = set(files) if process_all else pending & set(files)
    hashes = {key: arrived.get(key, "") for key in wanted}
    requests = transcript_run_requests(ordered, hashes, unreadable & wanted, qualia.batch_size, launcher)
    return [PlannedRun(str(uuid.uuid4()), request, _keys_of(request, ordered)) for request in requests]


def _keys_of(request: dg.RunRequest, ordered: list[str]) -> tuple[str, ...]:
    if request.partition_key:
        return (request.partition_key,)
    first, last = request.tags[ASSET_PARTITION_RANGE_START_TAG], request.tags[ASSET_PARTITION_RANGE_END_TAG]
    return tuple(ordered[ordered.index(first) : ordered.index(last) + 1])


def execute_planned(instance: dg.DagsterInstance, defs: dg.Definitions, planned: PlannedRun) -> str | None:
    """Run one planned run in this process; the failure message, or None when it succeeded."""
    request = planned.request
    return run_in_code_location(instance, defs, PROCESS_JOB_NAME, request.tags, request.partition_key, planned.run_id)


def refresh_corpus_now(instance: dg.DagsterInstance, defs: dg.Definitions, launcher: str) -> str | None:
    """Recompute the corpus tables; the failure message, or None when it succeeded."""
    failure = run_in_code_location(instance, defs, CORPUS_JOB_NAME, launched_by(launcher))
    return None if failure is None else "corpus: " + failure


def run_in_code_location(
    instance: dg.DagsterInstance,
    defs: dg.Definitions,
    job_name: str,
    tags: Mapping[str, str],
    partition_key: str | None = None,
    run_id: str | None = None,
) -> str | None:
    """Execute the job in this process as a run of Qualia's code location: the failure message, or None.

    ``execute_in_process`` records a run with no origin, which the UI shows apart from the daemon's runs
    (not on the Overview timeline, no re-execution). This run names the same code location, repository and
    module as the webserver's workspace, so the UI finds the job and treats the run like any other.
    """
    job = defs.resolve_job_def(job_name)
    partition_tags = job.get_tags_for_partition_key(partition_key, None) if partition_key else {}
    run = instance.create_run_for_job(
        job_def=job,
        run_id=run_id,
        run_config=QUIET,
        tags={**job.run_tags, **partition_tags, **tags, CODE_LOCATION_TAG: CODE_LOCATION},
        remote_job_origin=code_location_job_origin(job_name, CODE_LOCATION),
        job_code_origin=module_job_origin(job_name),
    )
    result = execute_run(InMemoryJob(job), run, instance)
    return None if result.success else failure_message(result)


def failure_message(result: dg.ExecuteInProcessResult | JobExecutionResult) -> str:
    failures = [event for event in result.all_events if event.event_type_value == "STEP_FAILURE"]
    errors = [
        str(event.event_specific_data.error.message).strip()
        for event in failures
        if event.event_specific_data and event.event_specific_data.error
    ]
    return "; ".join(errors or [event.message or "" for event in failures]) or "run failed"
