"""REFI-QDA: the processed samples exported as a .qdpx that validates against the REFI schema, with selections at
the exact text they code, and coding done in a QDA tool brought back as corpus tables."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path

import dagster as dg
import pytest
from fastapi.testclient import TestClient
from lxml import etree
from typer.testing import CliRunner

from qualia_pipelines.api.app import create_app
from qualia_pipelines.cli import app
from qualia_pipelines.core.qda import (
    NAMESPACE,
    SENTIMENT_PARENT,
    WORDS_PARENT,
    QdaTranscript,
    Utterance,
    guid,
    source_guid,
    write_project,
)
from qualia_pipelines.core.qda_import import QdaImportError, read_project
from qualia_pipelines.core.settings import Settings
from qualia_pipelines.orchestration.corpus_assets import qda_file, qda_project
from qualia_pipelines.orchestration.resources import QualiaResource
from tests.conftest import SAMPLES

SCHEMA = Path(__file__).resolve().parents[2] / "shared" / "standards" / "refi-qda" / "Project-mrt2019.xsd"
Q = f"{{{NAMESPACE}}}"
runner = CliRunner()


@pytest.fixture
def data(processed: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("QUALIA_DATA_DIR", str(processed))
    monkeypatch.setenv("DAGSTER_HOME", str(processed.parent / "dagster_home"))
    return processed


def records(data: Path, asset: str) -> dict[str, dict]:
    folder = data / "outputs" / asset
    return {path.stem: json.loads(path.read_text(encoding="utf-8")) for path in folder.glob("*.json")}


def export(out: Path, *args: str) -> None:
    result = runner.invoke(app, ["export-qda", str(out), *args])
    assert result.exit_code == 0, result.output


def project_of(path: Path) -> tuple[etree._Element, dict[str, str]]:
    """The parsed project.qde and each source's text (by source GUID)."""
    with zipfile.ZipFile(path) as archive:
        root = etree.fromstring(archive.read("project.qde"))
        texts = {
            name.removeprefix("Sources/").removesuffix(".txt"): archive.read(name).decode("utf-8")
            for name in archive.namelist()
            if name.startswith("Sources/")
        }
    return root, texts


def codes_by_guid(root: etree._Element) -> dict[str, str]:
    paths = {}
    for code in root.iter(f"{Q}Code"):
        parent = code.getparent()
        prefix = f"{parent.get('name')}/" if parent.tag == f"{Q}Code" else ""
        paths[code.get("guid")] = prefix + code.get("name")
    return paths


def exported_codings(data: Path) -> set[tuple[str, str | None, str, str]]:
    """What the export must hold, from the stored records: (transcript, speaker, code, coded text) for every
    utterance's sentiment label and every occurrence of a distinctive word."""
    import pandas as pd

    from qualia_pipelines.core.text import WORD_PATTERN

    distinctive = pd.read_parquet(data / "outputs" / "distinctive_words" / "all.parquet")
    moods = records(data, "sentiment_analyzer")
    expected = set()
    for key, record in records(data, "teams_cleaner").items():
        scored = moods[key]["values"]["sentiment"]["segment_sentiments"]
        labels = {(row["speaker"], row["start"], row["text"]): row["label"] for row in scored}
        words = set(distinctive.loc[distinctive["transcript"] == key, "word"])
        for row in record["values"]["cleaned_document"]["segments"]:
            label = labels[(row["speaker"], row["start"], row["text"])]
            expected.add((key, row["speaker"], f"{SENTIMENT_PARENT}/{label}", row["text"]))
            for match in WORD_PATTERN.finditer(row["text"]):
                if match.group().lower() in words:
                    expected.add((key, row["speaker"], f"{WORDS_PARENT}/{match.group().lower()}", match.group()))
    return expected


