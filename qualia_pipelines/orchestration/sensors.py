"""Sensors: the inbox (new and changed transcripts), the plugins' circuit breakers, and run-failure alerts."""

import hashlib
import json
import os
import time
from collections.abc import Iterable, Mapping
from functools import lru_cache, partial
from pathlib import Path
from typing import Any

import dagster as dg

from qualia_pipelines.core.alerts import Alert
from qualia_pipelines.core.contract import QualiaError
from qualia_pipelines.core.inbox import InboxScan, Known, Observation, observe, settled, settled_after_waiting
from qualia_pipelines.core.readers import check_file
from qualia_pipelines.core.workers import SupervisedWorker, no_state
from qualia_pipelines.orchestration.assets import breaker_states
from qualia_pipelines.orchestration.corpus_assets import CORPUS_ASSETS, corpus_inputs, search_file
from qualia_pipelines.orchestration.dagster_private import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
    DATA_VERSION_TAG,
    NOT_FINISHED_STATUSES,
)
from qualia_pipelines.orchestration.instance import report_runless_events
from qualia_pipelines.orchestration.jobs import BACKUP_JOB_NAME, launched_by, process_transcripts, refresh_corpus
from qualia_pipelines.orchestration.partitions import (
    FIRST_RANGE_SIZE,
    INBOX_FILE_ASSET,
    TRANSCRIPTS,
    contiguous_ranges,
    partition_key,
)
from qualia_pipelines.orchestration.resources import AlertsResource, QualiaResource

INBOX_INTERVAL_S = int(os.environ.get("QUALIA_SENSOR_INTERVAL_S", "10"))
# Checked at every pass of the daemon's sensor loop (one per 5 s): a minimum equal to the loop's period
# lets a pass fall just short of it and skip, so a drop's refresh waited up to two passes. A check is
# a few indexed queries.
CORPUS_INTERVAL_S = 1
BREAKER_INTERVAL_S = 30


