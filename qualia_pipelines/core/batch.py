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

from qualia_pipelines.core.contract import NothingToDrawError, QualiaError, Rendering
from qualia_pipelines.core.engine import Engine, ParamsByPlugin, RunResult
from qualia_pipelines.core.naming import transcript_key
from qualia_pipelines.core.readers import SUPPORTED_EXTENSIONS, TranscriptError
from qualia_pipelines.core.shapes import sentiment_headline
from qualia_pipelines.core.storage import write_json_atomic, write_rendering

READING = "(reading the file)"
"""The step named in a failure that happened before any plugin ran: the file could not be read."""


@dataclass
class FileReport:
    """What happened to one input file: per plugin, what failed and what was skipped, and why."""

    path: str
    key: str
    outputs: list[str] = field(default_factory=list)
    failures: dict[str, str] = field(default_factory=dict)
    """Plugin id (or READING) -> the error."""
    skipped: dict[str, str] = field(default_factory=dict)
    """Visualizer id -> why it had nothing to draw; a skip does not fail the file."""
    seconds: float = 0.0
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failures

    @property
    def error(self) -> str | None:
        """The first failure as one line naming the file and the step, or None."""
        return next(iter(self.failure_lines()), None)

    def failure_lines(self) -> list[str]:
        return [f"{self.path} · {step}: {_without_path(message, self.path)}" for step, message in self.failures.items()]

    def skip_lines(self) -> list[str]:
        return [f"{self.path} · {step}: {reason}" for step, reason in self.skipped.items()]

    def to_dict(self) -> dict[str, Any]:
        """The machine-readable form `batch --json` prints."""
        return {
            "path": self.path,
            "key": self.key,
            "status": "ok" if self.ok else "failed",
            "outputs": self.outputs,
            "failures": [{"plugin": step, "error": message} for step, message in self.failures.items()],
            "skipped": [{"plugin": step, "reason": reason} for step, reason in self.skipped.items()],
            "error": self.error,
            "seconds": round(self.seconds, 3),
            "summary": self.summary,
        }


def _without_path(message: str, path: str) -> str:
    """A reader's message without its leading "<path>: ", which the failure line already gives."""
    return message.removeprefix(f"{path}: ")


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
    """Run each plugin on one file and write its outputs; failures are reported, not raised.

    A file that cannot be read stops there (every plugin would fail the same way); a plugin that fails
    does not stop the others, and a visual with nothing to draw is a skip, not a failure.
    """
    report = FileReport(path=str(path), key=transcript_key(path.name))
    started = time.perf_counter()
    for plugin_id in plugin_ids:
        try:
            result = engine.run_file(plugin_id, path, params)
        except TranscriptError as exc:
            report.failures[READING] = str(exc)
            break
        except NothingToDrawError as exc:
            report.skipped[plugin_id] = str(exc).removeprefix(f"{plugin_id}: ")
            continue
        except QualiaError as exc:
            report.failures[plugin_id] = str(exc)
            continue
        report.outputs += [str(p) for p in write_result(result, outputs, report.key)]
        report.summary.update(result_summary(result))
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
        summary["sentiment"] = sentiment_headline(values["sentiment"])
    return summary
