"""REFI-QDA projects (``.qdpx``) for NVivo, ATLAS.ti, MAXQDA and QualCoder: what Qualia exports.

A project holds one text source per transcript: the cleaned transcript as plain text, one speaker turn per
line (``[hh:mm:ss] Speaker: what was said``), stored as ``Sources/<guid>.txt``. Qualia's codes are a code
book (each utterance's sentiment; the transcript's distinctive words) applied as selections at character
offsets of that text (Unicode code points, end exclusive); each speaker is a case holding their turns;
variables carry the meeting date, language, duration and each speaker's share of the words; a note per
source records its provenance (Qualia and plugin versions, parameters, the input file's SHA-256).

Every GUID is derived from content (a name-based UUID), and nothing in the file depends on when it was
written: exporting the same transcripts twice gives the same ``project.qde``, and a QDA tool sees the
same sources and codes again. The XML is written as it goes, one transcript at a time, so an export's memory
follows one transcript, not the corpus.
"""

from __future__ import annotations

import json
import os
import tempfile
import uuid
import zipfile
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from lxml import etree

from qualia_pipelines.core.contract import QualiaError
from qualia_pipelines.core.text import WORD_PATTERN, normalise_quotes

if TYPE_CHECKING:
    from qualia_pipelines.core.corpus import CorpusStore

NAMESPACE = "urn:QDA-XML:project:1.0"
GUIDS = uuid.UUID("6f1b3c2e-8d4a-5e7f-9a0b-1c2d3e4f5a6b")
"""Qualia's namespace for name-based GUIDs: the same name gives the same GUID in every export."""
SENTIMENT_CODES = {"positive": "#2ca02c", "neutral": "#7f7f7f", "negative": "#d62728"}
SENTIMENT_PARENT = "Qualia sentiment"
WORDS_PARENT = "Qualia distinctive words"
USER_NAME = "Qualia"
SOURCE_VARIABLES = {
    "Qualia transcript": "Text",
    "Input SHA-256": "Text",
    "Meeting date": "Date",
    "Language": "Text",
    "Duration (minutes)": "Float",
}
"""The variables each source carries; the first two identify it as Qualia's when a project comes back."""
CASE_VARIABLES = {"Share of words": "Float", "Meetings": "Integer"}


def guid(*parts: str) -> str:
    """The GUID of the thing named by ``parts`` (a code, a source, a selection...)."""
    return str(uuid.uuid5(GUIDS, "\x1f".join(parts)))


USER = guid("user", USER_NAME)


def code_guid(parent: str, name: str) -> str:
    return guid("code", parent, name)


def variable_guid(name: str) -> str:
    return guid("variable", name)


def source_guid(key: str, content_hash: str) -> str:
    """A transcript's source: the same transcript with the same input file is the same source."""
    return guid("source", key, content_hash)


@dataclass(frozen=True)
class Utterance:
    speaker: str | None
    start: float | None
    text: str
    sentiment: str | None = None  # positive, neutral or negative; None where the language has no engine


@dataclass(frozen=True)
class QdaTranscript:
    """What a source is made of: one transcript's cleaned turns and facts, from its stored records."""

    key: str
    file: str
    content_hash: str
    date: str | None
    language: str | None
    duration_s: float | None
    utterances: Sequence[Utterance]
    speaker_words: Mapping[str, int]
    distinctive: Sequence[str] = ()
    provenance: Sequence[Mapping[str, Any]] = ()


@dataclass(frozen=True)
class Line:
    """One turn's line in a source's plain text, and where the utterance's own text sits in it."""

    start: int
    text_start: int
    end: int


_NOT_XML = {code: "\ufffd" for code in [*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), *range(0xD800, 0xE000),
                                       0xFFFE, 0xFFFF]}  # fmt: skip
"""Characters XML 1.0 cannot hold, each replaced by U+FFFD: one character for one, so offsets stay exact."""


def xml_text(text: str) -> str:
    """``text`` as XML can hold it (a control character a transcript carried becomes U+FFFD)."""
    return text.translate(_NOT_XML)


def xml_safe(transcript: QdaTranscript) -> QdaTranscript:
    """The transcript with every name and text XML can hold."""
    return replace(
        transcript,
        file=xml_text(transcript.file),
        utterances=[
            replace(u, speaker=xml_text(u.speaker) if u.speaker else u.speaker, text=xml_text(u.text))
            for u in transcript.utterances
        ],
        speaker_words={xml_text(speaker): words for speaker, words in transcript.speaker_words.items()},
    )


def clock(seconds: float) -> str:
    whole = int(seconds)
    return f"{whole // 3600:02d}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


