"""Processing whole files into output folders: shared by `batch`, `watch` and `pipeline`.

Outputs follow the layout the Dagster IO manager uses too:
``<outputs>/<plugin>/<transcript key>.<ext>`` — JSON for documents and
analyses, the rendering's own extension for visuals.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qualia_pipelines.core.contract import QualiaError, Rendering
from qualia_pipelines.core.engine import Engine, ParamsByPlugin, RunResult
from qualia_pipelines.core.naming import transcript_key
from qualia_pipelines.core.readers import SUPPORTED_EXTENSIONS
from qualia_pipelines.core.storage import write_json_atomic, write_rendering


@dataclass
class FileReport:
    """What happened to one input file."""

    path: str
    key: str
    outputs: list[str] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error is None


def transcript_files(paths: Sequence[str | os.PathLike[str]]) -> list[Path]:
    """Files named directly, plus supported files found (recursively) in named folders."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found += sorted(
                p
                for p in path.rglob("*")
                if p.is_file() and p.suffix.lower() in SUPPORTED_EXTENSIONS and not p.name.startswith(".")
            )
        else:
            found.append(path)
    return list(dict.fromkeys(found))


def write_result(result: RunResult, outputs: Path, key: str) -> list[Path]:
    """Store a plugin's result: its renderings as files, everything else as one JSON record."""
    folder = outputs / result.plugin.id
    renderings = {name: value for name, value in result.values.items() if isinstance(value, Rendering)}
    if renderings:
        return [write_rendering(folder / f"{key}.{value.extension}", value) for value in renderings.values()]
    return [write_json_atomic(folder / f"{key}.json", result.to_dict())]


def process_file(
    engine: Engine, path: Path, plugin_ids: Sequence[str], params: ParamsByPlugin | None, outputs: Path
) -> FileReport:
    """Run each plugin on one file and write its outputs; a failure is reported, not raised."""
    report = FileReport(path=str(path), key=transcript_key(path.name))
    started = time.perf_counter()
    try:
        for plugin_id in plugin_ids:
            result = engine.run_file(plugin_id, path, params)
            report.outputs += [str(p) for p in write_result(result, outputs, report.key)]
            report.summary.update(result_summary(result))
    except QualiaError as exc:
        report.error = str(exc)
    report.seconds = time.perf_counter() - started
    return report


def result_summary(result: RunResult) -> dict[str, Any]:
    """The few figures worth a column in a summary table."""
    values = result.values
    summary: dict[str, Any] = {}
    if "speakers" in values:
        summary["speakers"] = len(values["speakers"])
        summary["quality"] = values["quality_report"]["score"]
        summary["language"] = values["metadata"]["language"]
    if "top_words" in values:
        summary["top words"] = ", ".join(row["word"] for row in values["top_words"][:3])
    if "sentiment" in values:
        summary["sentiment"] = f"{values['sentiment']['sentiment_label']} ({values['sentiment']['polarity']:+.2f})"
    return summary
