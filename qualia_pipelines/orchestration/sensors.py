"""Sensors: the inbox (new and changed transcripts) and the plugins' circuit breakers."""

import hashlib
import json
import time
from pathlib import Path
from typing import Any

import dagster as dg

from qualia_pipelines.core.inbox import Observation, observe, settled
from qualia_pipelines.orchestration.assets import plugin_breaker
from qualia_pipelines.orchestration.jobs import process_transcripts
from qualia_pipelines.orchestration.partitions import TRANSCRIPTS, partition_key
from qualia_pipelines.orchestration.resources import QualiaResource

INBOX_INTERVAL_S = 15
BREAKER_INTERVAL_S = 30


@dg.sensor(
    name="inbox_sensor",
    job=process_transcripts,
    minimum_interval_seconds=INBOX_INTERVAL_S,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Adds a partition for each new or changed transcript in the inbox, once it has stopped growing, "
    "and requests its run. Inbox files are only read.",
)
def inbox_sensor(context: dg.SensorEvaluationContext, qualia: QualiaResource) -> dg.SensorResult:
    state = json.loads(context.cursor) if context.cursor else {"seen": {}, "hashes": {}}
    previous = {path: Observation(*values) for path, values in state["seen"].items()}
    current = observe(qualia.inbox_dir)
    hashes: dict[str, str] = state["hashes"]
    new_keys: list[str] = []
    requests: list[dg.RunRequest] = []
    for path in settled(previous, current):
        digest = _sha256(Path(path))
        if digest is None or hashes.get(path) == digest:
            continue
        hashes[path] = digest
        key = partition_key(qualia.inbox_dir, Path(path))
        if not context.instance.has_dynamic_partition(TRANSCRIPTS.name, key):
            new_keys.append(key)
        requests.append(dg.RunRequest(partition_key=key, run_key=f"{key}:{digest[:16]}", tags={"qualia/source": path}))
    growing = len([p for p in current if previous.get(p) != current[p]])
    cursor = {
        "seen": {path: [o.size, o.mtime_ns] for path, o in current.items()},
        "hashes": {path: digest for path, digest in hashes.items() if path in current},
    }
    if not requests:
        reason = f"no new or changed transcripts ({len(current)} in inbox, {growing} still arriving)"
        return dg.SensorResult(skip_reason=reason, cursor=json.dumps(cursor))
    return dg.SensorResult(
        run_requests=requests,
        dynamic_partitions_requests=[TRANSCRIPTS.build_add_request(new_keys)] if new_keys else [],
        cursor=json.dumps(cursor),
    )


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
    description="Reports each plugin's circuit breaker (from failures in the event log) and its changes.",
)
def circuit_breaker_sensor(context: dg.SensorEvaluationContext, qualia: QualiaResource) -> dg.SensorResult:
    states = breaker_states(context.instance, qualia)
    previous: dict[str, Any] = json.loads(context.cursor) if context.cursor else {}
    changes = [
        f"{plugin}: {previous.get(plugin, 'closed')} -> {state}"
        for plugin, state in states.items()
        if previous.get(plugin, "closed") != state
    ]
    for change in changes:
        context.log.warning(f"circuit breaker {change}")
    not_closed = {plugin: state for plugin, state in states.items() if state != "closed"}
    summary = ", ".join(f"{plugin} {state}" for plugin, state in not_closed.items()) or "all breakers closed"
    message = f"{summary}; changes: {'; '.join(changes)}" if changes else summary
    return dg.SensorResult(skip_reason=message, cursor=json.dumps(states))


def breaker_states(instance: dg.DagsterInstance, qualia: QualiaResource) -> dict[str, str]:
    now = time.time()
    return {
        plugin_id: plugin_breaker(instance, plugin_id, qualia, now).state for plugin_id in qualia.registry().plugins
    }
