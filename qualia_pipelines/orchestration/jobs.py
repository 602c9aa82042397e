"""Jobs: materialize every per-transcript asset for the requested partitions."""

from pathlib import Path

import dagster as dg

from qualia_pipelines.orchestration.resources import QualiaResource

PROCESS_JOB_NAME = "process_transcripts"

process_transcripts = dg.define_asset_job(
    PROCESS_JOB_NAME,
    selection=dg.AssetSelection.all() - dg.AssetSelection.groups("corpus"),
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


@dg.op(description="Snapshot the Dagster storage, outputs and inbox into a verified archive; prune old archives.")
def backup_op(context: dg.OpExecutionContext, qualia: QualiaResource) -> str:
    from qualia_pipelines import __version__
    from qualia_pipelines.core.backup import create_backup
    from qualia_pipelines.orchestration.assets import breaker_states

    sources = {
        "dagster_home": Path(context.instance.root_directory),
        "outputs": Path(qualia.outputs),
        "inbox": qualia.inbox_dir,
    }
    archive = create_backup(
        sources,
        Path(qualia.backups),
        qualia.retention_days,
        {"breakers": breaker_states(context.instance, qualia)},
        __version__,
    )
    context.add_output_metadata({"archive": dg.MetadataValue.path(str(archive)), "bytes": archive.stat().st_size})
    return str(archive)


BACKUP_JOB_NAME = "backup_job"


@dg.job(name=BACKUP_JOB_NAME, description="Daily backup of the instance, outputs and inbox (see `qualia backup`).")
def backup_job() -> None:
    backup_op()
