"""Schedules: hourly processing of stale or missing transcripts and a corpus refresh; daily backup, run retention."""

from collections.abc import Mapping
from pathlib import Path

import dagster as dg
from dagster import AssetPartitionStatus

from qualia_pipelines.core.contract import TRANSCRIPT_KEY
from qualia_pipelines.core.resolver import direct_dependencies
from qualia_pipelines.orchestration.assets import TRANSCRIPT_ASSET
from qualia_pipelines.orchestration.corpus_assets import CORPUS_ASSETS, REPORT_ASSET, report
from qualia_pipelines.orchestration.dagster_private import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)
from qualia_pipelines.orchestration.jobs import backup_job, launched_by, prune_runs_job, scheduled_processing
from qualia_pipelines.orchestration.partitions import (
    INBOX_FILE_ASSET,
    TRANSCRIPTS,
    contiguous_ranges,
    partition_statuses,
)
from qualia_pipelines.orchestration.resources import QualiaResource, current_settings
from qualia_pipelines.orchestration.sensors import corpus_out_of_date, observed_data_version, unfinished_runs

BACKUP_CRON = "0 2 * * *"
RETENTION_CRON = "0 3 * * *"


@dg.schedule(
    name="processing_schedule",
    cron_schedule=current_settings().processing_cron,
    job=scheduled_processing,
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Processes transcripts whose outputs are missing or older than their file, then refreshes the "
    "corpus tables.",
)
def processing_schedule(context: dg.ScheduleEvaluationContext, qualia: QualiaResource) -> list[dg.RunRequest]:
    ordered = list(context.instance.get_dynamic_partitions(TRANSCRIPTS.name))
    pending = pending_partitions(context.instance, qualia, ordered)
    per_transcript = [dg.AssetKey(key) for key in per_transcript_assets(qualia)]
    corpus = [dg.AssetKey(key) for key in CORPUS_ASSETS]
    tick = context.scheduled_execution_time.strftime("%Y%m%dT%H%M")
    requests = []
    for first, last in contiguous_ranges(ordered, pending, qualia.batch_size):
        tags = {**launched_by("schedule"), ASSET_PARTITION_RANGE_START_TAG: first, ASSET_PARTITION_RANGE_END_TAG: last}
        requests.append(dg.RunRequest(asset_selection=per_transcript, run_key=f"{tick}:{first}..{last}", tags=tags))
    if corpus_out_of_date(context.instance, Path(qualia.outputs)) and not unfinished_runs(context.instance):
        requests.append(dg.RunRequest(asset_selection=corpus, run_key=f"{tick}:corpus", tags=launched_by("schedule")))
    return requests  # while a drop runs, the corpus sensor refreshes after it


def per_transcript_assets(qualia: QualiaResource) -> list[str]:
    return [TRANSCRIPT_ASSET, *qualia.registry().plugins, REPORT_ASSET]


def last_assets(qualia: QualiaResource) -> list[str]:
    """The per-transcript assets no other one reads (the report, visuals no report shows). A transcript that
    has a materialization of each has one of every per-transcript asset, since each was read to make them:
    so completeness is read from three assets, not eight (each a query over every partition)."""
    registry = qualia.registry()
    read = {key.to_user_string() for key in report.dependency_keys}
    for plugin in registry.plugins.values():
        read.update(direct_dependencies(registry, plugin))
        if TRANSCRIPT_KEY in plugin.requires:
            read.add(TRANSCRIPT_ASSET)
    return [asset for asset in per_transcript_assets(qualia) if asset not in read]


def pending_partitions(
    instance: dg.DagsterInstance, qualia: QualiaResource, ordered: list[str], retry_failed: bool = False
) -> set[str]:
    """Partitions some per-transcript asset lacks, or whose file's content changed after it was parsed.

    A transcript whose current content already failed is left alone until its file changes or
    ``retry_failed`` is asked for: running it again would fail again, and alert again, every hour. Those
    that a queued or running run (the daemon's, the API's) will already process are left to it. A few
    queries per asset whatever the number of partitions; only files observed since they were last tried
    are looked at one by one, and only the pending ones' statuses are read.
    """
    complete = set(ordered)
    for asset in last_assets(qualia):
        complete &= instance.get_materialized_partitions(dg.AssetKey(asset))
    pending = set(ordered) - complete
    observed = instance.get_latest_storage_id_by_partition(
        dg.AssetKey(INBOX_FILE_ASSET), dg.DagsterEventType.ASSET_OBSERVATION
    )
    parsed = instance.get_latest_storage_id_by_partition(
        dg.AssetKey(TRANSCRIPT_ASSET), dg.DagsterEventType.ASSET_MATERIALIZATION
    )
    seen_since = [key for key in complete if key in observed and key in parsed and observed[key] > parsed[key]]
    pending |= {key for key in seen_since if _changed_since(instance, key, parsed[key])}
    statuses = {asset: partition_statuses(instance, asset, sorted(pending)) for asset in per_transcript_assets(qualia)}
    if not retry_failed:
        pending -= failed_as_they_are(instance, statuses, pending, observed)
    in_progress = {
        key
        for found in statuses.values()
        for key, status in found.items()
        if status == AssetPartitionStatus.IN_PROGRESS
    }
    return pending - in_progress  # a queued or running run will process these: asking again would do it twice


def failed_as_they_are(
    instance: dg.DagsterInstance,
    statuses: Mapping[str, Mapping[str, AssetPartitionStatus]],
    keys: set[str],
    observed: Mapping[str, int],
) -> set[str]:
    """Of ``keys``, the transcripts whose last attempt failed (``statuses``: per asset, per partition) and
    whose file has not changed since."""
    failed: dict[str, int] = {}  # key -> storage id of the failed attempt's plan
    for asset, found in statuses.items():
        failed_keys = [key for key, status in found.items() if status == AssetPartitionStatus.FAILED and key in keys]
        if not failed_keys:
            continue
        planned = instance.get_latest_storage_id_by_partition(
            dg.AssetKey(asset), dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED
        )
        for key in failed_keys:
            if key in planned:
                failed[key] = max(failed.get(key, 0), planned[key])
    return {
        key
        for key, attempt in failed.items()
        if observed.get(key, 0) < attempt or not _changed_since(instance, key, attempt)
    }


def _changed_since(instance: dg.DagsterInstance, key: str, since_id: int) -> bool:
    """Whether the file's content hash now differs from the one last observed before event ``since_id`` (a
    file touched or copied over with the same content is observed again, with the same hash)."""
    inbox_file = dg.AssetKey(INBOX_FILE_ASSET)
    now = instance.fetch_observations(dg.AssetRecordsFilter(inbox_file, asset_partitions=[key]), limit=1).records
    then = instance.fetch_observations(
        dg.AssetRecordsFilter(inbox_file, asset_partitions=[key], before_storage_id=since_id), limit=1
    ).records
    return not then or observed_data_version(now[0]) != observed_data_version(then[0])


backup_schedule = dg.ScheduleDefinition(
    name="backup_schedule",
    job=backup_job,
    cron_schedule=BACKUP_CRON,
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Daily backup at 02:00: instance storage, outputs and inbox, verified and pruned.",
)


run_retention_schedule = dg.ScheduleDefinition(
    name="run_retention_schedule",
    job=prune_runs_job,
    cron_schedule=RETENTION_CRON,
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Daily at 03:00: prune run records older than run_retention_days (outputs are kept).",
)
