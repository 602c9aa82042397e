"""Every private Dagster name Qualia uses, in one place, with the test that guards each.

Dagster's public API has no equivalent for these. Qualia pins Dagster below its next minor
release (pyproject.toml) and installs from requirements.lock, so a fresh install gets the
version these were tested on; an upgrade (`make lock`, README "Upgrading dependencies") runs
the guarding tests before anything else.

Each name, why Qualia needs it, and the tests that break first if it moves:

- ``DATA_VERSION_TAG``: the inbox observation's data version, read back per partition
  (test_orchestration: the ``test_inbox_sensor_*`` tests).
- ``CODE_VERSION_TAG``, ``DATA_VERSION_IS_USER_PROVIDED_TAG``, ``get_input_data_version_tag``,
  ``get_input_event_pointer_tag``: the provenance tags of a range run's per-transcript materializations, which
  Dagster's stale-status resolver reads (lineage.py;
  test_orchestration::test_a_changed_file_marks_exactly_its_own_transcript_stale_after_a_range_run).
- ``NOT_FINISHED_STATUSES``: the corpus refresh waits for unfinished runs
  (test_orchestration::test_corpus_sensor_refreshes_once_a_drop_is_processed_and_nothing_is_running).
- ``ASSET_PARTITION_RANGE_START_TAG``, ``ASSET_PARTITION_RANGE_END_TAG``: range runs, one run for many
  transcripts, launched and read back (test_orchestration, test_ops).
- ``ASSET_EVENTS``, ``ASSET_CHECK_EVENTS``, ``EventLogEntry``: which events the batching event log writes
  in one transaction (test_instance).
- ``DagsterEventBatchMetadata``: the batch a step's deferred asset events are handed over in, as Dagster
  hands over a step's output materializations (instance.py; test_instance).
- ``SqliteEventLogStorage``, ``DagsterSqliteStorage``, ``db_result``: the batching SQLite storage subclasses
  them (instance.py; test_instance, test_deployment).
- ``InstanceRef``, ``ConfigurableClassData``: the instance class that selects that storage from
  dagster.yaml (test_instance, test_deployment).
- ``execute_run``, ``InMemoryJob``, ``JobExecutionResult``, ``CODE_LOCATION_TAG`` and the origin classes in
  ``code_location_job_origin``/``module_job_origin``: `qualia run` and the API execute runs in their own process
  as runs of the ``qualia`` code location, with the origins the webserver's workspace gives the daemon's runs
  (runs.py; test_ops::test_a_broken_file_fails_once_until_it_changes_or_a_retry_is_asked).
- ``runless_entry`` (``DagsterEvent``, ``StepMaterializationData``, ``AssetObservationData``, ``RUNLESS_*``):
  the entry ``report_runless_asset_event`` stores, built so that many can be stored in one batch: the inbox
  observations of the sensor, `qualia run` and the API, and bench/scale.py's processed corpus of 100,000
  transcripts (instance.report_runless_events; test_instance::test_runless_entries_store_what_reporting_stores).
- ``DefsStateStorage``, in tests/conftest.py only: asserts that no instance or sensor context is left open
  between tests.
- ``CachingStaleStatusResolver``, ``StaleStatus``, ``LoadingContextForTest``, in tests/test_orchestration.py
  only: the stale status the UI shows, per transcript (Dagster has no public Python API for it).
"""

import sys
from pathlib import Path