@dg.sensor(
    name="inbox_sensor",
    job=process_transcripts,
    minimum_interval_seconds=INBOX_INTERVAL_S,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Adds a partition for each new or changed transcript in the inbox once it has stopped growing "
    "(unchanged between two ticks, or untouched for 5 s: when first seen, or after waiting for that in the tick), "
    "and requests runs: neighbouring new transcripts share one run; a file that cannot be read gets a run of its "
    "own, which fails with the reason and holds up nothing else. Inbox files are only read.",
)
def inbox_sensor(context: dg.SensorEvaluationContext, qualia: QualiaResource) -> dg.SensorResult:
    started = time.monotonic()
    scan = InboxScan.from_json(context.cursor)
    current = observe(qualia.inbox_dir)
    looked, later = scan.to_look_at(current)
    keys = {path: partition_key(qualia.inbox_dir, Path(path)) for path in looked}
    recorded = recorded_files(context.instance, set(keys.values()))
    existing = context.instance.get_dynamic_partitions(TRANSCRIPTS.name) if recorded else None
    # A file recorded without its partition (a tick lost between storing the two) is read as new again.
    registered = set(existing or ())
    recorded = {key: known for key, known in recorded.items() if key in registered}
    # Recorded as they are (by an earlier look, `qualia run`, the API): nothing to wait for or read.
    known = {path for path, key in keys.items() if key in recorded and recorded[key].look == looked[path]}
    unknown = {path: look for path, look in looked.items() if path not in known}
    ready = set(settled(scan.pending, unknown))
    fresh = {path: look for path, look in unknown.items() if path not in ready}
    waiting_from = time.monotonic()
    ready.update(settled_after_waiting(fresh, qualia.sensor_settle_wait_s))
    arriving = {path: look for path, look in unknown.items() if path not in ready}
    deadline = reading_deadline(waiting_from - started, qualia.sensor_tick_budget_s)
    seen: dict[str, Known] = {}  # partition key -> what was found, for files read now
    arrived: dict[str, str] = {}  # partition key -> digest, for new or changed files
    unreadable: set[str] = set()
    left: dict[str, Observation] = {}  # settled, but over this tick's limits or unreadable for now
    for path in sorted(ready, key=lambda path: (looked[path].ctime_ns, path)):  # oldest change first
        look, key = looked[path], keys[path]
        over = len(arrived) >= qualia.sensor_max_files or (bool(seen) and time.monotonic() > deadline)
        digest = None if over else _sha256(Path(path))
        if digest is None:
            left[path] = look
            continue
        seen[key] = Known(look, digest)
        if key not in recorded or recorded[key].digest != digest:
            arrived[key] = digest
            if not _readable(Path(path), qualia):
                unreadable.add(key)
    if left or later:
        context.log.info(
            f"took {len(arrived)} new files; {len(left)} more wait for the next tick, "
            f"and {len(later)} that may have changed are looked at from then"
        )
    taken = [looked[path] for path in known] + [found.look for found in seen.values()]
    cursor = scan.advanced(taken, {**arriving, **left}, len(left), later.values()).to_json()
    paths = {key: Path(path) for path, key in keys.items()}
    # Every file read gets its look recorded, a touched file with the same content too (same data version),
    # here and in batches: as the tick's asset events, the daemon stored them one by one (20 ms each) before
    # it created the tick's runs.
    report_runless_events(context.instance, [inbox_file_observation(k, paths[k], seen[k]) for k in sorted(seen)])
    if not arrived:
        reason = f"no new or changed transcripts ({len(current)} in inbox, {len(arriving)} still arriving)"
        if known:
            reason += f"; {len(known)} already taken as they are"
        if later:
            reason += f"; {len(later)} more to look at from the next tick"
        return dg.SensorResult(skip_reason=reason, cursor=cursor)
    if existing is None:
        existing = context.instance.get_dynamic_partitions(TRANSCRIPTS.name)
    new_keys = sorted(set(arrived) - set(existing))
    return dg.SensorResult(
        run_requests=transcript_run_requests(
            [*existing, *new_keys],
            arrived,
            unreadable,
            qualia.batch_size,
            "sensor",
            # Continuing a drop the last tick began: its first results are already on their way.
            first_size=qualia.batch_size if scan.waiting else FIRST_RANGE_SIZE,
        ),
        dynamic_partitions_requests=[TRANSCRIPTS.build_add_request(new_keys)] if new_keys else [],
        cursor=cursor,
    )


def reading_deadline(spent_s: float, budget_s: float) -> float:
    """When a tick stops reading new files: once its own work (the listing and lookups it has ``spent_s`` on,
    then reading; not its wait for files to settle) has taken ``budget_s``, so a tick stays short at 100,000
    files too, with at least half the budget for reading however long the listing took. Each tick reads at
    least one file all the same."""
    return time.monotonic() + max(budget_s - spent_s, budget_s / 2)


def inbox_file_observation(key: str, path: Path, known: Known) -> dg.AssetObservation:
    """The file's content hash as the data version of its ``inbox_file`` partition, and its look: what the
    sensor compares a file with to know it was taken as it is, and what the UI shows of it."""
    look = known.look
    return dg.AssetObservation(
        INBOX_FILE_ASSET,
        partition=key,
        tags={DATA_VERSION_TAG: known.digest},
        metadata={
            "path": dg.MetadataValue.path(str(path.absolute())),
            "file_name": path.name,
            "size_bytes": look.size,
            "modified": dg.MetadataValue.timestamp(look.mtime_ns / 1e9),
            "mtime_ns": look.mtime_ns,
            "ctime_ns": look.ctime_ns,
            "device": look.device,
        },
    )


