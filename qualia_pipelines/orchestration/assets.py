"""Assets: the parsed transcript, then one asset per registered plugin, built from its metadata.

Dependencies come from ``requires``/``provides``, the group from the plugin's
kind, ``code_version`` from its version, the RetryPolicy from its retry hints,
and the launchpad config from its parameters (validated by the engine).
"""

import time
import warnings
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg

from qualia_pipelines.core.breaker import BreakerStatus, breaker_status
from qualia_pipelines.core.contract import (
    TRANSCRIPT_KEY,
    NothingToDrawError,
    Parameter,
    Plugin,
    QualiaError,
    Rendering,
)
from qualia_pipelines.core.readers import read_transcript
from qualia_pipelines.core.registry import Registry
from qualia_pipelines.core.resolver import direct_dependencies, providers
from qualia_pipelines.core.transcript import Transcript
from qualia_pipelines.orchestration.checks import check_evaluations, check_specs, skipped_evaluations
from qualia_pipelines.orchestration.lineage import versioned_output
from qualia_pipelines.orchestration.partitions import INBOX_FILE_ASSET, TRANSCRIPTS, inbox_paths
from qualia_pipelines.orchestration.resources import QualiaResource, output_file

TRANSCRIPT_ASSET = "transcript"
_CONFIG_TYPES = {"int": dg.Int, "float": dg.Float, "bool": dg.Bool, "str": dg.String}
_BREAKER_HISTORY = 200


inbox_file = dg.AssetSpec(
    INBOX_FILE_ASSET,
    partitions_def=TRANSCRIPTS,
    group_name="transcripts",
    description="A transcript file as dropped in the inbox. The inbox sensor records its SHA-256 as the data "
    "version, so a changed file marks everything downstream stale.",
)


@dg.asset(
    name=TRANSCRIPT_ASSET,
    deps=[inbox_file],
    partitions_def=TRANSCRIPTS,
    group_name="transcripts",
    code_version="1",
    backfill_policy=dg.BackfillPolicy.single_run(),
    description="The transcript file parsed into speaker segments.",
)
def transcript(context: dg.AssetExecutionContext, qualia: QualiaResource) -> Iterator[Any]:
    files = inbox_paths(qualia.inbox_dir, context.partition_keys)
    parsed: dict[str, Any] = {}
    metadata: dict[str, dict[str, Any]] = {}
    for key in context.partition_keys:
        if key not in files:
            raise dg.Failure(f"transcript {key!r}: no such file in the inbox {qualia.inbox_dir}", allow_retries=False)
        try:
            document = read_transcript(files[key], max_bytes=qualia.max_bytes)
        except QualiaError as exc:
            raise dg.Failure(str(exc), allow_retries=False) from None
        parsed[key] = document.to_dict()
        parsed[key]["metadata"].setdefault("date", _modified(files[key]))
        metadata[key] = transcript_metadata(parsed[key], files[key])
    yield from versioned_output(context, parsed, metadata)


def _modified(path: Path) -> str:
    """The file's modification time: the meeting date when the transcript itself has none."""
    return datetime.fromtimestamp(path.stat().st_mtime, tz=UTC).isoformat()


def transcript_metadata(document: Mapping[str, Any], file: Path) -> dict[str, Any]:
    """What the UI shows of one parsed transcript: the original file and what the reader found."""
    segments = document["segments"]
    return {
        "file_name": file.name,
        "file": dg.MetadataValue.path(str(file.resolve())),
        "format": document["format"],
        "language": document["language"],
        "encoding": document["encoding"],
        "encoding_repairs": document["encoding_repairs"],
        "segments": len(segments),
        "speakers": len({s["speaker"] for s in segments if s["speaker"]}),
        "content_hash": document["content_hash"],
    }


def plugin_assets(registry: Registry) -> list[dg.AssetsDefinition]:
    return [plugin_asset(registry, plugin) for plugin in registry.plugins.values()]


