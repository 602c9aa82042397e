"""The API's side of Dagster: uploads into the inbox, statuses from the instance, runs launched now.

Runs launched here execute on one background thread per API worker, with the
same jobs and range runs as the inbox sensor, on the configured instance, so
they appear in the Dagster UI. Uploads without ``materialize=now`` are left to
the inbox sensor; the sensor skips a file version this API already processed.
"""

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from qualia_pipelines.core.contract import QualiaError
from qualia_pipelines.core.inbox import deposit
from qualia_pipelines.core.readers import SUPPORTED_EXTENSIONS, sniffed_extension
from qualia_pipelines.core.settings import Settings
from qualia_pipelines.core.statuses import TranscriptStatus
from qualia_pipelines.definitions import definitions_for
from qualia_pipelines.orchestration.partitions import inbox_paths, partition_key
from qualia_pipelines.orchestration.resources import resources_for
from qualia_pipelines.orchestration.runs import (
    PlannedRun,
    execute_planned,
    open_instance,
    planned_runs,
    refresh_corpus_now,
)
from qualia_pipelines.orchestration.status import (
    RegisteredKeys,
    health_report,
    transcript_page,
    transcript_state,
    transcript_summary,
)


class UnknownTranscriptError(QualiaError):
    """No inbox file or partition has this key."""


class Orchestrator:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.qualia = resources_for(settings)["qualia"]
        self.instance = open_instance(settings.instance_dir)
        self._defs = definitions_for(settings)
        self._runner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="qualia-runs")
        self._queued: dict[str, str] = {}  # partition key -> run id, until its run ends
        self._registered = RegisteredKeys()
        self._lock = threading.Lock()

    def close(self) -> None:
        self._runner.shutdown(wait=True, cancel_futures=True)
        self.instance.dispose()

    @staticmethod
    def named(name: str, data: bytes) -> str:
        """The name an upload gets in the inbox: its own, with the extension its content shows if it has none."""
        return name if Path(name).suffix.lower() in SUPPORTED_EXTENSIONS else f"{name}{sniffed_extension(data)}"

    def deposit(self, name: str, data: bytes) -> tuple[str, bool]:
        """Add a checked upload to the inbox; its key, and whether it is new (the API's engines read it first)."""
        path, new = deposit(self.settings.inbox_dir, name, data)
        return partition_key(self.settings.inbox_dir, path), new

    def materialize(self, key: str) -> list[str]:
        """Plan the transcript's run now, execute it in the background; the run ids."""
        files = inbox_paths(self.settings.inbox_dir, [key])
        if key not in files:
            raise UnknownTranscriptError(f"transcript {key!r}: no such file in the inbox {self.settings.inbox_dir}")
        planned = planned_runs(self.instance, self.qualia, {key: files[key]}, process_all=True, launcher="api")
        with self._lock:
            self._queued.update({k: run.run_id for run in planned for k in run.keys})
        for run in planned:
            self._runner.submit(self._execute, run)
        return [run.run_id for run in planned]

    def _execute(self, planned: PlannedRun) -> None:
        try:
            execute_planned(self.instance, self._defs, planned)  # failures land in the event log, like statuses
        finally:
            with self._lock:
                for key in planned.keys:
                    self._queued.pop(key, None)
        refresh_corpus_now(self.instance, self._defs, "api")

    def page(
        self, limit: int, cursor: str | None, status: TranscriptStatus | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """One page of transcripts and the next page's cursor (see ``transcript_page``)."""
        with self._lock:
            queued = dict(self._queued)
        return transcript_page(self.instance, self.qualia, self._registered, limit, cursor, status, queued)

    def _state(self, key: str) -> dict[str, Any]:
        with self._lock:
            queued = dict(self._queued)
        found = transcript_state(self.instance, self.qualia, key, queued)
        if found is None:
            raise UnknownTranscriptError(f"transcript {key!r}: not in the inbox and not a partition")
        return found

    def status(self, key: str) -> dict[str, Any]:
        return {**self._state(key), "results": transcript_summary(self.settings.outputs_dir, key)}

    def report_path(self, key: str) -> Path:
        state = self._state(key)  # a known key first: no path is built from an unchecked one
        path = self.settings.outputs_dir / "report" / f"{key}.html"
        if not path.is_file():
            raise UnknownTranscriptError(f"transcript {key!r}: no report yet (status: {state['status']})")
        return path

    def health(self) -> dict[str, Any]:
        return health_report(self.settings, self.qualia, self.instance)
