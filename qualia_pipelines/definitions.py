"""The one Dagster Definitions object (loaded by workspace.yaml and [tool.dagster])."""

import warnings
from typing import Any

import dagster as dg

from qualia_pipelines.core.registry import Registry
from qualia_pipelines.core.settings import Settings
from qualia_pipelines.orchestration.assets import inbox_file, plugin_assets, transcript
from qualia_pipelines.orchestration.corpus_assets import (
    corpus_page,
    corpus_store,
    corpus_vocabulary,
    distinctive_words,
    qda_project,
    report,
    search_index,
    sentiment_over_time,
    speaker_participation,
    speaker_trends,
    word_trends,
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
    """The inbox file, the parsed transcript, one asset per plugin, the corpus store and tables, the report."""
    per_transcript = [inbox_file, transcript, *plugin_assets(registry)]
    readers = [corpus_store, search_index, corpus_vocabulary, distinctive_words, sentiment_over_time,
               speaker_participation, speaker_trends, word_trends, corpus_page, report, qda_project]  # fmt: skip
    return [*per_transcript, *with_input_code_versions(readers, per_transcript)]


def with_input_code_versions(readers: list[Any], inputs: list[Any]) -> list[Any]:
    """The corpus and the report versioned by Qualia's version plus the code version of each asset they read
    (``1.4.0+word_frequency@1.2.0``), in order, so a table over the store carries the store's: a new plugin
    version shows them all as changed code at once."""
    specs = [spec for asset in inputs for spec in ([asset] if isinstance(asset, dg.AssetSpec) else asset.specs)]
    versions = {spec.key: spec.code_version for spec in specs}

    def versioned(spec: dg.AssetSpec) -> dg.AssetSpec:
        read = sorted(f"{dep.asset_key.to_user_string()}@{versions[dep.asset_key]}" for dep in spec.deps
                      if versions.get(dep.asset_key))  # fmt: skip
        return spec.replace_attributes(code_version="+".join([spec.code_version or "", *read]))

    mapped = []
    for reader in readers:
        [asset] = dg.map_asset_specs(versioned, [reader])
        versions.update({spec.key: spec.code_version for spec in asset.specs})
        mapped.append(asset)
    return mapped


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
