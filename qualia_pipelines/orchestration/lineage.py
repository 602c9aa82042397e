"""Per-transcript data versions, so that a changed file marks exactly its own transcript's assets stale.

A transcript asset's data version is the hash of what it stored, and its provenance names the version and
event of each of its inputs for that same transcript. Dagster 1.13 does not record that for partitioned
inputs: a range run's step (one step for many transcripts) gets one set of data-version tags for every
partition, and even a one-transcript step records the inbox file's version as the hash of nothing, as it
finds no materialization of an observed asset. So after the step's output, Qualia records each partition's
materialization again with its own version and inputs, read from the instance as Dagster's stale-status
resolver reads them. The later record is the one the UI and the resolver use.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import dagster as dg

from qualia_pipelines.core.contract import Rendering
from qualia_pipelines.orchestration.dagster_private import (
    CODE_VERSION_TAG,
    DATA_VERSION_IS_USER_PROVIDED_TAG,
    DATA_VERSION_TAG,
    input_data_version_tag,
    input_event_pointer_tag,
)
from qualia_pipelines.orchestration.partitions import INBOX_FILE_ASSET

UNOBSERVED = ("INITIAL", "NULL")
"""An input partition with no record yet (a file processed without the sensor having observed it): the data
version and event pointer Dagster itself records then."""


def record_version(value: Any) -> str:
    """The data version of one stored result: SHA-256 of its canonical JSON, a rendering counted by its bytes."""
    text = json.dumps(value, sort_keys=True, default=_canonical, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _canonical(value: Any) -> Any:
    if isinstance(value, Rendering):
        return {"media_type": value.media_type, "sha256": hashlib.sha256(value.content).hexdigest()}
    if isinstance(value, tuple | set | frozenset):
        return list(value)
    if isinstance(value, Path):
        return str(value)
    return repr(value)


def versioned_output(
    context: dg.AssetExecutionContext, value: Mapping[str, Any], metadata: Mapping[str, Mapping[str, Any]]
) -> Iterator[dg.Output | dg.AssetMaterialization]:
    """The step's output, each transcript with its own data version, provenance and metadata.

    ``value`` holds a result per partition key (keys without one were skipped, and get only their metadata).
    """
    versions = {key: record_version(result) for key, result in value.items()}
    for key in metadata.keys() - versions.keys():  # skipped: no result, and no version of their own
        context.add_asset_metadata(dict(metadata[key]), partition_key=key)
    yield dg.Output(value)
    asset = context.asset_key
    inputs = upstream_versions(context.instance, context.assets_def.asset_deps[asset], versions)
    code_version = context.assets_def.code_versions_by_key[asset] or context.run_id
    for key, version in versions.items():
        tags = {CODE_VERSION_TAG: code_version, DATA_VERSION_TAG: version, DATA_VERSION_IS_USER_PROVIDED_TAG: "true"}
        for upstream, found in inputs.items():
            data_version, pointer = found.get(key, UNOBSERVED)
            tags[input_data_version_tag(upstream)] = data_version
            tags[input_event_pointer_tag(upstream)] = pointer
        yield dg.AssetMaterialization(
            asset_key=asset,
            partition=key,
            description="This transcript's own data version and inputs (the step's record just before has "
            "one set for every transcript of the step).",
            metadata=dict(metadata.get(key, {})),
            tags=tags,
        )


def upstream_versions(
    instance: dg.DagsterInstance, upstream: Iterable[dg.AssetKey], keys: Iterable[str]
) -> dict[dg.AssetKey, dict[str, tuple[str, str]]]:
    """For each input asset, each partition's current data version and the id of the event that recorded it (the
    inbox file's from its observations, the others' from their materializations)."""
    keys = sorted(keys)
    observed = dg.AssetKey(INBOX_FILE_ASSET)
    return {asset: latest_records(instance, asset, keys, observed=asset == observed) for asset in upstream}


def latest_records(
    instance: dg.DagsterInstance, asset: dg.AssetKey, keys: Sequence[str], observed: bool
) -> dict[str, tuple[str, str]]:
    """The newest data version of each of ``keys`` and its event's storage id, read newest first, a page at a
    time, until every key is found or the records end (a few queries for a range of 50)."""
    fetch = instance.fetch_observations if observed else instance.fetch_materializations
    found: dict[str, tuple[str, str]] = {}
    cursor = None
    while len(found) < len(keys):
        page = fetch(
            dg.AssetRecordsFilter(asset_key=asset, asset_partitions=list(keys)), limit=2 * len(keys) + 10, cursor=cursor
        )
        for record in page.records:
            event = record.asset_materialization or record.asset_observation
            version = event.tags.get(DATA_VERSION_TAG) if event and event.tags else None
            if record.partition_key not in found and version:
                found[record.partition_key] = (version, str(record.storage_id))
        if not page.has_more:
            break
        cursor = page.cursor
    return found
