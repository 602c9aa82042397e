"""Hostile input: every reader in time linear in its input, bounded DOCX inflation, tidy speaker names.

The time checks run the readers in a child process under a generous hard limit, never as a wall-clock
assertion: on these inputs a linear reader takes a fraction of a second, and the quadratic or
exponential ones they replace took minutes to forever (bench/adversarial.py prints the figures).
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.adversarial import SHAPES, docx_of
from qualia_pipelines.core.readers import TranscriptError, transcript_from_bytes
from qualia_pipelines.core.readers.docx import MAX_DOCX_INFLATED, MAX_DOCX_MEMBERS

ROOT = Path(__file__).resolve().parents[1]
SHAPE_BYTES = 1_000_000


def run_child(code: str, cwd: Path, limit_s: float) -> str:
    """Run ``code`` in a fresh interpreter; fail naming what it printed if it is not done in ``limit_s``."""
    environment = {**os.environ, "PYTHONPATH": str(ROOT)}
    try:
        done = subprocess.run(
            [sys.executable, "-c", code], cwd=cwd, env=environment, capture_output=True, text=True, timeout=limit_s
        )
    except subprocess.TimeoutExpired as expired:
        printed = (expired.stdout or b"").decode() if isinstance(expired.stdout, bytes) else expired.stdout or ""
        pytest.fail(f"not done within {limit_s} s; the last lines it printed:\n{printed[-2000:]}")
    assert done.returncode == 0, done.stderr[-4000:]
    return done.stdout


def test_every_adversarial_shape_is_read_in_linear_time(tmp_path: Path) -> None:
    """Each shape of bench/adversarial.py at 1 MB, read (or refused) by the real readers.

    The limit is generous: all of them together take a few seconds; before this change five of them
    took over 30 s each at this size, and the NOTE/cue shape grew 40x with each NOTE line.
    """
    code = f"""
import sys
from bench.adversarial import SHAPES
from qualia_pipelines.core.readers import TranscriptError, transcript_from_bytes
for name, (extension, build) in SHAPES.items():
    print("reading", name, flush=True)
    try:
        transcript_from_bytes(build({SHAPE_BYTES}), "shape" + extension)
    except TranscriptError as error:
        assert str(error).startswith("shape" + extension), error
