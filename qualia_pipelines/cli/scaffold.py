"""`qualia create`: a new plugin folder with working code and a passing test."""

from __future__ import annotations

import re
from pathlib import Path

from qualia_pipelines.core.contract import ParameterError
from qualia_pipelines.core.storage import write_text_atomic

_BODIES = {
    "analyzer": (
        '("cleaned_document",)',
        """    segments = inputs["cleaned_document"]["segments"]
    questions = [s for s in segments if s["text"].rstrip().endswith("?")]
    per_speaker: dict[str, int] = {}
    for segment in questions:
        speaker = segment["speaker"] or "(no speaker)"
        per_speaker[speaker] = per_speaker.get(speaker, 0) + 1
    share = len(questions) / len(segments) if segments else 0.0
    return {"{name}": {"questions": len(questions), "share": round(share, 4), "by_speaker": per_speaker}}""",
        "Counts the questions asked, overall and per speaker.",
    ),
    "document": (
        '("transcript",)',
        """    transcript = inputs["transcript"]
    lower = params["lowercase"]
    segments = [
        {"speaker": s.speaker, "start": s.start, "end": s.end, "text": s.text.lower() if lower else s.text}
        for s in transcript.segments
    ]
    return {"{name}": {"source": transcript.source, "language": transcript.language, "segments": segments}}""",
        "Turns the transcript into a document of plain segments.",
    ),
    "visualizer": (
        '("word_frequencies",)',
        """    from html import escape

    from qualia_pipelines.core.contract import Rendering

    rows = list(inputs["word_frequencies"].items())[: params["max_items"]]
    body = "".join(f"<tr><td>{escape(w)}</td><td>{c}</td></tr>" for w, c in rows)
    page = f"<!DOCTYPE html><meta charset='utf-8'><table><tr><th>word</th><th>count</th></tr>{body}</table>"
    return {"{name}": Rendering(page.encode("utf-8"), "text/html", "html")}""",
        "Shows the most frequent words as an HTML table.",
    ),
}
_PARAMETERS = {
    "analyzer": "",
    "document": '        Parameter("lowercase", "bool", False, "Lowercase the text."),\n',
    "visualizer": '        Parameter("max_items", "int", 20, "Rows to show.", minimum=1),\n',
}
_MODULE = '''"""{name}: {description}"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from qualia_pipelines.core.contract import Parameter, Plugin


def run(inputs: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
{body}


plugin = Plugin(
    id="{name}",
    kind="{kind}",
    version="0.1.0",
    description="{description}",
    requires={requires},
    provides=("{name}",),
    run=run,
    parameters=(
{parameters}    ),
)
'''
_TEST = '''"""Tests for the {name} plugin: run it through the real engine."""

from pathlib import Path

from qualia_pipelines.core.engine import Engine
from qualia_pipelines.core.readers import transcript_from_text
from qualia_pipelines.core.registry import discover

HERE = Path(__file__).resolve().parent


def test_{name}_runs_through_the_engine() -> None:
    engine = Engine(discover([HERE.parent]))
    transcript = transcript_from_text("Ana: Is the report ready?\\nBruno: Yes, the report is ready and checked.")
    result = engine.run("{name}", transcript)
    assert set(result.values) == {{"{name}"}}
    assert result.values["{name}"]
'''


def write_plugin(name: str, kind: str, directory: Path) -> list[Path]:
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        raise ParameterError(f"plugin name {name!r} must be snake_case (letters, digits, underscores)")
    if kind not in _BODIES:
        raise ParameterError(f"--kind {kind!r} is not one of {', '.join(_BODIES)}")
    folder = directory / name
    if folder.exists():
        raise ParameterError(f"{folder} already exists")
    requires, body, description = _BODIES[kind]
    module = _MODULE.format(
        name=name,
        kind=kind,
        description=description,
        requires=requires,
        body=body.replace("{name}", name),
        parameters=_PARAMETERS[kind],
    )
    return [
        write_text_atomic(folder / "__init__.py", module),
        write_text_atomic(folder / f"test_{name}.py", _TEST.format(name=name)),
    ]