def test_the_export_validates_and_its_selections_point_at_the_exact_utterance_text(data: Path, tmp_path: Path) -> None:
    out = tmp_path / "corpus.qdpx"
    export(out)
    root, texts = project_of(out)
    if SCHEMA.is_file():
        schema = etree.XMLSchema(etree.parse(str(SCHEMA)))
        assert schema.validate(root), schema.error_log
    else:
        pytest.skip(f"validation skipped: the REFI-QDA schema is not at {SCHEMA} (../shared/standards)")
    codes = codes_by_guid(root)
    cleaned = records(data, "teams_cleaner")
    sources = root.findall(f"{Q}Sources/{Q}TextSource")
    assert sorted(source.get("name") for source in sources) == sorted(path.name for path in SAMPLES.values())
    found = set()
    for source in sources:
        text = texts[source.get("guid")]
        variables = {
            ref.find(f"{Q}VariableRef").get("targetGUID"): ref[1].text for ref in source.iter(f"{Q}VariableValue")
        }
        key = variables[guid("variable", "Qualia transcript")]
        record = cleaned[key]
        assert source.get("guid") == source_guid(key, record["content_hash"])
        assert variables[guid("variable", "Input SHA-256")] == record["content_hash"]
        assert variables[guid("variable", "Language")] == record["values"]["metadata"]["language"]
        segments = record["values"]["cleaned_document"]["segments"]
        assert len(text.splitlines()) == len(segments)  # one turn per line, with its speaker and time
        first = segments[0]
        assert text.splitlines()[0].startswith(f"[00:00:{int(first['start']):02d}] {first['speaker']}: ")
        for selection in source.iter(f"{Q}PlainTextSelection"):
            start, end = int(selection.get("startPosition")), int(selection.get("endPosition"))
            line = text[:start].count("\n")
            for coding in selection.iter(f"{Q}Coding"):
                code = codes[coding.find(f"{Q}CodeRef").get("targetGUID")]
                found.add((key, segments[line]["speaker"], code, text[start:end]))
        note = root.find(f"{Q}Notes/{Q}Note[@guid='{source.find(f'{Q}NoteRef').get('targetGUID')}']")
        provenance = note.findtext(f"{Q}PlainTextContent")
        assert record["content_hash"] in provenance and "teams_cleaner 1." in provenance
        assert "sentiment_analyzer" in provenance and "polarity_threshold" in provenance
    assert found == exported_codings(data)  # every utterance's label and every distinctive word, nothing else
    cases = {case.get("name"): case for case in root.iter(f"{Q}Case")}
    assert set(cases) == {row["speaker"] for r in cleaned.values() for row in r["values"]["speakers"]}
    assert len(cases["Rafael Costa"].findall(f"{Q}SelectionRef")) == 3  # his three turns in retro_pt.txt

    again = tmp_path / "again.qdpx"
    export(again)
    with zipfile.ZipFile(out) as first, zipfile.ZipFile(again) as second:
        assert {n: first.read(n) for n in first.namelist()} == {n: second.read(n) for n in second.namelist()}
    one = tmp_path / "one.qdpx"
    export(one, "--transcripts", "retro_pt.txt")
    [alone] = project_of(one)[0].findall(f"{Q}Sources/{Q}TextSource")
    assert etree.tostring(alone) == etree.tostring(next(s for s in sources if s.get("name") == "retro_pt.txt"))