def recorded_files(instance: dg.DagsterInstance, keys: set[str]) -> dict[str, Known]:
    """What the last ``inbox_file`` observation of each partition recorded: the file's look (empty where an
    older Qualia recorded none) and content hash."""
    found: dict[str, Known] = {}
    for record in latest_inbox_observations(instance, keys):
        digest = observed_data_version(record)
        if digest and record.partition_key and record.asset_observation:
            found[record.partition_key] = Known(_recorded_look(record.asset_observation.metadata), digest)
    return found


def latest_inbox_observations(instance: dg.DagsterInstance, keys: set[str]) -> list[dg.EventLogRecord]:
    """The last ``inbox_file`` observation of each of ``keys`` that has one: the latest records' ids (of
    ``keys``, 500 per query, or of every partition in one query when there are many), then one query per 500
    records. At 100,000 partitions, 2,000 keys take 0.05 s of ids and every partition 0.3-0.4 s."""
    asset_key = dg.AssetKey(INBOX_FILE_ASSET)
    observed = dg.DagsterEventType.ASSET_OBSERVATION
    if len(keys) > _MANY_KEYS:
        latest = instance.get_latest_storage_id_by_partition(asset_key, observed)
    else:
        ordered, latest = sorted(keys), {}
        for start in range(0, len(ordered), _QUERY_CHUNK):
            chunk = set(ordered[start : start + _QUERY_CHUNK])
            latest.update(instance.get_latest_storage_id_by_partition(asset_key, observed, partitions=chunk))
    ids = sorted(latest[key] for key in keys if key in latest)
    records: list[dg.EventLogRecord] = []
    for start in range(0, len(ids), _QUERY_CHUNK):
        chunk = ids[start : start + _QUERY_CHUNK]
        records += instance.fetch_observations(
            dg.AssetRecordsFilter(asset_key, storage_ids=chunk), limit=len(chunk)
        ).records
    return records


def observed_data_version(record: dg.EventLogRecord) -> str | None:
    """The data version (an inbox file's content hash) an observation record carries."""
    observation = record.asset_observation
    return observation.tags.get(DATA_VERSION_TAG) if observation else None


_QUERY_CHUNK = 500
_MANY_KEYS = 5_000


def _recorded_look(metadata: Mapping[str, dg.MetadataValue]) -> Observation | None:
    values = [metadata.get(name) for name in ("size_bytes", "mtime_ns", "ctime_ns", "device")]
    if any(value is None for value in values):
        return None
    return Observation(*(int(value.value) for value in values))


def transcript_run_requests(
    ordered: list[str],
    arrived: dict[str, str],
    unreadable: set[str],
    batch_size: int,
    launcher: str,
    first_size: int = FIRST_RANGE_SIZE,
) -> list[dg.RunRequest]:
    """One run per range of readable neighbours (the first one small); one run per unreadable file; each tagged
    with what launched it."""
    requests = []
    readable = set(arrived) - unreadable
    tags = launched_by(launcher)
    for first, last in contiguous_ranges(ordered, readable, batch_size, first_size):
        if first == last:
            requests.append(dg.RunRequest(partition_key=first, run_key=f"{first}:{arrived[first][:16]}", tags=tags))
        else:
            in_range = ordered[ordered.index(first) : ordered.index(last) + 1]
            fingerprint = hashlib.sha256("".join(arrived[k] for k in in_range).encode())  # all readable: a range
            requests.append(
                dg.RunRequest(
                    run_key=f"{first}..{last}:{fingerprint.hexdigest()[:12]}",
                    tags={**tags, ASSET_PARTITION_RANGE_START_TAG: first, ASSET_PARTITION_RANGE_END_TAG: last},
                )
            )
    for key in sorted(unreadable):
        requests.append(dg.RunRequest(partition_key=key, run_key=f"{key}:{arrived[key][:16]}", tags=tags))
    return requests


@lru_cache(maxsize=1)
def _file_checker(memory_bytes: int) -> SupervisedWorker:
    """The worker process that checks new files, kept for this process's lifetime."""
    return SupervisedWorker(no_state, memory_bytes=memory_bytes)


