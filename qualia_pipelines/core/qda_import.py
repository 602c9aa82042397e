"""Coding done in a QDA tool, brought back: the selections and codes of a REFI-QDA project (``.qdpx``) on the
sources Qualia exported, as rows (code, transcript, speaker, coded text) Qualia can count and compare.

A source is Qualia's when it carries the ``Qualia transcript`` and ``Input SHA-256`` variables and its GUID
is the one Qualia derives from them; others (documents a researcher added, a source whose identity was
edited) are reported and skipped. A selection's speaker and time come from the line of the plain text it is
on (``[hh:mm:ss] Speaker: ...``); one spanning several turns gives a row per turn.

The file is untrusted: the zip's parts are checked against size limits before they are inflated, the XML is
read as a stream (no entities, no DTD, no network) and each source is let go once read.
"""

from __future__ import annotations

import bisect
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
from lxml import etree

from qualia_pipelines.core.contract import QualiaError
from qualia_pipelines.core.qda import NAMESPACE, USER, source_guid, variable_guid

MAX_PROJECT_BYTES = 1 << 30
"""``project.qde`` inflated: a 2,000-meeting export with every utterance coded is about 400 MB."""
MAX_SOURCE_BYTES = 64 << 20
MAX_MEMBERS = 500_000

CODED_SEGMENTS = pa.schema(
    [
        ("project", pa.string()),
        ("transcript", pa.string()),
        ("file", pa.string()),
        ("speaker", pa.string()),
        ("time_s", pa.float64()),
        ("code", pa.string()),
        ("origin", pa.string()),
        ("coder", pa.string()),
        ("selection", pa.string()),
        ("start_position", pa.int64()),
        ("end_position", pa.int64()),
        ("text", pa.string()),
    ]
)
"""One row per coded selection and speaker turn it covers (a whole-source coding: one row, no speaker)."""
CODE_COUNTS = pa.schema(
    [
        ("project", pa.string()),
        ("code", pa.string()),
        ("origin", pa.string()),
        ("transcript", pa.string()),
        ("file", pa.string()),
        ("speaker", pa.string()),
        ("selections", pa.int64()),
        ("characters", pa.int64()),
    ]
)
"""Per code, transcript and speaker: how many selections and how many characters were coded."""


class QdaImportError(QualiaError):
    """A .qdpx that cannot be read: named, with what is wrong."""


@dataclass
class ImportedProject:
    name: str
    segments: pd.DataFrame
    counts: pd.DataFrame
    sources: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (source name, why)
    problems: list[str] = field(default_factory=list)


@dataclass
class _Project:
    """What the parts before ``Sources`` say, needed to read each source as it comes."""

    users: dict[str, str] = field(default_factory=dict)
    codes: dict[str, str] = field(default_factory=dict)  # guid -> path ("Parent/Child")
    speakers: dict[str, set[str]] = field(default_factory=dict)  # source guid -> case names referring to it
    code_path: list[str] = field(default_factory=list)


def read_project(path: Path, name: str) -> ImportedProject:
    """The codings in the ``.qdpx`` at ``path``, imported as project ``name``."""
    try:
        archive = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        raise QdaImportError(f"{path}: not a .qdpx (a zip holding project.qde): {exc}") from None
    with archive:
        members = archive.infolist()
        if len(members) > MAX_MEMBERS:
            raise QdaImportError(f"{path}: {len(members):,} files in the archive (at most {MAX_MEMBERS:,})")
        entry = _member(archive, path, "project.qde", MAX_PROJECT_BYTES)
        imported = ImportedProject(name, pd.DataFrame(), pd.DataFrame())
        rows: list[dict[str, Any]] = []
        project = _Project()
        with archive.open(entry) as stream:
            for source in _sources(stream, path, project):
                rows.extend(_source_rows(source, project, archive, path, imported))
    segments = pa.Table.from_pylist(rows, schema=CODED_SEGMENTS).to_pandas()
    imported.segments = segments.assign(project=name)
    imported.counts = code_counts(imported.segments)
    return imported


def code_counts(segments: pd.DataFrame) -> pd.DataFrame:
    """Selections and coded characters per code, transcript and speaker."""
    keys = ["project", "code", "origin", "transcript", "file", "speaker"]
    if segments.empty:
        return CODE_COUNTS.empty_table().to_pandas()
    counts = (
        segments.assign(characters=segments["end_position"] - segments["start_position"])
        .groupby(keys, dropna=False, sort=True)
        .agg(selections=("selection", "nunique"), characters=("characters", "sum"))
        .reset_index()
    )
    return counts.astype({"selections": "int64", "characters": "int64"})[CODE_COUNTS.names]