def plugin_asset(registry: Registry, plugin: Plugin) -> dg.AssetsDefinition:
    """The asset for one plugin: loads what it requires, runs it per partition through the engine."""
    upstream = direct_dependencies(registry, plugin)
    ins = {dependency: dg.AssetIn(key=dependency) for dependency in upstream}
    if TRANSCRIPT_KEY in plugin.requires:
        ins[TRANSCRIPT_ASSET] = dg.AssetIn(key=TRANSCRIPT_ASSET)
    provider_of = providers(registry)

    @dg.asset(
        name=plugin.id,
        ins=ins,
        deps=[inbox_file],  # every result of a transcript derives from its file: a change marks each one stale
        partitions_def=TRANSCRIPTS,
        group_name=plugin.kind,
        code_version=plugin.version,
        description=f"{plugin.description}\n\nPlugin `{plugin.id}` {plugin.version} from {plugin.source}.",
        config_schema=config_schema(plugin),
        retry_policy=retry_policy(plugin),
        backfill_policy=dg.BackfillPolicy.single_run(),
        output_required=False,
        kinds=storage_kinds(plugin),
        check_specs=check_specs(plugin),
        metadata={"dagster/code_references": plugin_code_reference(plugin)},
    )
    def _plugin_asset(context: dg.AssetExecutionContext, qualia: QualiaResource, **loaded: Any) -> Iterator[Any]:
        blocked = blocking_breakers(context.instance, [plugin.id, *upstream], qualia, time.time())
        if blocked:
            context.log.warning(f"circuit breaker open, skipping {plugin.id}: {blocked}")
            yield dg.AssetObservation(asset_key=plugin.id, metadata={"circuit_breaker": blocked})
            yield from skipped_evaluations(plugin, context.partition_keys, f"skipped: circuit breaker {blocked}")
            yield from check_outputs(context)
            return
        engine = qualia.engine()
        config = {name: value for name, value in context.op_execution_context.op_config.items() if value is not None}
        params = engine.validated_parameters([plugin.id], {plugin.id: config})[plugin.id]
        results: dict[str, Any] = {}
        metadata: dict[str, dict[str, Any]] = {}
        for key in context.partition_keys:
            inputs = {required: _input(plugin, required, key, loaded, provider_of) for required in plugin.requires}
            try:
                values = engine.run_plugin(plugin.id, inputs, params)
            except NothingToDrawError as exc:
                context.log.info(f"{plugin.id} skipped transcript {key!r}: {exc}")
                metadata[key] = {"skipped": str(exc)}
                continue
            except QualiaError as exc:
                raise dg.Failure(f"{plugin.id} on transcript {key!r}: {exc}") from exc
            results[key] = values if plugin.kind == "visualizer" else _record(plugin, params, values, loaded, key)
            stored = output_file(Path(qualia.outputs) / plugin.id, key, results[key]).resolve()
            metadata[key] = {**record_metadata(results[key]), "path": dg.MetadataValue.path(str(stored))}
        yield from versioned_output(context, results, metadata)
        yield from check_evaluations(plugin, results)
        yield from check_outputs(context)

    return _plugin_asset


def check_outputs(context: dg.AssetExecutionContext) -> Iterator[dg.Output]:
    """The op's outputs for its checks: the results went out per transcript as evaluations, and Dagster still
    expects each check's output once."""
    assets = context.assets_def
    for key in assets.check_keys:
        yield dg.Output(None, output_name=assets.get_output_name_for_asset_check_key(key))


def storage_kinds(plugin: Plugin) -> set[str]:
    """What the asset's outputs are, for the UI: a visualizer's default format, else JSON records with Parquet
    tables."""
    if plugin.kind != "visualizer":
        return {"json", "parquet"}
    return {str(p.default) for p in plugin.parameters if p.name == "format"} or {"html"}


def _input(plugin: Plugin, required: str, key: str, loaded: Mapping[str, Any], provider_of: Mapping[str, str]) -> Any:
    asset = TRANSCRIPT_ASSET if required == TRANSCRIPT_KEY else provider_of[required]
    if key not in loaded[asset]:
        raise dg.Failure(f"{plugin.id} on transcript {key!r}: {asset} has no output for it (did it fail?)")
    if required == TRANSCRIPT_KEY:
        return Transcript.from_dict(loaded[asset][key])
    return loaded[asset][key]["values"][required]


def _record(
    plugin: Plugin, params: dict[str, Any], values: dict[str, Any], loaded: Mapping[str, Any], key: str
) -> dict:
    """What is stored for a document or analysis: the values with what produced them (as the CLI saves them)."""
    upstream = next(iter(loaded.values()))[key]
    return {
        "plugin": plugin.id,
        "version": plugin.version,
        "kind": plugin.kind,
        "source": upstream["source"],
        "content_hash": upstream["content_hash"],
        "parameters": params,
        "values": values,
        "provenance": [
            *upstream.get("provenance", []),
            {"plugin": plugin.id, "version": plugin.version, "parameters": params},
        ],
    }


def plugin_code_reference(plugin: Plugin) -> dg.CodeReferencesMetadataValue:
    """Where the plugin's analysis lives (the UI links it): its ``run`` function, in the plugin's own file."""
    code = plugin.run.__code__
    with warnings.catch_warnings():  # beta in Dagster 1.13, and warned about at every load of the definitions
        warnings.simplefilter("ignore", dg.BetaWarning)
        reference = dg.LocalFileCodeReference(
            file_path=code.co_filename, line_number=code.co_firstlineno, label=f"{plugin.id} {plugin.version}"
        )
        return dg.CodeReferencesMetadataValue(code_references=[reference])