from dagster import AssetMaterialization, AssetObservation
from dagster._core.code_pointer import ModuleCodePointer
from dagster._core.definitions.data_version import (
    CODE_VERSION_TAG,
    DATA_VERSION_IS_USER_PROVIDED_TAG,
    DATA_VERSION_TAG,
)
from dagster._core.definitions.data_version import get_input_data_version_tag as input_data_version_tag
from dagster._core.definitions.data_version import get_input_event_pointer_tag as input_event_pointer_tag
from dagster._core.definitions.job_base import InMemoryJob
from dagster._core.events import (
    ASSET_CHECK_EVENTS,
    ASSET_EVENTS,
    AssetObservationData,
    DagsterEvent,
    DagsterEventBatchMetadata,
    DagsterEventType,
    StepMaterializationData,
)
from dagster._core.events.log import EventLogEntry
from dagster._core.execution.api import execute_run
from dagster._core.execution.job_execution_result import JobExecutionResult
from dagster._core.instance.ref import InstanceRef
from dagster._core.instance.utils import RUNLESS_JOB_NAME, RUNLESS_RUN_ID
from dagster._core.origin import JobPythonOrigin, RepositoryPythonOrigin
from dagster._core.remote_origin import InProcessCodeLocationOrigin, RemoteJobOrigin, RemoteRepositoryOrigin
from dagster._core.storage.dagster_run import NOT_FINISHED_STATUSES
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
from dagster._core.storage.sqlalchemy_compat import db_result
from dagster._core.storage.sqlite_storage import DagsterSqliteStorage
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
    CODE_LOCATION_TAG,
)
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
from dagster._serdes import ConfigurableClassData

DEFINITIONS_MODULE, DEFINITIONS_ATTRIBUTE = "qualia_pipelines.definitions", "defs"
REPOSITORY = "__repository__"
"""The repository name Dagster gives a module's ``Definitions``."""
_WORKING_DIRECTORY = str(Path(__file__).resolve().parents[2])


def code_location_job_origin(job_name: str, location: str) -> RemoteJobOrigin:
    """The job's origin in the webserver's workspace: code location, repository, job."""
    target = LoadableTargetOrigin(
        executable_path=sys.executable,
        module_name=DEFINITIONS_MODULE,
        attribute=DEFINITIONS_ATTRIBUTE,
        working_directory=_WORKING_DIRECTORY,
    )
    location_origin = InProcessCodeLocationOrigin(loadable_target_origin=target, location_name=location)
    return RemoteJobOrigin(RemoteRepositoryOrigin(location_origin, REPOSITORY), job_name)


def module_job_origin(job_name: str) -> JobPythonOrigin:
    """Where the job's code is loaded from, as the daemon's runs record it."""
    pointer = ModuleCodePointer(DEFINITIONS_MODULE, DEFINITIONS_ATTRIBUTE, _WORKING_DIRECTORY)
    return JobPythonOrigin(job_name, RepositoryPythonOrigin(sys.executable, pointer))


def runless_entry(event: AssetMaterialization | AssetObservation, timestamp: float) -> EventLogEntry:
    """The event log entry ``report_runless_asset_event`` stores for ``event``, to store many in one batch."""
    if isinstance(event, AssetMaterialization):
        kind, payload = DagsterEventType.ASSET_MATERIALIZATION, StepMaterializationData(event)
    else:
        kind, payload = DagsterEventType.ASSET_OBSERVATION, AssetObservationData(event)
    dagster_event = DagsterEvent(event_type_value=kind.value, event_specific_data=payload, job_name=RUNLESS_JOB_NAME)
    return EventLogEntry(
        user_message="",
        level=20,  # logging.INFO, as reported events are
        job_name=RUNLESS_JOB_NAME,
        run_id=RUNLESS_RUN_ID,
        error_info=None,
        timestamp=timestamp,
        step_key=None,
        dagster_event=dagster_event,
    )


__all__ = [
    "ASSET_CHECK_EVENTS",
    "ASSET_EVENTS",
    "ASSET_PARTITION_RANGE_END_TAG",
    "ASSET_PARTITION_RANGE_START_TAG",
    "CODE_LOCATION_TAG",
    "CODE_VERSION_TAG",
    "DATA_VERSION_IS_USER_PROVIDED_TAG",
    "DATA_VERSION_TAG",
    "NOT_FINISHED_STATUSES",
    "ConfigurableClassData",
    "DagsterEventBatchMetadata",
    "DagsterSqliteStorage",
    "EventLogEntry",
    "InMemoryJob",
    "InstanceRef",
    "JobExecutionResult",
    "SqliteEventLogStorage",
    "code_location_job_origin",
    "db_result",
    "execute_run",
    "input_data_version_tag",
    "input_event_pointer_tag",
    "module_job_origin",
    "runless_entry",
]
