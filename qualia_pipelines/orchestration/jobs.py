"""Jobs: materialize every per-transcript asset for the requested partitions."""

from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import dagster as dg

from qualia_pipelines.orchestration.resources import QualiaResource

CODE_LOCATION = "qualia"
"""The code location's name, as pyproject.toml's [tool.dagster] and ops/workspace.yaml give it."""
LAUNCHED_BY_TAG = "qualia/launched_by"
"""What asked for a run: ``sensor``, ``schedule``, ``cli`` or ``api`` (runs from the UI have Dagster's own tags)."""


def launched_by(launcher: str) -> dict[str, str]:
    return {LAUNCHED_BY_TAG: launcher}


PROCESS_JOB_NAME = "process_transcripts"

process_transcripts = dg.define_asset_job(
    PROCESS_JOB_NAME,
    selection=dg.AssetSelection.all() - dg.AssetSelection.groups("corpus", "exports"),
    executor_def=dg.in_process_executor,
    description="Parse transcripts and run every plugin on them. Steps run in one process: a run handles a range "
    "of transcripts, and runs, not steps, are what run in parallel.",
)

CORPUS_JOB_NAME = "refresh_corpus"

refresh_corpus = dg.define_asset_job(
    CORPUS_JOB_NAME,
    selection=dg.AssetSelection.groups("corpus"),
    executor_def=dg.in_process_executor,
    description="Recompute the corpus tables from every processed transcript.",
)


SCHEDULED_JOB_NAME = "scheduled_processing"

scheduled_processing = dg.define_asset_job(
    SCHEDULED_JOB_NAME,
    selection=dg.AssetSelection.all(),
    executor_def=dg.in_process_executor,
    description="What processing_schedule launches: ranges of transcripts missing outputs or changed since, and "
    "the corpus tables when a transcript was materialized after them (each run selects its assets).",
)


@dg.op(
    description="Snapshot the Dagster storage, outputs and inbox into the restic repository; forget old snapshots.",
    out=dg.Out(dg.Nothing, description="The snapshot's id is in the output metadata (no IO manager involved)."),
)
def backup_op(context: dg.OpExecutionContext, qualia: QualiaResource) -> dg.Output:
    from qualia_pipelines import __version__
    from qualia_pipelines.core.backup import create_backup
    from qualia_pipelines.orchestration.assets import breaker_states
    from qualia_pipelines.orchestration.runs import postgres_url

    sources = {
        "dagster_home": Path(context.instance.root_directory),
        "outputs": Path(qualia.outputs),
        "inbox": qualia.inbox_dir,
    }
    exclude, held = backup_scope(Path(qualia.outputs))
    snapshot = create_backup(
        sources,
        Path(qualia.backups),
        qualia.retention_days,
        {"breakers": breaker_states(context.instance, qualia)},
        __version__,
        postgres_url(context.instance),
        exclude=exclude,
        held=held,
    )
    return dg.Output(None, metadata={"snapshot": snapshot.name, "bytes_added": snapshot.bytes or 0})


def backup_scope(outputs: Path) -> tuple[list[Path], AbstractContextManager[Any]]:
    """What a backup of ``outputs`` leaves out, and the lock it holds while reading them: the search index is
    derived (the next corpus refresh rebuilds it when it is missing) and a live SQLite file; the corpus store
    is read while no refresh writes it, so a snapshot never pairs one generation's state with another's files."""
    from qualia_pipelines.core.corpus import CorpusStore
    from qualia_pipelines.orchestration.corpus_assets import SEARCH_ASSET, STORE_ASSET

    return [outputs / SEARCH_ASSET], CorpusStore(outputs / STORE_ASSET).locked()


BACKUP_JOB_NAME = "backup_job"


@dg.job(name=BACKUP_JOB_NAME, description="Daily backup of the instance, outputs and inbox (see `qualia backup`).")
def backup_job() -> None:
    backup_op()


@dg.op(
    description="Delete run records older than the run retention, keeping every run that holds an asset's latest "
    "materialization; outputs and backups are not touched.",
    out=dg.Out(dg.Nothing),
)
def prune_runs_op(context: dg.OpExecutionContext, qualia: QualiaResource) -> dg.Output:
    import time

    from qualia_pipelines.orchestration.runs import runs_to_prune

    pruned = runs_to_prune(context.instance, time.time() - qualia.run_retention_days * 86400)
    for run_id in pruned:
        context.instance.delete_run(run_id)
    return dg.Output(None, metadata={"pruned_runs": len(pruned), "retention_days": qualia.run_retention_days})


PRUNE_JOB_NAME = "prune_runs_job"


@dg.job(name=PRUNE_JOB_NAME, description="Run retention: prune old run records from the instance.")
def prune_runs_job() -> None:
    prune_runs_op()