print("all read")
"""
    printed = run_child(code, tmp_path, limit_s=120)
    assert printed.splitlines()[-1] == "all read"
    assert printed.count("reading") == len(SHAPES)


_PIECES = (
    "WEBVTT\n",
    "NOTE",
    "NOTE revisado\n",
    "revisado pela equipe\n",
    "00:00:01.000 --> 00:00:02.000",
    "0:0:0.0 --> 0:0:1.5",
    "-->",
    "\n",
    "\n\n",
    " ",
    "\t",
    "<v ",
    "<v.loud",
    "<v Ana>",
    "</v>",
    "<",
    ">",
    "<a",
    "<1",
    "&amp",
    "&#",
    ":",
    "Ana Souza",
    "[00:00:01]",
    "(00:01)",
    "1",
    "x",
    "\u200b",
    "\u202e",
)


_HEADERS = {  # where the runs start: between blocks, inside a cue, inside a NOTE, after a speaker name
    ".vtt": ("WEBVTT\n\n", "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\n", "WEBVTT\n\nNOTE\n"),
    ".srt": ("1\n00:00:01,000 --> 00:00:02,000\n", "1\n00:00:01,000 --> 00:00:02,000\nAna"),
    ".txt": ("", "Ana", "[00:00:01] Ana"),
}


@st.composite
def hostile_text(draw: st.DrawFn) -> str:
    """Pieces of transcript syntax, each repeated up to 100,000 times: long runs of what the patterns scan."""
    runs = draw(st.lists(st.tuples(st.sampled_from(_PIECES), st.integers(1, 100_000)), min_size=1, max_size=8))
    return "".join(piece * count for piece, count in runs)


@settings(max_examples=100, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(text=hostile_text(), extension=st.sampled_from(list(_HEADERS)), header=st.integers(0, 2))
def fuzz_text_readers(text: str, extension: str, header: int) -> None:
    headers = _HEADERS[extension]
    try:
        data = (headers[header % len(headers)] + text).encode("utf-8")
        transcript = transcript_from_bytes(data, f"fuzz{extension}")
    except TranscriptError as error:
        assert str(error).startswith(f"fuzz{extension}: ")
    else:
        assert transcript.segments and all(segment.text for segment in transcript.segments)


def test_hypothesis_fuzz_of_the_text_readers_with_adversarial_shapes(tmp_path: Path) -> None:
    """100 random compositions of long runs (up to a few MB), in a child process under a hard limit."""
    code = "from tests.test_hostile_input import fuzz_text_readers\nfuzz_text_readers()\nprint('fuzzed')"
    assert run_child(code, tmp_path, limit_s=300).strip().endswith("fuzzed")


def zip_bytes(members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_a_docx_decompression_bomb_is_refused_before_it_is_inflated() -> None:
    bomb = zip_bytes({"word/document.xml": b"<w:t>" + b" " * (MAX_DOCX_INFLATED + 1) + b"</w:t>"})
    assert len(bomb) < MAX_DOCX_INFLATED // 500
    with pytest.raises(TranscriptError, match=r"bomb\.docx: the \.docx would inflate to [\d,]+ bytes, over the limit"):
        transcript_from_bytes(bomb, "bomb.docx")


def test_a_docx_part_that_inflates_too_many_times_is_refused() -> None:
    dense = zip_bytes({"word/document.xml": b"a" * (8 * 1024 * 1024), "[Content_Types].xml": b"<Types/>"})
    with pytest.raises(TranscriptError, match=r"part 'word/document.xml' inflates [\d,]+x.*decompression bomb"):
        transcript_from_bytes(dense, "dense.docx")


def test_a_docx_of_too_many_parts_is_refused() -> None:
    crowded = zip_bytes({f"word/media/{index}.xml": b"" for index in range(MAX_DOCX_MEMBERS + 1)}, zipfile.ZIP_STORED)
    with pytest.raises(TranscriptError, match=r"crowded\.docx: not a usable \.docx file: 2,001 parts"):
        transcript_from_bytes(crowded, "crowded.docx")


def test_a_normal_docx_with_a_long_speaker_line_still_reads() -> None:
    transcript = transcript_from_bytes(docx_of(["Ana" + " " * 100_000 + "0:03", "Bom dia."]), "long.docx")
    assert [(segment.speaker, segment.start, segment.text) for segment in transcript.segments] == [
        ("Ana", 3.0, "Bom dia.")
    ]


def test_speaker_names_that_display_alike_are_one_speaker_and_the_repairs_are_reported() -> None:
    """Bidi controls, zero-width characters and decomposed accents make look-alike names of one person."""
    spellings = ["Júlia Ferreira", "Ju\u0301lia Ferreira", "Júlia\u200b Ferreira", "\u202eJúlia Ferreira\u202c"]
    cues = "".join(
        f"{index}\n00:00:0{index}.000 --> 00:00:0{index}.900\n<v {name}>Frase número {index} da reunião.</v>\n\n"
        for index, name in enumerate(spellings, start=1)
    )
    transcript = transcript_from_bytes(f"WEBVTT\n\n{cues}".encode(), "lookalikes.vtt")
    assert {segment.speaker for segment in transcript.segments} == {"Júlia Ferreira"}
    assert transcript.speaker_name_repairs == 3
    from qualia_pipelines.core.engine import Engine

    report = Engine().run("teams_cleaner", transcript).values["quality_report"]
    assert report["speaker_name_repairs"] == 3 and report["speakers_found"] == 1