def one_line(text: str) -> str:
    """An utterance on one line: line breaks inside it become spaces (the only change made to its text)."""
    return " ".join(text.splitlines()) if "\n" in text or "\r" in text else text


def source_text(utterances: Sequence[Utterance]) -> tuple[str, list[Line]]:
    """The plain text of a source and each utterance's line in it."""
    parts: list[str] = []
    lines: list[Line] = []
    position = 0
    for utterance in utterances:
        head = f"[{clock(utterance.start)}] " if utterance.start is not None else ""
        head += f"{one_line(utterance.speaker)}: " if utterance.speaker else ""
        line = head + one_line(utterance.text)
        lines.append(Line(position, position + len(head), position + len(line)))
        parts.append(line)
        position += len(line) + 1
    return "\n".join(parts), lines


@dataclass
class ExportSummary:
    path: Path
    sources: int = 0
    selections: int = 0
    codes: dict[str, int] = field(default_factory=dict)


@dataclass
class _Corpus:
    """What the project's code book, variables and cases need, gathered while the sources are written."""

    words: Counter[str] = field(default_factory=Counter)  # distinctive word -> selections
    sentiments: Counter[str] = field(default_factory=Counter)
    speaker_words: Counter[str] = field(default_factory=Counter)
    speaker_sources: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    speaker_selections: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))


def write_project(transcripts: Iterable[QdaTranscript], path: Path, name: str, qualia_version: str) -> ExportSummary:
    """The ``.qdpx`` at ``path`` holding ``transcripts``: written beside it under a temporary name, then renamed,
    so an interrupted export never leaves a half project that looks whole."""
    path.parent.mkdir(parents=True, exist_ok=True)
    summary = ExportSummary(path)
    corpus = _Corpus()
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(handle)
    try:
        with (
            zipfile.ZipFile(temporary, "w", zipfile.ZIP_DEFLATED) as archive,
            tempfile.TemporaryFile() as sources,
            tempfile.TemporaryFile() as notes,
        ):
            for transcript in map(xml_safe, transcripts):
                text, lines = source_text(transcript.utterances)
                source = source_guid(transcript.key, transcript.content_hash)
                archive.writestr(f"Sources/{source}.txt", text.encode("utf-8"))
                element, note = _source_elements(transcript, source, text, lines, corpus, qualia_version)
                sources.write(etree.tostring(element, encoding="utf-8"))
                notes.write(etree.tostring(note, encoding="utf-8"))
                summary.sources += 1
                summary.selections += len(element.findall(f"{{{NAMESPACE}}}PlainTextSelection"))
            with archive.open("project.qde", "w") as qde:
                _write_qde(qde, xml_text(name), corpus, sources, notes, summary, qualia_version)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    summary.codes = {**{f"{SENTIMENT_PARENT}/{k}": v for k, v in sorted(corpus.sentiments.items())},
                     **{f"{WORDS_PARENT}/{k}": v for k, v in sorted(corpus.words.items())}}  # fmt: skip
    return summary


def _q(tag: str) -> str:
    return f"{{{NAMESPACE}}}{tag}"


def _element(tag: str, parent: etree._Element | None = None, **attributes: str) -> etree._Element:
    if parent is None:
        return etree.Element(_q(tag), attributes, nsmap={None: NAMESPACE})
    return etree.SubElement(parent, _q(tag), attributes)


def _source_elements(
    transcript: QdaTranscript, source: str, text: str, lines: list[Line], corpus: _Corpus, version: str
) -> tuple[etree._Element, etree._Element]:
    """A transcript's ``TextSource`` (selections, codings, variables) and its provenance ``Note``."""
    element = _element("TextSource", name=transcript.file, guid=source, plainTextPath=f"internal://{source}.txt")
    _element("Description", element).text = f"{transcript.file}: cleaned by Qualia (transcript {transcript.key})"
    words = set(transcript.distinctive)
    for utterance, line in zip(transcript.utterances, lines, strict=True):
        selection = _selection(element, source, line.text_start, line.end, utterance.sentiment, SENTIMENT_PARENT)
        selection.set("name", f"{utterance.speaker or 'Unknown speaker'} {text[line.start : line.text_start]}".strip())
        if utterance.sentiment:
            corpus.sentiments[utterance.sentiment] += 1
        if utterance.speaker:
            corpus.speaker_selections[utterance.speaker].append(selection.get("guid"))
        for match in WORD_PATTERN.finditer(text, line.text_start, line.end):
            if (word := normalise_quotes(match.group()).lower()) in words:
                _selection(element, source, match.start(), match.end(), word, WORDS_PARENT).set("name", word)
                corpus.words[word] += 1
    note_guid = guid("note", source)
    _element("NoteRef", element, targetGUID=note_guid)
    facts = {
        "Qualia transcript": transcript.key,
        "Input SHA-256": transcript.content_hash,
        "Meeting date": (transcript.date or "")[:10],
        "Language": transcript.language or "",
        "Duration (minutes)": f"{transcript.duration_s / 60:.2f}" if transcript.duration_s is not None else "",
    }
    for variable, value in facts.items():
        if value:
            _variable_value(element, variable, SOURCE_VARIABLES[variable], value)
    for speaker, count in transcript.speaker_words.items():
        corpus.speaker_words[speaker] += count
        corpus.speaker_sources[speaker].append(source)
    note = _element("Note", guid=note_guid, name=f"Qualia provenance: {transcript.file}")
    _element("PlainTextContent", note).text = provenance_text(transcript, version)
    return element, note