def _readable(path: Path, qualia: QualiaResource) -> bool:
    """Whether the file reads as a transcript, checked in a worker process under the work deadline and memory
    cap: a file that would take a reader too long or too much is marked failed, and the tick goes on."""
    checker = _file_checker(qualia.engine_memory_bytes)
    try:
        checker.call(partial(check_file, str(path), qualia.max_bytes), qualia.work_timeout_s)
    except QualiaError:
        return False
    return True


def _sha256(path: Path) -> str | None:
    try:
        with path.open("rb") as handle:
            return hashlib.file_digest(handle, "sha256").hexdigest()
    except OSError:  # vanished or unreadable between looks: try again next tick
        return None


@dg.sensor(
    name="circuit_breaker_sensor",
    minimum_interval_seconds=BREAKER_INTERVAL_S,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Reports each plugin's circuit breaker (from failures in the event log) and sends an alert when "
    "one opens, half-opens or closes.",
)
def circuit_breaker_sensor(
    context: dg.SensorEvaluationContext, qualia: QualiaResource, alerts: AlertsResource
) -> dg.SensorResult:
    states = breaker_states(context.instance, qualia)
    previous: dict[str, Any] = json.loads(context.cursor) if context.cursor else {}
    changes = [
        (plugin, previous.get(plugin, "closed"), state)
        for plugin, state in states.items()
        if previous.get(plugin, "closed") != state
    ]
    for plugin, before, after in changes:
        context.log.warning(f"circuit breaker {plugin}: {before} -> {after}")
        # A failed delivery raises before the cursor moves, so the change is announced again next tick.
        alerts.send(breaker_alert(plugin, before, after))
    not_closed = {plugin: state for plugin, state in states.items() if state != "closed"}
    summary = ", ".join(f"{plugin} {state}" for plugin, state in not_closed.items()) or "all breakers closed"
    described = "; ".join(f"{plugin}: {before} -> {after}" for plugin, before, after in changes)
    message = f"{summary}; changes: {described}" if changes else summary
    return dg.SensorResult(skip_reason=message, cursor=json.dumps(states))


@dg.sensor(
    name="corpus_sensor",
    job=refresh_corpus,
    minimum_interval_seconds=CORPUS_INTERVAL_S,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Refreshes the corpus tables once a drop has been processed: when transcripts were materialized "
    "after the last refresh and no other run is queued or in progress.",
)
def corpus_sensor(context: dg.SensorEvaluationContext, qualia: QualiaResource) -> dg.SensorResult:
    newest_input = _latest_storage_id(context.instance, corpus_inputs())
    if newest_input is None:
        return dg.SensorResult(skip_reason="no transcript processed yet")
    if not corpus_out_of_date(context.instance, Path(qualia.outputs)):
        return dg.SensorResult(skip_reason="corpus tables are up to date")
    busy = unfinished_runs(context.instance)
    if busy:
        return dg.SensorResult(skip_reason=f"waiting for {len(busy)} run(s) to finish before refreshing the corpus")
    return dg.SensorResult(
        run_requests=[dg.RunRequest(run_key=f"corpus-after-{newest_input}", tags=launched_by("sensor"))]
    )


def corpus_out_of_date(instance: dg.DagsterInstance, outputs: Path | None = None) -> bool:
    """Whether a transcript was materialized after the corpus tables last were, or (given ``outputs``) the
    search index is missing though transcripts were processed: a restored backup leaves it out (derived), and
    the refresh rebuilds it."""
    newest_input = _latest_storage_id(instance, corpus_inputs())
    if newest_input is None:
        return False
    return newest_input > (_latest_storage_id(instance, CORPUS_ASSETS) or 0) or (
        outputs is not None and not search_file(outputs).exists()
    )


