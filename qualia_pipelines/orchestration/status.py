"""What the Dagster instance knows about transcripts and plugins, for `qualia health` and the REST API."""

from __future__ import annotations

import base64
import json
import shutil
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import dagster as dg

from qualia_pipelines.core.contract import QualiaError
from qualia_pipelines.core.inbox import supported_names
from qualia_pipelines.core.settings import Settings
from qualia_pipelines.core.shapes import sentiment_headline
from qualia_pipelines.core.statuses import TranscriptStatus
from qualia_pipelines.orchestration.assets import breaker_states
from qualia_pipelines.orchestration.partitions import TRANSCRIPTS, inbox_names, inbox_paths, partition_statuses
from qualia_pipelines.orchestration.resources import QualiaResource, stored_output
from qualia_pipelines.orchestration.schedules import per_transcript_assets
from qualia_pipelines.orchestration.sensors import latest_inbox_observations

LOW_DISK_BYTES = 500 * 1024 * 1024
PAGE_SIZE, MAX_PAGE_SIZE = 100, 1000
_PAGES_SCANNED = 10
"""A filtered listing reads at most this many pages of transcripts per request, then returns what it found
(maybe nothing) with a cursor: the cost of a request stays bounded whatever the filter matches."""


class InvalidCursorError(QualiaError):
    """A listing cursor this server did not give."""


@dataclass(frozen=True)
class ListingCursor:
    """Where a listing stopped: in the transcripts the pipeline registered (in the order Dagster registered
    them, after Dagster's own cursor), or in the inbox files not registered yet (after a key)."""

    phase: Literal["registered", "received"] = "registered"
    after: str | None = None

    def encode(self) -> str:
        return base64.urlsafe_b64encode(json.dumps([self.phase, self.after]).encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str | None) -> ListingCursor:
        if not text:
            return cls()
        try:
            phase, after = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        except (ValueError, TypeError) as exc:
            raise InvalidCursorError(f"cursor {text[:40]!r}: not a cursor this listing returned") from exc
        if phase not in ("registered", "received") or not isinstance(after, str | None):
            raise InvalidCursorError(f"cursor {text[:40]!r}: not a cursor this listing returned")
        return cls(phase, after)


class RegisteredKeys:
    """Every transcript partition, kept in step with the instance by reading only those added since the last
    call: the inbox files still waiting are found against it without reading 100,000 keys per request."""

    def __init__(self) -> None:
        self._keys: set[str] = set()
        self._cursor: str | None = None
        self._lock = threading.Lock()

    def current(self, instance: dg.DagsterInstance) -> frozenset[str]:
        with self._lock:
            while True:
                page = instance.get_paginated_dynamic_partitions(
                    TRANSCRIPTS.name, limit=10_000, ascending=True, cursor=self._cursor
                )
                self._keys.update(page.results)
                self._cursor = page.cursor or self._cursor
                if not page.has_more:
                    return frozenset(self._keys)