def _member(archive: zipfile.ZipFile, path: Path, name: str, limit: int) -> zipfile.ZipInfo:
    """The archive's member ``name`` (any folder case, as tools write ``Sources`` or ``sources``), checked
    against ``limit`` before anything is inflated: reading stops at the size the archive declares."""
    wanted = name.casefold()
    entry = next((info for info in archive.infolist() if info.filename.casefold() == wanted), None)
    if entry is None:
        raise QdaImportError(f"{path}: no {name} in the archive")
    if entry.file_size > limit:
        raise QdaImportError(f"{path}: {name} inflates to {entry.file_size:,} bytes (at most {limit:,})")
    return entry


@dataclass(frozen=True)
class _Source:
    guid: str
    name: str
    variables: dict[str, str]
    text: str | None
    text_path: str | None
    selections: list[tuple[str, int, int, list[tuple[str, str | None]]]]  # guid, start, end, (code guid, user)
    codings: list[tuple[str, str | None]]
    speakers: set[str]


def _local(tag: Any) -> str:
    return etree.QName(tag).localname if isinstance(tag, str) else ""


def _sources(stream: Any, path: Path, project: _Project) -> Iterator[_Source]:
    """Each text source of the project as it is read; the users, codes and cases before them are kept."""
    events = etree.iterparse(
        stream,
        events=("start", "end"),
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )
    try:
        for event, element in events:
            tag = _local(element.tag)
            if tag == "Code":
                if event == "start":
                    project.code_path.append(element.get("name") or "")
                else:
                    project.codes[_plain(element.get("guid"))] = "/".join(project.code_path)
                    project.code_path.pop()
            elif event == "start":
                continue
            elif tag == "User":
                project.users[_plain(element.get("guid"))] = element.get("name") or ""
            elif tag == "Case":
                for ref in element.iterchildren(f"{{{NAMESPACE}}}SourceRef"):
                    project.speakers.setdefault(_plain(ref.get("targetGUID")), set()).add(element.get("name") or "")
            elif tag == "TextSource" and _local(element.getparent().tag) == "Sources":
                yield _source(element, project)
                _release(element)
            elif tag in ("PictureSource", "PDFSource", "AudioSource", "VideoSource", "Note"):
                _release(element)
    except etree.XMLSyntaxError as exc:
        raise QdaImportError(f"{path}: project.qde is not well-formed XML ({exc})") from None


def _release(element: etree._Element) -> None:
    """Free a read element and the siblings read before it: memory follows one source, not the project."""
    element.clear()
    while element.getprevious() is not None:
        del element.getparent()[0]


def _plain(value: str | None) -> str:
    """A GUID as Qualia writes it: lower case, no braces (the schema allows both)."""
    return (value or "").strip().strip("{}").lower()


def _source(element: etree._Element, project: _Project) -> _Source:
    def children(parent: etree._Element, tag: str) -> Iterator[etree._Element]:
        return parent.iterchildren(f"{{{NAMESPACE}}}{tag}")

    def codings(parent: etree._Element) -> list[tuple[str, str | None]]:
        found = []
        for coding in children(parent, "Coding"):
            ref = next(children(coding, "CodeRef"), None)
            user = coding.get("creatingUser") or parent.get("creatingUser")
            found.append((_plain(ref.get("targetGUID") if ref is not None else None), _plain(user) or None))
        return found

    variables = {}
    for holder in children(element, "VariableValue"):
        ref = next(children(holder, "VariableRef"), None)
        value = next((child for child in holder if _local(child.tag) != "VariableRef"), None)
        if ref is not None and value is not None:
            variables[_plain(ref.get("targetGUID"))] = (value.text or "").strip()
    content = next(children(element, "PlainTextContent"), None)
    selections = [
        (_plain(s.get("guid")), _position(s, "startPosition"), _position(s, "endPosition"), codings(s))
        for s in children(element, "PlainTextSelection")
    ]
    source = _plain(element.get("guid"))
    return _Source(
        source,
        element.get("name") or source,
        variables,
        content.text or "" if content is not None else None,
        element.get("plainTextPath"),
        selections,
        codings(element),
        project.speakers.get(source, set()),
    )


def _position(selection: etree._Element, attribute: str) -> int:
    try:
        return int(selection.get(attribute, ""))
    except ValueError:
        return -1