def unfinished_runs(instance: dg.DagsterInstance) -> list[str]:
    """Job names of the runs a corpus refresh waits for: every unfinished run but a backup."""
    return [
        record.dagster_run.job_name
        for record in instance.get_run_records(dg.RunsFilter(statuses=list(NOT_FINISHED_STATUSES)))
        if record.dagster_run.job_name != BACKUP_JOB_NAME
    ]


def _latest_storage_id(instance: dg.DagsterInstance, assets: Iterable[str]) -> int | None:
    ids = [
        record.storage_id
        for asset in assets
        for record in instance.fetch_materializations(dg.AssetKey(asset), limit=1, ascending=False).records
    ]
    return max(ids, default=None)


def record_arrivals(
    instance: dg.DagsterInstance, qualia: QualiaResource, files: dict[str, Path]
) -> tuple[dict[str, str], set[str]]:
    """For a run outside the sensor: record new or changed files' hashes as ``inbox_file`` data versions.

    Returns the hash of every file whose hash differs from the last one recorded,
    and the keys of files that cannot be read.
    """
    recorded = recorded_files(instance, set(files))
    arrived: dict[str, str] = {}
    unreadable: set[str] = set()
    observations = []
    for key, path in files.items():
        try:
            stat = path.stat()
        except OSError:
            continue
        look = Observation.of(stat)
        digest = _sha256(path)
        if digest is None:
            continue
        known = recorded.get(key)
        if known is None or known.digest != digest:
            arrived[key] = digest
            observations.append(inbox_file_observation(key, path, Known(look, digest)))
        if not _readable(path, qualia):
            unreadable.add(key)
    report_runless_events(instance, observations)
    return arrived, unreadable


def breaker_alert(plugin: str, before: str, after: str) -> Alert:
    return Alert(
        event=f"breaker_{after}",
        summary=f"circuit breaker of plugin {plugin}: {before} -> {after}",
        assets=[plugin],
        details={"plugin": plugin, "before": before, "after": after},
    )


@dg.run_failure_sensor(
    name="run_failure_alert_sensor",
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=INBOX_INTERVAL_S,
    description="Sends an alert naming the failed assets, the partition and the error of every failed run "
    "(signed webhook and/or Sentry; see alert_webhook_url).",
)
def run_failure_alert_sensor(context: dg.RunFailureSensorContext, alerts: AlertsResource) -> None:
    if not alerts.destinations:
        context.log.info(f"run {context.dagster_run.run_id} failed; no alert destination is configured")
        return
    alerts.send(run_failure_alert(context))


def run_failure_alert(context: dg.RunFailureSensorContext) -> Alert:
    """The failed steps' assets and errors, or the run's own failure (a crashed worker has no failed step)."""
    run = context.dagster_run
    failures = context.get_step_failure_events()
    assets = sorted({event.step_key for event in failures if event.step_key})
    errors = [_error_text(event.event_specific_data.error) for event in failures if event.event_specific_data]
    error = "; ".join(e for e in errors if e) or context.failure_event.message or "run failed"
    partition = run.tags.get("dagster/partition") or _range(run.tags)
    where = f" (partition {partition})" if partition else ""
    return Alert(
        event="run_failure",
        summary=f"{run.job_name} run {run.run_id[:8]} failed{where}: {', '.join(assets) or 'no step failed'}",
        assets=assets,
        partition=partition,
        error=error,
        run_id=run.run_id,
        details={"job": run.job_name, "tags": dict(run.tags)},
    )


def _error_text(error: Any) -> str:
    """The innermost cause: the plugin's own message rather than Dagster's wrapper."""
    while error is not None and getattr(error, "cause", None) is not None:
        error = error.cause
    return (error.message or "").strip() if error is not None else ""


def _range(tags: dict[str, str]) -> str | None:
    start, end = tags.get(ASSET_PARTITION_RANGE_START_TAG), tags.get(ASSET_PARTITION_RANGE_END_TAG)
    return f"{start}...{end}" if start and end else None
