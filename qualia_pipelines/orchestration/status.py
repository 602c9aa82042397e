"""What the Dagster instance knows about transcripts and plugins, for `qualia health` and the REST API."""

import json
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import dagster as dg

from qualia_pipelines.core.settings import Settings
from qualia_pipelines.core.shapes import sentiment_headline
from qualia_pipelines.orchestration.assets import breaker_states
from qualia_pipelines.orchestration.partitions import TRANSCRIPTS, inbox_files, partition_statuses
from qualia_pipelines.orchestration.resources import QualiaResource, stored_output
from qualia_pipelines.orchestration.schedules import per_transcript_assets

TranscriptStatus = Literal["received", "pending", "running", "processed", "failed"]
LOW_DISK_BYTES = 500 * 1024 * 1024


def transcript_statuses(
    instance: dg.DagsterInstance, qualia: QualiaResource, only: str | None = None
) -> dict[str, dict[str, Any]]:
    """Every transcript in the inbox or the partitions (or just ``only``): its status and each asset's.

    ``received``: in the inbox, not yet a partition (the sensor has not seen it);
    ``pending``: a partition some asset lacks; ``running``: an asset is being
    materialized; ``failed``: an asset's last attempt failed; ``processed``:
    every asset is materialized.
    """
    files = inbox_files(qualia.inbox_dir)
    keys = list(instance.get_dynamic_partitions(TRANSCRIPTS.name))
    if only is not None:
        files = {key: path for key, path in files.items() if key == only}
        keys = [key for key in keys if key == only]
    by_asset = {
        asset: {key: status.value.lower() for key, status in partition_statuses(instance, asset, keys).items()}
        for asset in per_transcript_assets(qualia)
    }
    statuses: dict[str, dict[str, Any]] = {}
    for key in keys:
        assets = {asset: by_asset[asset].get(key) for asset in by_asset}
        statuses[key] = {"key": key, "status": _overall(assets.values()), "assets": assets, "file": _name(files, key)}
    for key in files.keys() - set(keys):
        statuses[key] = {"key": key, "status": "received", "assets": {}, "file": _name(files, key)}
    return dict(sorted(statuses.items()))


def _overall(asset_statuses: Any) -> TranscriptStatus:
    values = list(asset_statuses)
    if "failed" in values:
        return "failed"
    if "in_progress" in values:
        return "running"
    return "processed" if values and all(value == "materialized" for value in values) else "pending"


def _name(files: Mapping[str, Path], key: str) -> str | None:
    return files[key].name if key in files else None


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
        "inbox": {"path": str(settings.inbox_dir), "transcripts": len(inbox_files(settings.inbox_dir))},
        "disk": {"path": str(settings.data_dir), "free_bytes": disk.free, "total_bytes": disk.total},
    }


def _sentiment_summary(mood: Mapping[str, Any]) -> dict[str, Any]:
    """Label and polarity (None for a language without a sentiment engine), and the line tables show."""
    headline = sentiment_headline(mood)
    return {"label": mood.get("sentiment_label"), "polarity": mood.get("polarity"), "headline": headline}
