"""Qualia's Dagster instance on SQLite: the stock storage, with each batch of asset events in one transaction.

Dagster's SQLite event log opens a connection and commits once per event, twice
for asset events (run shard and cross-run index), three times for an asset check
evaluation. A range run of 50 transcripts plans and materializes hundreds of asset
partitions, so those commits were the largest orchestration cost per transcript.
Dagster already hands some events over in batches (all planned events of a run, the
materializations of a step's output) when ``DAGSTER_EVENT_BATCH_SIZE`` is set; this
storage writes each batch in one transaction per shard and leaves the same records
as the stock one.

The instance also batches what a step reports event by event: its per-transcript
materializations (data versions) and check evaluations. It holds them until the
step's next other event (its next output, its success or failure), as Dagster holds
a batch, and hands them over as one batch; on a 50-transcript run that took 0.24 s
per transcript off the run (13 ms an event, one by one).

``dagster.yaml`` selects it with ``instance_class`` (see ops/dagster.yaml); the
storage location stays Dagster's default under the instance directory, so an
instance can switch to or from the stock class at any time. PostgreSQL
instances (``storage: postgres``) are not affected.

Opening the storage is also serialised between processes (a lock file in the
instance directory): Dagster creates and stamps each SQLite database on first
open, and the API's workers opening a new instance at once collided on it (so
could any processes started together, such as those of ``dagster dev``).
"""

import os
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any

import yaml
from dagster import AssetMaterialization, AssetObservation, DagsterEventType, DagsterInstance
from filelock import FileLock

from qualia_pipelines.orchestration.dagster_private import (
    ASSET_CHECK_EVENTS,
    ASSET_EVENTS,
    ConfigurableClassData,
    DagsterEventBatchMetadata,
    DagsterSqliteStorage,
    EventLogEntry,
    InstanceRef,
    SqliteEventLogStorage,
    db_result,
    runless_entry,
)

BATCH_SIZE_ENV = "DAGSTER_EVENT_BATCH_SIZE"
EVENT_BATCH_SIZE = 200
INSTANCE_CLASS = {"module": __name__, "class": "QualiaInstance"}  # dagster.yaml's `instance_class`
STORAGE_LOCK = "storage.lock"
DEFERRED_EVENTS = {
    DagsterEventType.ASSET_MATERIALIZATION,
    DagsterEventType.ASSET_OBSERVATION,
    DagsterEventType.ASSET_CHECK_EVALUATION,
}


class QualiaInstance(DagsterInstance):
    """A DagsterInstance whose default (SQLite) storage is :class:`BatchingSqliteStorage`, and which hands a step's
    asset events reported one by one to the storage in batches."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deferred: dict[str, list[EventLogEntry]] = {}  # run id -> its step's asset events not yet stored
        self._deferred_lock = threading.Lock()

    @classmethod
    def config_schema(cls) -> dict[str, Any]:
        return {}

    def handle_new_event(
        self, event: EventLogEntry, *, batch_metadata: DagsterEventBatchMetadata | None = None
    ) -> None:
        """Defer a step's asset event reported on its own; store the run's deferred events before any other.

        Everything about the run is stored in the order it happened: the next event of the run that is not
        deferred (the step's next output, its success or failure, the run's end) first stores those held.
        """
        if batch_metadata is None and self._batches_checks() and _deferrable(event):
            with self._deferred_lock:
                held = self._deferred.setdefault(event.run_id, [])
                held.append(event)
                if len(held) < EVENT_BATCH_SIZE:
                    return
        self._store_deferred(event.run_id)
        super().handle_new_event(event, batch_metadata=batch_metadata)

    def _batches_checks(self) -> bool:
        """Whether the storage takes check evaluations in a batch (Dagster's PostgreSQL storage does not)."""
        return isinstance(self._event_storage, BatchingSqliteEventLogStorage)

    def get_asset_records(self, asset_keys: Sequence[Any] | None = None) -> Sequence[Any]:
        """Read after storing what is deferred: a step reads its own asset's latest record this way (a check
        result's target, its input data versions), and must see the events it reported before."""
        self._store_all_deferred()
        return super().get_asset_records(asset_keys)

    def _store_all_deferred(self) -> None:
        for run_id in list(self._deferred):
            self._store_deferred(run_id)

    def _store_deferred(self, run_id: str) -> None:
        with self._deferred_lock:
            held = self._deferred.pop(run_id, [])
        if not held:  # the common case: called before every other event of every run
            return
        batch = str(uuid.uuid4())
        for index, event in enumerate(held):
            super().handle_new_event(event, batch_metadata=DagsterEventBatchMetadata(batch, index == len(held) - 1))

    def dispose(self) -> None:
        self._store_all_deferred()
        super().dispose()

    @staticmethod
    def config_defaults(base_dir: str) -> Mapping[str, ConfigurableClassData | None]:
        storage = ConfigurableClassData(__name__, BatchingSqliteStorage.__name__, yaml.dump({"base_dir": base_dir}))
        return {**InstanceRef.config_defaults(base_dir), "storage": storage}


class BatchingSqliteStorage(DagsterSqliteStorage):
    """Dagster's SQLite storage (same files) with :class:`BatchingSqliteEventLogStorage` as its event log.

    One process at a time opens it: two creating the databases of a new instance together fail with
    "table ... already exists", or each stamp the schema version, which breaks every later open.
    """

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None) -> None:
        Path(base_dir).mkdir(parents=True, exist_ok=True)
        with FileLock(Path(base_dir) / STORAGE_LOCK):
            super().__init__(base_dir, inst_data)
            self._event_log_storage = BatchingSqliteEventLogStorage(self._event_log_storage._base_dir)
        # Dagster batches events only when this is set; processes using this storage want it
        os.environ.setdefault(BATCH_SIZE_ENV, str(EVENT_BATCH_SIZE))

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData | None, config_value: Mapping[str, Any]) -> Any:
        return cls.from_local(inst_data=inst_data, **config_value)


