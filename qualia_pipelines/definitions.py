"""The one Dagster Definitions object (loaded by workspace.yaml and [tool.dagster])."""

import warnings
from typing import Any

import dagster as dg

from qualia_pipelines.core.registry import Registry
from qualia_pipelines.core.settings import Settings
from qualia_pipelines.orchestration.assets import inbox_file, plugin_assets, transcript
from qualia_pipelines.orchestration.corpus_assets import (
    corpus_vocabulary,
    distinctive_words,
    report,
    sentiment_over_time,
    speaker_participation,
)
from qualia_pipelines.orchestration.jobs import (
    backup_job,
    process_transcripts,
    prune_runs_job,
    refresh_corpus,
    scheduled_processing,
)
from qualia_pipelines.orchestration.resources import current_settings, registry_for, resources_for
from qualia_pipelines.orchestration.schedules import backup_schedule, processing_schedule, run_retention_schedule
from qualia_pipelines.orchestration.sensors import (
    circuit_breaker_sensor,
    corpus_sensor,
    inbox_sensor,
    run_failure_alert_sensor,
)


def assets_for(registry: Registry) -> list[dg.AssetsDefinition]:
    """The inbox file, the parsed transcript, one asset per plugin, the corpus tables and the report."""
    return [
        inbox_file,
        transcript,
        *plugin_assets(registry),
        corpus_vocabulary,
        distinctive_words,
        sentiment_over_time,
        speaker_participation,
        report,
    ]


def owned_and_referenced(assets: list[Any], settings: Settings) -> list[Any]:
    """The settings' owners and tags on every asset, and a link to the code that builds each."""
    owned = dg.map_asset_specs(
        lambda spec: spec.replace_attributes(
            owners=[*spec.owners, *settings.asset_owners], tags={**spec.tags, **settings.asset_tags}
        ),
        assets,
    )
    with warnings.catch_warnings():  # code references are beta in Dagster 1.13, warned about at every load
        warnings.simplefilter("ignore", dg.BetaWarning)
        return dg.with_source_code_references(owned)


def definitions_for(settings: Settings) -> dg.Definitions:
    """Everything Dagster runs, bound to one set of settings (the API and `qualia run` pass their own)."""
    return dg.Definitions(
        assets=owned_and_referenced(assets_for(registry_for(tuple(str(d) for d in settings.plugin_dirs))), settings),
        jobs=[process_transcripts, refresh_corpus, scheduled_processing, backup_job, prune_runs_job],
        schedules=[processing_schedule, backup_schedule, run_retention_schedule],
        sensors=[inbox_sensor, corpus_sensor, circuit_breaker_sensor, run_failure_alert_sensor],
        resources=resources_for(settings),
        executor=dg.in_process_executor,
    )


defs = definitions_for(current_settings())