def config_schema(plugin: Plugin) -> dict[str, dg.Field]:
    """Launchpad config from the plugin's parameters: types, defaults and help, checked again by the engine."""
    return {parameter.name: _config_field(plugin, parameter) for parameter in plugin.parameters}


def _config_field(plugin: Plugin, parameter: Parameter) -> dg.Field:
    if parameter.type == "choice":
        config_type: Any = dg.Enum(f"{plugin.id}__{parameter.name}", [dg.EnumValue(c) for c in parameter.choices])
    else:
        config_type = _CONFIG_TYPES[parameter.type]
    description = f"{parameter.help} Allowed: {parameter.allowed()}."
    return dg.Field(config_type, default_value=parameter.default, is_required=False, description=description)


def retry_policy(plugin: Plugin) -> dg.RetryPolicy | None:
    hints = plugin.retry
    if hints.max_retries <= 0:
        return None
    return dg.RetryPolicy(
        max_retries=hints.max_retries,
        delay=hints.backoff_seconds,
        backoff=dg.Backoff.EXPONENTIAL,
        jitter=dg.Jitter.PLUS_MINUS if hints.jitter else None,
    )


def plugin_breaker(instance: dg.DagsterInstance, plugin_id: str, qualia: QualiaResource, now: float) -> BreakerStatus:
    """Replay the plugin asset's recent step failures and materializations from the instance's event log."""
    policy = qualia.breaker_policy
    since = now - 2 * (policy.window_seconds + policy.cooldown_seconds)
    failures = instance.get_event_records(
        dg.EventRecordsFilter(event_type=dg.DagsterEventType.STEP_FAILURE, after_timestamp=since),
        limit=_BREAKER_HISTORY,
    )
    outcomes = [(r.timestamp, False) for r in failures if r.event_log_entry.step_key == plugin_id]
    if outcomes:  # successes only matter after failures (they close a half-open breaker): usually not read at all
        successes = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey(plugin_id), after_timestamp=since), limit=_BREAKER_HISTORY
        ).records
        outcomes += [(r.timestamp, True) for r in successes]
    return breaker_status(outcomes, policy, now)


def breaker_states(instance: dg.DagsterInstance, qualia: QualiaResource) -> dict[str, str]:
    """Every plugin's breaker state now: the health report of sensors, backups and `qualia health`."""
    now = time.time()
    return {
        plugin_id: plugin_breaker(instance, plugin_id, qualia, now).state for plugin_id in qualia.registry().plugins
    }


def blocking_breakers(instance: dg.DagsterInstance, plugin_ids: list[str], qualia: QualiaResource, now: float) -> str:
    """A description of the open breakers among ``plugin_ids`` ("" when all allow an attempt)."""
    described = []
    for plugin_id in plugin_ids:
        status = plugin_breaker(instance, plugin_id, qualia, now)
        if not status.allows_attempt:
            described.append(f"{plugin_id} {status.describe()}")
    return "; ".join(described)


def record_metadata(record: Mapping[str, Any]) -> dict[str, Any]:
    """What makes the UI useful for one transcript: top words, polarity, speakers, quality."""
    values = record.get("values", record)
    metadata: dict[str, Any] = {}
    if "top_words" in values:
        rows = "\n".join(f"| {r['word']} | {r['count']} |" for r in values["top_words"][:15])
        metadata["top_words"] = dg.MetadataValue.md("| word | count |\n| --- | --- |\n" + rows)
        metadata["vocabulary_size"] = values["vocabulary_size"]
    if "sentiment" in values:
        sentiment = values["sentiment"]
        metadata["label"] = sentiment["sentiment_label"]
        if sentiment["polarity"] is not None:
            metadata.update(polarity=sentiment["polarity"], engine=sentiment["engine"])
    if "speakers" in values:
        rows = "\n".join(
            f"| {r['speaker']} | {r['utterances']} | {r['words']} | {r['share_of_words']:.0%} |"
            for r in values["speakers"]
        )
        metadata["speakers"] = dg.MetadataValue.md(
            "| speaker | turns | words | share |\n| --- | --- | --- | --- |\n" + rows
        )
        metadata["quality_score"] = values["quality_report"]["score"]
        metadata["participants"] = len(values["speakers"])
    for name, value in values.items():
        if isinstance(value, Rendering):
            metadata[f"{name}_bytes"] = len(value.content)
    return metadata