def _selection(
    source_element: etree._Element, source: str, start: int, end: int, code: str | None, parent: str
) -> etree._Element:
    selection = _element(
        "PlainTextSelection",
        source_element,
        guid=guid("selection", source, parent, str(start), str(end)),
        startPosition=str(start),
        endPosition=str(end),
        creatingUser=USER,
    )
    if code:
        coding = _element("Coding", selection, guid=guid("coding", source, str(start), str(end), parent, code))
        coding.set("creatingUser", USER)
        _element("CodeRef", coding, targetGUID=code_guid(parent, code))
    return selection


def _variable_value(parent: etree._Element, name: str, kind: str, value: str) -> None:
    holder = _element("VariableValue", parent)
    _element("VariableRef", holder, targetGUID=variable_guid(name))
    _element(f"{kind}Value", holder).text = value


def provenance_text(transcript: QdaTranscript, version: str) -> str:
    steps = "\n".join(
        f"- {step['plugin']} {step['version']}: {json.dumps(step.get('parameters', {}), sort_keys=True)}"
        for step in transcript.provenance
    )
    return (
        f"Exported by Qualia {version} from {transcript.file} (transcript {transcript.key}).\n"
        f"Input file SHA-256: {transcript.content_hash}\n"
        f"Plugins (version: parameters):\n{steps}\n"
        "Codes under 'Qualia sentiment' are each utterance's sentiment label; codes under 'Qualia distinctive "
        "words' mark each occurrence of the transcript's distinctive words (TF-IDF, top 10)."
    )


def _write_qde(
    qde: BinaryIO, name: str, corpus: _Corpus, sources: BinaryIO, notes: BinaryIO, summary: ExportSummary, version: str
) -> None:
    """``project.qde``: the code book, variables and cases (known now that every source is written), then the
    sources and notes copied from their temporary files, in the schema's order."""
    qde.write(b'<?xml version="1.0" encoding="utf-8"?>\n')
    qde.write(f'<Project xmlns="{NAMESPACE}" name={_attribute(name)} origin="Qualia {version}" '.encode())
    qde.write(f'creatingUserGUID="{USER}">'.encode())
    users = _element("Users")
    _element("User", users, guid=USER, name=USER_NAME)
    qde.write(etree.tostring(users, encoding="utf-8"))
    qde.write(etree.tostring(_code_book(corpus), encoding="utf-8"))
    variables = _element("Variables")
    for variable, kind in {**SOURCE_VARIABLES, **CASE_VARIABLES}.items():
        _element("Variable", variables, guid=variable_guid(variable), name=variable, typeOfVariable=kind)
    qde.write(etree.tostring(variables, encoding="utf-8"))
    if corpus.speaker_sources:
        qde.write(etree.tostring(_cases(corpus), encoding="utf-8"))
    for tag, part in (("Sources", sources), ("Notes", notes)):
        if summary.sources:
            part.seek(0)
            qde.write(f"<{tag}>".encode())
            while chunk := part.read(1 << 20):
                qde.write(chunk)
            qde.write(f"</{tag}>".encode())
    qde.write(b"<Description>Exported by Qualia Pipelines: cleaned meeting transcripts with Qualia's codes.")
    qde.write(b"</Description></Project>\n")


def _attribute(value: str) -> str:
    """``value`` quoted as an XML attribute."""
    return etree.tostring(etree.Element("a", v=value)).decode()[len("<a v=") : -len("/>")]