def transcript_page(
    instance: dg.DagsterInstance,
    qualia: QualiaResource,
    registered: RegisteredKeys,
    limit: int = PAGE_SIZE,
    cursor: str | None = None,
    status: TranscriptStatus | None = None,
    queued: Mapping[str, str] | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of transcripts with their status, and the cursor of the next page (None after the last).

    First the transcripts the pipeline registered, in the order it registered them, a page of partition
    keys at a time; then the inbox files it has not registered yet. ``status`` filters; ``queued`` marks
    keys whose run the caller has launched and not seen start.
    """
    limit = max(1, min(limit, MAX_PAGE_SIZE))
    position = ListingCursor.decode(cursor)
    items: list[dict[str, Any]] = []
    if position.phase == "registered" and status != "received":
        items, position = _registered_page(instance, qualia, limit, position.after, status, queued)
        if position.phase == "registered" or len(items) == limit:
            return items, position.encode()
    if status not in (None, "received"):
        return items, None
    waiting = received_states(qualia, registered.current(instance), position.after or "")
    room = limit - len(items)
    items += waiting[:room]
    return items, ListingCursor("received", items[-1]["key"]).encode() if len(waiting) > room else None


def _registered_page(
    instance: dg.DagsterInstance,
    qualia: QualiaResource,
    limit: int,
    after: str | None,
    status: TranscriptStatus | None,
    queued: Mapping[str, str] | None,
) -> tuple[list[dict[str, Any]], ListingCursor]:
    """Up to ``limit`` registered transcripts after Dagster's cursor ``after``, reading at most
    ``_PAGES_SCANNED`` pages of keys; where the listing goes on (the inbox files once these are all read)."""
    items: list[dict[str, Any]] = []
    for scanned in range(_PAGES_SCANNED):
        page = _partition_keys_after(instance, limit - len(items), after, from_client=scanned == 0)
        rows = [_queued(row, queued) for row in registered_states(instance, qualia, page.results)]
        items += [row for row in rows if status in (None, row["status"])]
        after = page.cursor or after
        if not page.has_more:
            return items, ListingCursor("received")
        if len(items) == limit:
            break
    return items, ListingCursor("registered", after)


def _partition_keys_after(
    instance: dg.DagsterInstance, limit: int, after: str | None, from_client: bool
) -> dg.PaginatedResults[str]:
    """A page of partition keys after Dagster's cursor ``after``. A cursor that came from the client may be
    forged, and Dagster rejects one it did not give with any of several errors (a base64, deserialization or
    type-check error): each means "not a cursor this listing returned"."""
    try:
        return instance.get_paginated_dynamic_partitions(TRANSCRIPTS.name, limit=limit, ascending=True, cursor=after)
    except Exception as exc:
        if not from_client or after is None:
            raise
        raise InvalidCursorError(f"cursor: not a cursor this listing returned ({type(exc).__name__})") from exc


def transcript_state(
    instance: dg.DagsterInstance, qualia: QualiaResource, key: str, queued: Mapping[str, str] | None = None
) -> dict[str, Any] | None:
    """One transcript's status and each asset's, or None when neither the inbox nor the partitions know it."""
    if instance.has_dynamic_partition(TRANSCRIPTS.name, key):
        return _queued(registered_states(instance, qualia, [key])[0], queued)
    path = inbox_paths(qualia.inbox_dir, [key]).get(key)
    return {"key": key, "status": "received", "assets": {}, "file": path.name} if path else None


def registered_states(instance: dg.DagsterInstance, qualia: QualiaResource, keys: list[str]) -> list[dict[str, Any]]:
    """Status of each registered transcript: ``pending`` (some asset is missing), ``running`` (an asset is
    being materialized), ``failed`` (an asset's last attempt failed) or ``processed`` (all materialized)."""
    by_asset = {
        asset: {key: status.value.lower() for key, status in partition_statuses(instance, asset, keys).items()}
        for asset in per_transcript_assets(qualia)
    }
    names = file_names(instance, qualia.inbox_dir, keys)
    rows = []
    for key in keys:
        assets = {asset: by_asset[asset].get(key) for asset in by_asset}
        rows.append({"key": key, "status": _overall(assets.values()), "assets": assets, "file": names.get(key)})
    return rows


def received_states(qualia: QualiaResource, registered: frozenset[str], after: str) -> list[dict[str, Any]]:
    """Inbox files the pipeline has not registered yet (the sensor has not seen them), by key after ``after``."""
    waiting = {
        key: name for key, name in inbox_names(qualia.inbox_dir).items() if key > after and key not in registered
    }
    return [
        {"key": key, "status": "received", "assets": {}, "file": waiting[key].rsplit("/", 1)[-1]}
        for key in sorted(waiting)
    ]


def file_names(instance: dg.DagsterInstance, inbox: Path, keys: list[str]) -> dict[str, str]:
    """The inbox file name of each key whose file is still there: from the path the inbox sensor recorded,
    else the key itself (a plain file name is its own key)."""
    recorded = {
        record.partition_key: Path(str(record.asset_observation.metadata["path"].value))
        for record in latest_inbox_observations(instance, set(keys))
        if record.partition_key and record.asset_observation and "path" in record.asset_observation.metadata
    }
    names = {}
    for key in keys:
        path = recorded.get(key, inbox / key)
        if path.is_file():
            names[key] = path.name
    return names


def _queued(row: dict[str, Any], queued: Mapping[str, str] | None) -> dict[str, Any]:
    run_id = (queued or {}).get(row["key"])
    return {**row, "status": "queued", "run_id": run_id} if run_id and row["status"] != "running" else row


def _overall(asset_statuses: Any) -> TranscriptStatus:
    values = list(asset_statuses)
    if "failed" in values:
        return "failed"
    if "in_progress" in values:
        return "running"
    return "processed" if values and all(value == "materialized" for value in values) else "pending"


def transcript_summary(outputs: Path, key: str) -> dict[str, Any]:
    """The figures a reader wants first, from the stored records, and every output file of the transcript.

    Empty before the transcript has been processed.
    """
    cleaner = _values(outputs / "teams_cleaner" / f"{key}.json")
    if not cleaner:
        return {}
    words = _values(outputs / "word_frequency" / f"{key}.json")
    mood = _values(outputs / "sentiment_analyzer" / f"{key}.json").get("sentiment", {})
    found = (stored_output(folder, key) for folder in sorted(outputs.iterdir()) if folder.is_dir())
    files = [path for path in found if path is not None]
    return {
        "language": cleaner["metadata"]["language"],
        "participants": cleaner["metadata"]["participant_count"],
        "speakers": [{"speaker": s["speaker"], "share_of_words": s["share_of_words"]} for s in cleaner["speakers"]],
        "quality_score": cleaner["quality_report"]["score"],
        "sentiment": _sentiment_summary(mood) if mood else None,
        "top_words": [{"word": row["word"], "count": row["count"]} for row in words.get("top_words", [])[:10]],
        "outputs": {path.parent.name: str(path.relative_to(outputs)) for path in files},
    }


def _values(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))["values"]
    except (OSError, ValueError, KeyError):
        return {}


def health_report(settings: Settings, qualia: QualiaResource, instance: dg.DagsterInstance | None) -> dict[str, Any]:
    """Plugins, Dagster instance, circuit breakers and disk space, with ``healthy`` and the problems found.

    ``instance`` is None when no instance folder exists yet: a fresh project, not a fault.
    """
    registry = qualia.registry()
    problems = [f"plugin {p.source}: {p.message}" for p in registry.problems]
    dagster: dict[str, Any] = {"home": str(settings.instance_dir), "reachable": instance is not None}
    breakers: dict[str, str] = {}
    if instance is not None:
        try:
            breakers = breaker_states(instance, qualia)
        except Exception as exc:  # storage unreadable: say so; the rest of the report still helps
            dagster = {**dagster, "reachable": False, "error": f"{type(exc).__name__}: {exc}"}
            problems.append(f"Dagster instance at {settings.instance_dir} is not readable: {exc}")
    problems += [f"circuit breaker of {plugin} is {state}" for plugin, state in breakers.items() if state != "closed"]
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    disk = shutil.disk_usage(settings.data_dir)
    if disk.free < LOW_DISK_BYTES:
        problems.append(f"only {disk.free:,} bytes free in {settings.data_dir}")
    return {
        "healthy": not problems,
        "problems": problems,
        "plugins": sorted(registry.plugins),
        "dagster": dagster,
        "breakers": breakers,
        "inbox": {"path": str(settings.inbox_dir), "transcripts": sum(1 for _ in supported_names(settings.inbox_dir))},
        "disk": {"path": str(settings.data_dir), "free_bytes": disk.free, "total_bytes": disk.total},
    }


def _sentiment_summary(mood: Mapping[str, Any]) -> dict[str, Any]:
    """Label and polarity (None for a language without a sentiment engine), and the line tables show."""
    headline = sentiment_headline(mood)
    return {"label": mood.get("sentiment_label"), "polarity": mood.get("polarity"), "headline": headline}
