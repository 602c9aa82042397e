"""One dynamic partition per transcript file in the inbox."""

from collections.abc import Iterable
from pathlib import Path

import dagster as dg
from dagster import AssetPartitionStatus

from qualia_pipelines.core.inbox import supported_names
from qualia_pipelines.core.naming import transcript_key
from qualia_pipelines.orchestration.dagster_private import NOT_FINISHED_STATUSES

TRANSCRIPTS = dg.DynamicPartitionsDefinition(name="transcripts")
INBOX_FILE_ASSET = "inbox_file"
"""The observed asset whose partitions are the inbox files (its data version: each file's SHA-256)."""


def inbox_files(inbox: Path) -> dict[str, Path]:
    """Partition key -> file, for every supported file below ``inbox``, in order of relative path."""
    return {key: inbox / name for key, name in inbox_names(inbox).items()}


def inbox_names(inbox: Path) -> dict[str, str]:
    """Partition key -> path relative to ``inbox`` (with ``/``), in order of relative path: the listing without
    a ``Path`` per file, which at 100,000 files costs more than the listing itself."""
    return {transcript_key(name): name for name in sorted(supported_names(inbox))}


def inbox_paths(inbox: Path, keys: Iterable[str]) -> dict[str, Path]:
    """The inbox file of each of ``keys`` that has one. A plain file name is its own key and is looked up
    directly; only other keys (slugged names, files in subfolders) need a listing of the inbox, so a run
    of plain names costs what the run costs, not what the inbox holds."""
    found: dict[str, Path] = {}
    listed: list[str] = []
    for key in keys:
        path = inbox / key
        if transcript_key(key) == key and path.is_file():
            found[key] = path
        else:
            listed.append(key)
    if listed:
        files = inbox_files(inbox)
        found.update({key: files[key] for key in listed if key in files})
    return found


def partition_key(inbox: Path, path: Path) -> str:
    """Readable and stable: the file name, or its relative path when it sits in a subfolder."""
    return transcript_key(path.relative_to(inbox).as_posix())


def partition_statuses(instance: dg.DagsterInstance, asset: str, keys: list[str]) -> dict[str, AssetPartitionStatus]:
    """Dagster's status of each of ``keys`` for a per-transcript asset (keys it knows nothing of are absent),
    read for those keys only.

    As ``get_status_by_partition`` decides it: in progress while the run of the key's latest planned
    materialization (one newer than its latest materialization) is unfinished, failed when that run failed,
    else materialized once materialized. ``get_status_by_partition`` reads the asset's whole status cache,
    a second per asset at 100,000 partitions; these queries cost what ``keys`` cost.
    """
    asset_key = dg.AssetKey(asset)
    done, planned = {}, {}
    for start in range(0, len(keys), _KEYS_PER_QUERY):
        chunk = set(keys[start : start + _KEYS_PER_QUERY])
        done.update(instance.get_latest_storage_id_by_partition(asset_key, _MATERIALIZED, partitions=chunk))
        planned.update(instance.get_latest_storage_id_by_partition(asset_key, _PLANNED, partitions=chunk))
    attempts = sorted(storage_id for key, storage_id in planned.items() if storage_id > done.get(key, 0))
    run_of: dict[str, str] = {}
    for start in range(0, len(attempts), _KEYS_PER_QUERY):
        chunk = attempts[start : start + _KEYS_PER_QUERY]
        found = instance.event_log_storage.get_event_records(
            dg.EventRecordsFilter(_PLANNED, asset_key=asset_key, storage_ids=chunk), limit=len(chunk)
        )
        run_of.update({record.partition_key: record.run_id for record in found if record.partition_key})
    run_ids = sorted(set(run_of.values()))
    runs = {run.run_id: run.status for run in instance.get_runs(dg.RunsFilter(run_ids=run_ids))} if run_ids else {}
    statuses = {}
    for key in keys:
        attempt = runs.get(run_of.get(key, ""))
        if attempt in NOT_FINISHED_STATUSES:
            statuses[key] = AssetPartitionStatus.IN_PROGRESS
        elif attempt == dg.DagsterRunStatus.FAILURE:
            statuses[key] = AssetPartitionStatus.FAILED
        elif key in done:
            statuses[key] = AssetPartitionStatus.MATERIALIZED
    return statuses


_KEYS_PER_QUERY = 500
_MATERIALIZED = dg.DagsterEventType.ASSET_MATERIALIZATION
_PLANNED = dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED


FIRST_RANGE_SIZE = 4


def contiguous_ranges(
    ordered: list[str], wanted: set[str], max_size: int, first_size: int = FIRST_RANGE_SIZE
) -> list[tuple[str, str]]:
    """Group ``wanted`` keys into runs of neighbours in partition order, at most ``max_size`` each.

    A range run processes many transcripts in one Dagster run (one process, one
    engine), which keeps orchestration overhead per transcript small. The first
    range holds at most ``first_size`` keys so that a big drop shows its first
    results within seconds rather than after a whole batch.
    """
    ranges: list[list[str]] = []
    previous_wanted = False
    for key in ordered:
        limit = min(max_size, first_size) if len(ranges) == 1 else max_size
        if key in wanted and previous_wanted and len(ranges[-1]) < limit:
            ranges[-1].append(key)
        elif key in wanted:
            ranges.append([key])
        previous_wanted = key in wanted
    return [(group[0], group[-1]) for group in ranges]
