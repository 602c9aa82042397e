"""Schedules: hourly processing of stale or missing transcripts and a corpus refresh; daily backup, run retention."""

import dagster as dg
from dagster._core.storage.partition_status_cache import AssetPartitionStatus
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from qualia_pipelines.orchestration.assets import INBOX_FILE_ASSET, TRANSCRIPT_ASSET
from qualia_pipelines.orchestration.corpus_assets import CORPUS_ASSETS, REPORT_ASSET
from qualia_pipelines.orchestration.jobs import backup_job, prune_runs_job
from qualia_pipelines.orchestration.partitions import TRANSCRIPTS, contiguous_ranges, partition_statuses
from qualia_pipelines.orchestration.resources import QualiaResource, current_settings
from qualia_pipelines.orchestration.sensors import unfinished_runs

BACKUP_CRON = "0 2 * * *"
RETENTION_CRON = "0 3 * * *"


@dg.schedule(
    name="processing_schedule",
    cron_schedule=current_settings().processing_cron,
    target=dg.AssetSelection.all(),
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
        tags = {ASSET_PARTITION_RANGE_START_TAG: first, ASSET_PARTITION_RANGE_END_TAG: last}
        requests.append(dg.RunRequest(asset_selection=per_transcript, run_key=f"{tick}:{first}..{last}", tags=tags))
    if ordered and not unfinished_runs(context.instance):  # while a drop runs, the corpus sensor refreshes after it
        requests.append(dg.RunRequest(asset_selection=corpus, run_key=f"{tick}:corpus"))
    return requests


def _in_progress_partitions(instance: dg.DagsterInstance, qualia: QualiaResource, ordered: list[str]) -> set[str]:
    """Partitions a queued or running run already plans to materialize: asking again would process them twice."""
    busy: set[str] = set()
    for asset in per_transcript_assets(qualia):
        statuses = partition_statuses(instance, asset, ordered)
        busy |= {key for key, status in statuses.items() if status == AssetPartitionStatus.IN_PROGRESS}
    return busy


def per_transcript_assets(qualia: QualiaResource) -> list[str]:
    return [TRANSCRIPT_ASSET, *qualia.registry().plugins, REPORT_ASSET]


def pending_partitions(instance: dg.DagsterInstance, qualia: QualiaResource, ordered: list[str]) -> set[str]:
    """Partitions some per-transcript asset lacks, or whose file was seen changing after it was parsed.

    Those that a queued or running run (the daemon's, the API's) will already process are left to it.
    """
    complete = set(ordered)
    for asset in per_transcript_assets(qualia):
        complete &= instance.get_materialized_partitions(dg.AssetKey(asset))
    pending = set(ordered) - complete
    for key in complete:
        seen = instance.fetch_observations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey(INBOX_FILE_ASSET), asset_partitions=[key]), limit=1
        ).records
        parsed = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey(TRANSCRIPT_ASSET), asset_partitions=[key]), limit=1
        ).records
        if seen and parsed and seen[0].timestamp > parsed[0].timestamp:
            pending.add(key)
    return pending - _in_progress_partitions(instance, qualia, ordered)


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