def test_import_reproduces_the_exported_codes_and_counts_coding_added_in_a_qda_tool(data: Path, tmp_path: Path) -> None:
    out = tmp_path / "corpus.qdpx"
    export(out)
    before = tree_digest(data / "inbox"), tree_digest(data / "outputs", skip="corpus_store")
    imported = read_project(out, "round-trip")
    assert sorted(imported.sources) == sorted(p.name for p in SAMPLES.values()) and not imported.skipped
    rows = imported.segments
    assert set(rows["origin"]) == {"qualia"}
    assert set(zip(rows["transcript"], rows["speaker"], rows["code"], rows["text"], strict=True)) == exported_codings(
        data
    )

    coded = tmp_path / "coded.qdpx"
    hand_coded(out, coded)
    result = runner.invoke(app, ["import-qda", str(coded), "--name", "coded", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    [skipped] = summary["skipped"]
    assert skipped["source"] == "field notes.txt" and skipped["reason"].startswith("not a source Qualia exported")
    assert summary["sources"] == 4 and summary["human_selections"] == 2
    table = runner.invoke(app, ["corpus", "code_counts", "--json", "--limit", "500"])
    human = [row for row in json.loads(table.stdout) if row["origin"] == "human"]
    assert {(row["code"], row["speaker"], row["selections"], row["characters"]) for row in human} == {
        ("Pain points/Onboarding", "Rafael Costa", 2, len("integração") + len("Muito bom!")),
        ("Pain points/Onboarding", "Tiago Almeida", 1, len("Mas o consumo")),
    }
    segments = json.loads(runner.invoke(app, ["corpus", "coded_segments", "--json", "--limit", "1000"]).stdout)
    spanning = [row for row in segments if row["selection"] == SPANNING]  # a row per turn, without its heading
    assert [(row["speaker"], row["time_s"], row["text"]) for row in spanning] == [
        ("Rafael Costa", 58.0, "Muito bom!"),
        ("Tiago Almeida", 63.0, "Mas o consumo"),
    ]
    assert {row["coder"] for row in segments if row["origin"] == "human"} == {"Ana (NVivo)"}
    assert (tree_digest(data / "inbox"), tree_digest(data / "outputs", skip="corpus_store")) == before
    again = runner.invoke(app, ["import-qda", str(coded), "--name", "coded"])
    assert again.exit_code == 1 and "already imported" in again.stderr  # nothing replaced unless asked
    assert runner.invoke(app, ["import-qda", str(coded), "--name", "coded", "--replace"]).exit_code == 0


SPANNING = "0f8a6a1e-9f0b-4d1c-8e55-1b7a3f1d2c01"
PAIN, ONBOARDING, FOREIGN = (f"1a2b3c4d-0000-4000-8000-00000000000{n}" for n in (1, 2, 3))


def hand_coded(exported: Path, coded: Path) -> None:
    """``exported`` as a QDA tool gives it back after a researcher's work: a user, a code of their own applied
    to a word and to a passage spanning two turns, and a document of their own (which Qualia did not export)."""
    with zipfile.ZipFile(exported) as archive:
        parts = {name: archive.read(name) for name in archive.namelist()}
    root = etree.fromstring(parts["project.qde"])
    user = "7d2c9b1a-4e3f-4a5b-8c6d-9e0f1a2b3c4d"
    etree.SubElement(root.find(f"{Q}Users"), f"{Q}User", guid=user, name="Ana (NVivo)")
    codes = root.find(f"{Q}CodeBook/{Q}Codes")
    parent = etree.SubElement(codes, f"{Q}Code", guid=PAIN, name="Pain points", isCodable="false")
    etree.SubElement(parent, f"{Q}Code", guid=ONBOARDING, name="Onboarding", isCodable="true")
    retro = next(s for s in root.iter(f"{Q}TextSource") if s.get("name") == "retro_pt.txt")
    text = parts[f"Sources/{retro.get('guid')}.txt"].decode("utf-8")
    word, bom, memory = (text.index(said) for said in ("integração", "Muito bom!", "Mas o consumo"))
    passages = [("0f8a6a1e-9f0b-4d1c-8e55-1b7a3f1d2c00", word, word + len("integração")),
                (SPANNING, bom, memory + len("Mas o consumo"))]  # fmt: skip
    for selection_guid, start, end in passages:
        place = {"startPosition": str(start), "endPosition": str(end), "creatingUser": user}
        selection = etree.Element(f"{Q}PlainTextSelection", guid=selection_guid, **place)
        coding = etree.SubElement(selection, f"{Q}Coding", guid=selection_guid[:-2] + "99", creatingUser=user)
        etree.SubElement(coding, f"{Q}CodeRef", targetGUID=ONBOARDING)
        retro.find(f"{Q}NoteRef").addprevious(selection)
    foreign = etree.SubElement(root.find(f"{Q}Sources"), f"{Q}TextSource", guid=FOREIGN, name="field notes.txt")
    etree.SubElement(foreign, f"{Q}PlainTextContent").text = "Notes from the site visit."
    parts["project.qde"] = etree.tostring(root, xml_declaration=True, encoding="utf-8")
    with zipfile.ZipFile(coded, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in parts.items():
            archive.writestr(name, content)


def tree_digest(folder: Path, skip: str = "") -> str:
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not (skip and skip in path.parts):
            digest.update(str(path.relative_to(folder)).encode() + path.read_bytes())
    return digest.hexdigest()


def test_the_api_and_the_dagster_asset_export_the_same_project(data: Path, tmp_path: Path) -> None:
    cli = tmp_path / "cli.qdpx"
    export(cli)
    with TestClient(create_app(Settings(data_dir=data))) as client:
        answer = client.get("/export/qdpx")
        assert answer.status_code == 200 and answer.headers["content-type"] == "application/zip"
        assert 'filename="qualia.qdpx"' in answer.headers["content-disposition"]
        one = client.get("/export/qdpx", params={"transcripts": ["retro_pt.txt"], "since": "2000-01-01"})
        unknown = client.get("/export/qdpx", params={"transcripts": ["nope.vtt"]})
        assert unknown.status_code == 400 and "nope.vtt" in unknown.json()["error"]
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr("qualia_pipelines.api.corpus.MAX_EXPORT", 3)
            too_many = client.get("/export/qdpx")
        assert too_many.status_code == 400 and "4 transcripts match" in too_many.json()["error"]
    with zipfile.ZipFile(io.BytesIO(answer.content)) as api, zipfile.ZipFile(cli) as local:
        assert api.read("project.qde") == local.read("project.qde")  # one engine, one answer
    with zipfile.ZipFile(io.BytesIO(one.content)) as archive:
        assert len(archive.namelist()) == 2  # project.qde and one source

    with dg.DagsterInstance.get() as instance:
        qualia = QualiaResource(inbox=str(data / "inbox"), max_bytes=1 << 20, outputs=str(data / "outputs"))
        result = dg.materialize([qda_project], instance=instance, resources={"qualia": qualia})
    assert result.success
    [event] = result.get_asset_materialization_events()
    assert event.materialization.metadata["sources"].value == len(SAMPLES)
    with zipfile.ZipFile(qda_file(data / "outputs")) as asset, zipfile.ZipFile(cli) as local:
        assert asset.read("project.qde") == local.read("project.qde")


def test_a_qdpx_that_cannot_be_read_is_refused_naming_the_file_and_what_is_wrong(data: Path, tmp_path: Path) -> None:
    def qdpx(name: str, project: bytes | None, **extra: bytes) -> Path:
        path = tmp_path / name
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
            if project is not None:
                archive.writestr("project.qde", project)
            for member, content in extra.items():
                archive.writestr(member, content)
        return path

    not_zip = tmp_path / "notes.qdpx"
    not_zip.write_text("just text")
    cases = {
        not_zip: "not a .qdpx",
        qdpx("empty.qdpx", None, other=b"x"): "no project.qde",
        qdpx("broken.qdpx", b"<Project xmlns='urn:QDA-XML:project:1.0'><Sources>"): "not well-formed XML",
    }
    for path, message in cases.items():
        with pytest.raises(QdaImportError, match=rf"^{path}: .*{message}"):
            read_project(path, "x")
    large = qdpx("large.qdpx", b"<Project/>" + b" " * 5000)  # refused before it is inflated
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("qualia_pipelines.core.qda_import.MAX_PROJECT_BYTES", 1000)
        with pytest.raises(QdaImportError, match=r"project\.qde inflates to 5,010 bytes"):
            read_project(large, "x")

    laughs = (  # entities are never expanded: a billion laughs stays a few bytes, no DTD or network is read
        b'<?xml version="1.0"?><!DOCTYPE p [<!ENTITY a "ha"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
        b'<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY x SYSTEM "file:///etc/passwd">]>'
        b'<Project xmlns="urn:QDA-XML:project:1.0" name="&c;"><Sources><TextSource guid="'
        + FOREIGN.encode()
        + b'" name="notes"><PlainTextContent>&x;&c;</PlainTextContent></TextSource></Sources></Project>'
    )
    imported = read_project(qdpx("laughs.qdpx", laughs), "x")
    assert imported.sources == [] and imported.skipped[0][0] == "notes"
    with pytest.raises(QdaImportError, match="not well-formed"):  # an external entity in an attribute
        read_project(qdpx("attribute.qdpx", laughs.replace(b'name="notes"', b'name="&x;"')), "x")

    out = tmp_path / "corpus.qdpx"
    export(out)
    with zipfile.ZipFile(out) as archive:
        parts = {name: archive.read(name) for name in archive.namelist()}
    root = etree.fromstring(parts["project.qde"])
    selection = next(root.iter(f"{Q}PlainTextSelection"))
    selection.set("endPosition", "999999")
    parts["project.qde"] = etree.tostring(root)
    shifted = qdpx("shifted.qdpx", None, **parts)
    imported = read_project(shifted, "x")
    assert any("outside the text" in problem for problem in imported.problems)  # reported, the rest imported
    assert len(imported.sources) == len(SAMPLES)
    result = runner.invoke(app, ["import-qda", str(shifted), "--name", "../escape"])
    assert result.exit_code == 1 and "name:" in result.stderr


def test_text_xml_cannot_hold_is_exported_with_exact_offsets(tmp_path: Path) -> None:
    """A control character a transcript carried (a form feed from a PDF copy) becomes U+FFFD, one for one."""
    said = "Bom dia\x0c a todos \x00 e\nbem-vindos"
    transcript = QdaTranscript("k", "a\x1fb.txt", "0" * 64, None, "pt", None,
                               [Utterance("Ana\x07", 3.0, said, "positive")], {"Ana\x07": 5})  # fmt: skip
    out = write_project([transcript], tmp_path / "odd.qdpx", "Odd \x1f project", "0").path
    root, texts = project_of(out)
    [text] = texts.values()
    [selection] = root.iter(f"{Q}PlainTextSelection")
    start, end = int(selection.get("startPosition")), int(selection.get("endPosition"))
    assert text[start:end] == "Bom dia\ufffd a todos \ufffd e bem-vindos" and text.startswith("[00:00:03] Ana\ufffd: ")
    if SCHEMA.is_file():
        assert etree.XMLSchema(etree.parse(str(SCHEMA))).validate(root)