def _source_rows(
    source: _Source, project: _Project, archive: zipfile.ZipFile, path: Path, imported: ImportedProject
) -> Iterator[dict[str, Any]]:
    """The rows of one source's codings, or nothing (and why, in ``imported``) when it is not Qualia's."""
    key = source.variables.get(variable_guid("Qualia transcript"))
    content_hash = source.variables.get(variable_guid("Input SHA-256"))
    if not key or not content_hash or source.guid != source_guid(key, content_hash):
        imported.skipped.append((source.name, "not a source Qualia exported (no Qualia transcript variables)"))
        return
    text = source.text if source.text is not None else _source_file(archive, path, source)
    if text is None:
        imported.skipped.append((source.name, f"its text ({source.text_path}) is not in the archive"))
        return
    imported.sources.append(key)
    turns = _Turns(text, source.speakers)
    facts = {"transcript": key, "file": source.name}
    for code, user in source.codings:
        if (row := _coding(project, code, user, imported, source.name)) is not None:
            yield {**facts, **row, "speaker": None, "time_s": None, "selection": source.guid,
                   "start_position": 0, "end_position": len(text), "text": None}  # fmt: skip
    for selection, start, end, codings in source.selections:
        if not 0 <= start <= end <= len(text):
            imported.problems.append(
                f"{source.name}: selection {selection} at {start}-{end} is outside the text (0-{len(text)}); skipped"
            )
            continue
        coded = [row for code, user in codings if (row := _coding(project, code, user, imported, source.name))]
        for turn_start, said_start, turn_end, speaker, time_s in turns.covering(start, end) if coded else ():
            first, last = max(start, said_start if end > said_start else turn_start), min(end, turn_end)
            piece = {"speaker": speaker, "time_s": time_s, "selection": selection}
            piece |= {"start_position": first, "end_position": last, "text": text[first:last]}
            for row in coded:
                yield {**facts, **row, **piece}


def _coding(
    project: _Project, code: str, user: str | None, imported: ImportedProject, source: str
) -> dict[str, Any] | None:
    if code not in project.codes:
        imported.problems.append(f"{source}: a coding refers to code {code or '(none)'}, not in the code book; skipped")
        return None
    origin = "qualia" if user == USER else "human"
    coder = project.users.get(user or "", "") or ("Qualia" if origin == "qualia" else "unknown")
    return {"code": project.codes[code], "origin": origin, "coder": coder}


def _source_file(archive: zipfile.ZipFile, path: Path, source: _Source) -> str | None:
    """A source's text from ``Sources/`` (``internal://name``), checked for size before it is inflated."""
    if not source.text_path or not source.text_path.startswith("internal://"):
        return None
    try:
        entry = _member(archive, path, f"Sources/{source.text_path.removeprefix('internal://')}", MAX_SOURCE_BYTES)
    except QdaImportError as exc:
        if "no Sources/" in str(exc):
            return None
        raise
    return archive.read(entry).decode("utf-8-sig", errors="replace")


class _Turns:
    """The turns (lines) of a source's plain text: where each is, who spoke it and when."""

    def __init__(self, text: str, speakers: set[str]) -> None:
        self.text = text
        self.starts = [0]
        position = text.find("\n")
        while position != -1:
            self.starts.append(position + 1)
            position = text.find("\n", position + 1)
        self.speakers = sorted(speakers, key=len, reverse=True)

    def covering(self, start: int, end: int) -> Iterator[tuple[int, int, int, str | None, float | None]]:
        """Each turn the selection ``start``-``end`` touches (a selection of nothing: the turn it is in): where
        its line starts, where what was said starts (after the time and speaker), where it ends, who and when."""
        first = bisect.bisect_right(self.starts, start) - 1
        last = bisect.bisect_right(self.starts, max(start, end - 1)) - 1
        for line in range(first, last + 1):
            line_start = self.starts[line]
            line_end = self.starts[line + 1] - 1 if line + 1 < len(self.starts) else len(self.text)
            heading, speaker, time_s = self._heading(self.text[line_start:line_end])
            yield line_start, line_start + heading, line_end, speaker, time_s

    def _heading(self, line: str) -> tuple[int, str | None, float | None]:
        """How long the ``[hh:mm:ss] Speaker: `` heading of a line is, the speaker and the time: the speaker is
        one the project's cases name for this source where one starts the line, else the part before the first
        ": " (when the cases are gone)."""
        time_s, heading = None, 0
        close = line.find("] ", 0, 16)
        if line.startswith("[") and close > 0:
            parts = line[1:close].split(":")
            if len(parts) == 3 and all(part.isdigit() for part in parts):
                time_s = float(int(parts[0]) * 3600 + int(parts[1]) * 60 + int(parts[2]))
                heading = close + 2
        rest = line[heading:]
        if self.speakers:
            speaker = next((name for name in self.speakers if rest.startswith(f"{name}: ")), None)
        else:
            colon = rest.find(": ")
            speaker = rest[:colon] if colon > 0 else None
        return heading + (len(speaker) + 2 if speaker else 0), speaker, time_s