def _code_book(corpus: _Corpus) -> etree._Element:
    book = _element("CodeBook")
    codes = _element("Codes", book)
    sentiment = _element("Code", codes, guid=guid("code", SENTIMENT_PARENT), name=SENTIMENT_PARENT, isCodable="false")
    _element("Description", sentiment).text = "Each utterance's sentiment label, from sentiment_analyzer."
    for label, color in SENTIMENT_CODES.items():
        _element("Code", sentiment, guid=code_guid(SENTIMENT_PARENT, label), name=label, isCodable="true", color=color)
    words = _element("Code", codes, guid=guid("code", WORDS_PARENT), name=WORDS_PARENT, isCodable="false")
    _element("Description", words).text = "The words that set each transcript apart (TF-IDF across the corpus)."
    for word in sorted(corpus.words):
        _element("Code", words, guid=code_guid(WORDS_PARENT, word), name=word, isCodable="true")
    return book


def _cases(corpus: _Corpus) -> etree._Element:
    cases = _element("Cases")
    total = sum(corpus.speaker_words.values()) or 1
    for speaker in sorted(corpus.speaker_sources):
        case = _element("Case", cases, guid=guid("case", speaker), name=speaker)
        _element("Description", case).text = f"Speaker {speaker}: their turns in the exported transcripts."
        _variable_value(case, "Share of words", "Float", f"{corpus.speaker_words[speaker] / total:.4f}")
        _variable_value(case, "Meetings", "Integer", str(len(corpus.speaker_sources[speaker])))
        for source in corpus.speaker_sources[speaker]:
            _element("SourceRef", case, targetGUID=source)
        for selection in corpus.speaker_selections.get(speaker, ()):
            _element("SelectionRef", case, targetGUID=selection)
    return cases


def export_keys(store: CorpusStore, transcripts: Sequence[str] = (), since: str | None = None) -> list[str]:
    """The transcripts an export holds, oldest meeting first: those named (all when none are), with meetings on
    or after ``since`` (an ISO date). Naming one the corpus does not hold is an error that names it."""
    known = store.query("SELECT transcript, date FROM transcripts ORDER BY date NULLS FIRST, transcript")
    if transcripts:
        unknown = sorted(set(transcripts) - set(known["transcript"]))
        if unknown:
            raise QualiaError(f"transcripts: not in the corpus (processed and refreshed): {', '.join(unknown)}")
        known = known[known["transcript"].isin(set(transcripts))]
    if since:
        known = known[known["date"].notna() & (known["date"].astype(str).str[:10] >= since)]
    return list(known["transcript"])


def export_transcripts(outputs: Path, keys: Sequence[str]) -> Iterator[QdaTranscript]:
    """Each of ``keys`` as a source, read when the export reaches it, with its distinctive words from the
    corpus table the last refresh wrote (none before the first)."""
    table = outputs / "distinctive_words" / "all.parquet"
    words: dict[str, list[str]] = defaultdict(list)
    if keys and table.is_file():
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.parquet as pq

        rows = pq.read_table(table, columns=["transcript", "word"]).cast(pa.schema([("transcript", pa.string()),
                                                                               ("word", pa.string())]))  # fmt: skip
        rows = rows.filter(pc.is_in(rows["transcript"], value_set=pa.array(list(keys), pa.string())))
        for key, word in zip(*rows.to_pydict().values(), strict=True):
            words[key].append(word)
    for key in keys:
        if (transcript := qda_transcript(outputs, key, words.get(key, ()))) is not None:
            yield transcript


def qda_transcript(outputs: Path, key: str, distinctive: Sequence[str] = ()) -> QdaTranscript | None:
    """A transcript as a source, from its stored teams_cleaner and sentiment_analyzer records (None: not
    cleaned yet)."""
    cleaner = _record(outputs / "teams_cleaner" / f"{key}.json")
    if cleaner is None:
        return None
    mood = _record(outputs / "sentiment_analyzer" / f"{key}.json")
    words = _record(outputs / "word_frequency" / f"{key}.json")
    labels = {}
    if mood is not None:
        scored = mood["values"]["sentiment"].get("segment_sentiments") or []
        labels = {(row["speaker"], row["start"], row["text"]): row["label"] for row in scored}
    values = cleaner["values"]
    utterances = [
        Utterance(row["speaker"], row["start"], row["text"], labels.get((row["speaker"], row["start"], row["text"])))
        for row in values["cleaned_document"]["segments"]
        if row["text"].strip()
    ]
    provenance = {step["plugin"]: step for record in (cleaner, words, mood) if record for step in record["provenance"]}
    metadata = values["metadata"]
    return QdaTranscript(
        key=key,
        file=Path(cleaner.get("source") or key).name,
        content_hash=cleaner["content_hash"],
        date=metadata.get("date"),
        language=metadata.get("language"),
        duration_s=metadata.get("duration_s"),
        utterances=utterances,
        speaker_words={row["speaker"]: int(row["words"]) for row in values["speakers"]},
        distinctive=tuple(distinctive),
        provenance=list(provenance.values()),
    )


def _record(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