class BatchingSqliteEventLogStorage(SqliteEventLogStorage):
    """Stores a batch of one run's asset events in one transaction per shard, leaving what ``store_event`` leaves.

    Each event's rows and tags are inserted as by ``store_event``; the asset's own row, which every
    event overwrites, is updated once per asset and event type (see ``_last_per_asset_and_type``); check
    executions are recorded by Dagster's own code, on the batch's connection.
    """

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None) -> None:
        super().__init__(base_dir, inst_data)
        self._open_index = threading.local()  # the index connection of the batch this thread is storing

    def index_connection(self) -> AbstractContextManager[Any]:
        shared = getattr(self._open_index, "connection", None)
        return nullcontext(shared) if shared is not None else super().index_connection()

    @contextmanager
    def _batch_index_transaction(self) -> Iterator[Any]:
        """One index transaction that Dagster's own index writes in this thread join, until it ends."""
        with self.index_transaction() as conn:
            self._open_index.connection = conn
            try:
                yield conn
            finally:
                self._open_index.connection = None

    def store_event_batch(self, events: Sequence[EventLogEntry]) -> None:
        if not _batchable(events):
            super().store_event_batch(events)
            return
        statements = [self.prepare_insert_event(event) for event in events]
        with self.run_connection(events[0].run_id) as conn:
            for statement in statements:
                conn.execute(statement)
        assets: list[tuple[EventLogEntry, int]] = []
        checks: list[tuple[EventLogEntry, int]] = []
        with self._batch_index_transaction() as conn:  # mirrored into the cross-run index, as store_event does
            for event, statement in zip(events, statements, strict=True):
                with db_result(conn, statement) as result:
                    stored = (event, result.inserted_primary_key[0])
                (assets if event.dagster_event_type in ASSET_EVENTS else checks).append(stored)
            if assets:
                self._store_asset_event_tags(conn, [event for event, _ in assets], [id_ for _, id_ in assets])
            for event, event_id in _last_per_asset_and_type(assets):
                self._store_asset_event(conn, event, event_id)
            for event, event_id in checks:
                self.store_asset_check_event(event, event_id)


def _last_per_asset_and_type(stored: list[tuple[EventLogEntry, int]]) -> list[tuple[EventLogEntry, int]]:
    """The events that decide each asset's row: each row update overwrites the same columns as the last one
    of its type, so applying the last event per (asset, type) in order leaves the row as applying them all."""
    last: dict[tuple[Any, Any], tuple[EventLogEntry, int]] = {}
    for event, event_id in stored:
        key = (event.dagster_event.asset_key if event.dagster_event else None, event.dagster_event_type)
        last.pop(key, None)  # re-inserted at the end: dicts keep the order of the last occurrences
        last[key] = (event, event_id)
    return list(last.values())


def report_runless_events(
    instance: DagsterInstance,
    events: Sequence[AssetMaterialization | AssetObservation],
    batch_size: int = EVENT_BATCH_SIZE,
) -> None:
    """Store what ``report_runless_asset_event`` stores for each event, in batches of ``batch_size``.

    The inbox sensor, `qualia run` and the API record every inbox file they read; one by one, each cost
    a transaction per shard (20 ms).
    """
    now = time.time()
    entries = [runless_entry(event, now) for event in events]
    for start in range(0, len(entries), batch_size):
        instance.event_log_storage.store_event_batch(entries[start : start + batch_size])


def _deferrable(event: EventLogEntry) -> bool:
    """A step's materialization, observation or check evaluation of one partition: what a range run's step
    reports by the hundred."""
    dagster_event = event.dagster_event
    return (
        bool(event.step_key)
        and dagster_event is not None
        and dagster_event.event_type in DEFERRED_EVENTS
        and _partition(dagster_event) is not None
    )


def _partition(dagster_event: Any) -> str | None:
    if dagster_event.event_type == DagsterEventType.ASSET_CHECK_EVALUATION:
        return dagster_event.event_specific_data.partition
    return dagster_event.partition


def _batchable(events: Sequence[EventLogEntry]) -> bool:
    """Asset and asset-check events of one run (what Dagster batches); anything else goes event by event."""
    return (
        bool(events)
        and len({event.run_id for event in events}) == 1
        and all(event.dagster_event_type in ASSET_EVENTS | ASSET_CHECK_EVENTS for event in events)
    )
