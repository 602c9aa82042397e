"""Transcript readers: every format and encoding in PLUGINS.md, and every kind of bad input."""

from __future__ import annotations

import codecs
import io
import re
import zipfile
from pathlib import Path

import pytest

from qualia_pipelines.core.readers import TranscriptError, read_transcript, transcript_from_text
from tests.conftest import SAMPLES, digest

VTT = """WEBVTT

3f1c2a9e-6b1d-4c57-9a0e-1b2f3c4d5e6f/12-0
00:00:03.120 --> 00:00:07.480
<v Ana Souza>Bom dia, pessoal.
Vamos começar a reunião.</v>

3f1c2a9e-6b1d-4c57-9a0e-1b2f3c4d5e6f/13-0
00:00:08.010 --> 00:00:13.640 align:start
<v Carlos Mendes>Trouxe os números &amp; gráficos

14
01:02:03.500 --> 01:02:05.000
Sem tag de voz aqui.
"""


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_teams_vtt_sample_has_speakers_times_and_language() -> None:
    transcript = read_transcript(SAMPLES["vtt_pt"])
    assert transcript.format == "vtt"
    assert transcript.language == "pt"
    assert len(transcript.segments) == 17
    first = transcript.segments[0]
    assert (first.speaker, first.start, first.end) == ("Ana Beatriz Souza", 3.12, 7.48)
    assert {s.speaker for s in transcript.segments} == {"Ana Beatriz Souza", "Carlos Mendes", "Júlia Ferreira"}


def test_vtt_cue_ids_multiline_cues_optional_closing_tag_and_no_voice() -> None:
    segments = transcript_from_text(VTT).segments
    assert [s.speaker for s in segments] == ["Ana Souza", "Carlos Mendes", None]
    assert segments[0].text == "Bom dia, pessoal. Vamos começar a reunião."
    assert segments[1].text == "Trouxe os números & gráficos"
    assert segments[2].start == pytest.approx(3723.5)


def test_docx_sample_reads_speakers_start_times_and_title() -> None:
    transcript = read_transcript(SAMPLES["docx_en"])
    assert transcript.format == "docx"
    assert transcript.language == "en"
    assert [s.speaker for s in transcript.segments] == [
        "Sam Okafor",
        "Lena Fischer",
        "Sam Okafor",
        "Lena Fischer",
        "Diego Alves",
        "Sam Okafor",
    ]
    assert transcript.segments[1].start == 11.0 and transcript.segments[0].end == 11.0
    assert transcript.metadata["title"] == "Planning meeting - transcript"


def test_docx_with_hour_timestamps(tmp_path: Path) -> None:
    import docx

    document = docx.Document()
    for text in (
        "Board meeting",
        "Maria Silva   1:02:03",
        "We approved the budget.",
        "More detail.",
        "João Pereira   1:05:00",
        "Great news for everyone.",
    ):
        document.add_paragraph(text)
    path = tmp_path / "board.docx"
    document.save(path)
    transcript = read_transcript(path)
    assert [(s.speaker, s.start) for s in transcript.segments] == [("Maria Silva", 3723.0), ("João Pereira", 3900.0)]
    assert transcript.segments[0].text == "We approved the budget. More detail."


def test_bracketed_text_sample_keeps_system_lines_for_the_cleaner() -> None:
    transcript = read_transcript(SAMPLES["txt_pt"])
    assert transcript.format == "bracketed"
    assert transcript.segments[0].speaker == "Sistema"
    assert transcript.segments[1].speaker == "Marina Lopes" and transcript.segments[1].start == 4.0


def test_three_bracketed_shapes_and_plain_text() -> None:
    text = "[00:00:05] Ana: Olá a todos.\nBruno (00:01:10): Tudo bem?\nCarla: Sim, tudo ótimo.\ncontinua aqui"
    segments = transcript_from_text(text).segments
    assert [(s.speaker, s.start) for s in segments] == [("Ana", 5.0), ("Bruno", 70.0), ("Carla", None)]
    assert segments[2].text == "Sim, tudo ótimo. continua aqui"
    plain = transcript_from_text("First paragraph here.\nStill first.\n\nSecond paragraph.")
    assert plain.format == "plain"
    assert [s.text for s in plain.segments] == ["First paragraph here. Still first.", "Second paragraph."]
    assert all(s.speaker is None for s in plain.segments)


def test_srt_with_speaker_prefixes(tmp_path: Path) -> None:
    srt = "1\n00:00:01,000 --> 00:00:04,000\nAna: Olá, tudo bem?\n\n2\n00:00:05,000 --> 00:00:07,500\nsem prefixo\n"
    transcript = read_transcript(write(tmp_path, "talk.srt", srt.encode()))
    assert transcript.format == "srt"
    assert [(s.speaker, s.start, s.end, s.text) for s in transcript.segments] == [
        ("Ana", 1.0, 4.0, "Olá, tudo bem?"),
        (None, 5.0, 7.5, "sem prefixo"),
    ]


@pytest.mark.parametrize(
    ("encoded", "encoding"),
    [
        (codecs.BOM_UTF8 + VTT.encode("utf-8"), "utf-8"),
        (codecs.BOM_UTF16_LE + VTT.encode("utf-16-le"), "utf-16-le"),
        (codecs.BOM_UTF16_BE + VTT.encode("utf-16-be"), "utf-16-be"),
        (VTT.encode("utf-16-le"), "utf-16-le"),
        (VTT.encode("utf-16-be"), "utf-16-be"),
        (VTT.replace("\n", "\r\n").encode("utf-8"), "utf-8"),
        (VTT.replace("\n", "\r").encode("utf-8"), "utf-8"),
    ],
)
def test_encodings_and_line_ends(tmp_path: Path, encoded: bytes, encoding: str) -> None:
    transcript = read_transcript(write(tmp_path, "meeting.vtt", encoded))
    assert transcript.encoding == encoding
    assert transcript.segments[0].text == "Bom dia, pessoal. Vamos começar a reunião."
    assert transcript.encoding_repairs == 0


def test_windows_1252_file_is_repaired_and_counted(tmp_path: Path) -> None:
    text = "[00:00:01] João: A reunião foi ótima, não?\n[00:00:05] Inês: Sim, ação aprovada.\n"
    transcript = read_transcript(write(tmp_path, "legacy.txt", text.encode("cp1252")))
    assert transcript.segments[0].text == "A reunião foi ótima, não?"
    assert transcript.segments[1].speaker == "Inês"
    assert transcript.encoding == "utf-8+windows-1252"
    assert transcript.encoding_repairs == 7  # ã ã ó ã in line 1, ê ç ã in line 2


def test_invalid_utf8_bytes_in_a_utf8_file_keep_the_valid_text(tmp_path: Path) -> None:
    data = "[00:00:01] Ana: Ação é tudo.\n".encode() + b"[00:00:02] Bia: caf\xe9 \xff ok\n"
    transcript = read_transcript(write(tmp_path, "mixed.txt", data))
    assert transcript.segments[0].text == "Ação é tudo."
    assert transcript.segments[1].text == "café ÿ ok"
    assert transcript.encoding_repairs == 2


def corrupt_docx_not_zip() -> bytes:
    return b"This is not a zip file at all, just text pretending." * 10


def zip_that_is_not_a_document() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("hello.txt", "not a word document")
    return buffer.getvalue()


PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256))


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("empty.vtt", b"", "the file is empty"),
        ("blank.txt", b"  \n\t\r\n  ", "only whitespace"),
        ("image.vtt", PNG, "this is a PNG image, not a transcript"),
        ("broken.docx", corrupt_docx_not_zip(), "not a valid .docx file: it is not a ZIP container"),
        ("archive.docx", zip_that_is_not_a_document(), "the ZIP has no word/document.xml"),
        ("bad.vtt", b"WEBVTT\n\n00:00:0x.000 --> 00:00:05.000\n<v A>hi</v>\n", "line 3: malformed cue timing"),
        ("backwards.vtt", b"WEBVTT\n\n00:00:09.000 --> 00:00:05.000\nhi\n", "cue ends before it starts"),
        ("noheader.vtt", b"00:00:01.000 --> 00:00:05.000\nhi\n", "first line must start with WEBVTT"),
        ("notes.pdf", b"%PDF-1.4", "unsupported file type .pdf"),
        ("binary.txt", bytes([7, 8, 1, 2, 3]) * 200, "binary"),
    ],
)
def test_bad_input_gets_a_clear_error_and_the_file_is_untouched(
    tmp_path: Path, name: str, data: bytes, reason: str
) -> None:
    path = write(tmp_path, name, data)
    before = (digest(path), path.stat().st_mtime_ns)
    with pytest.raises(TranscriptError) as error:
        read_transcript(path)
    assert str(path) in str(error.value)
    assert reason in str(error.value)
    assert (digest(path), path.stat().st_mtime_ns) == before


def test_size_limit_names_the_file_and_the_limit(tmp_path: Path) -> None:
    path = write(tmp_path, "big.txt", b"Ana: ola\n" * 2000)
    with pytest.raises(TranscriptError, match=r"big.txt: file is 18,000 bytes, over the size limit of 1,000 bytes"):
        read_transcript(path, max_bytes=1000)


def test_missing_file() -> None:
    with pytest.raises(TranscriptError, match=r"missing\.vtt: file not found"):
        read_transcript("missing.vtt")


CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpora" / "transcripts-public"


def test_zoom_vtt_name_prefixes_are_speakers() -> None:
    zoom = "WEBVTT\n\n1\n00:00:04.160 --> 00:00:15.370\nAna Souza: Bom dia, pessoal.\n\n"
    zoom += "2\n00:00:15.560 --> 00:00:18.550\nCarlos Mendes: Bom dia! Vamos lá.\n\n"
    zoom += "3\n00:00:18.900 --> 00:00:22.630\nAna Souza: Primeiro ponto: o prazo.\n"
    segments = transcript_from_text(zoom).segments
    assert [(s.speaker, s.text) for s in segments] == [
        ("Ana Souza", "Bom dia, pessoal."),
        ("Carlos Mendes", "Bom dia! Vamos lá."),
        ("Ana Souza", "Primeiro ponto: o prazo."),
    ]


def test_a_subtitle_line_ending_in_a_colon_is_not_a_speaker() -> None:
    cues = ["Regra número um: nunca conte.", "Eu sei.", "Por quê?", "Porque sim.", "Está bem."]
    body = "".join(f"00:00:0{n}.000 --> 00:00:0{n}.900\n{text}\n\n" for n, text in enumerate(cues))
    segments = transcript_from_text(f"WEBVTT\n\n{body}").segments
    assert [s.speaker for s in segments] == [None] * 5 and segments[0].text == cues[0]


def test_youtube_dl_vtt_a_timing_line_starts_a_cue_and_settings_and_word_timings_are_dropped() -> None:
    youtube = (
        "WEBVTT\nKind: captions\nLanguage: en\n\n"
        "00:05:02.070 --> 00:05:04.080 align:start position:0%\n"
        "yeah<00:05:02.500><c> what</c>\n"
        "00:05:04.080 --> 00:05:05.069 align:start position:0%\n"
        "is<00:05:04.300><c> this</c>\n"
    )
    segments = transcript_from_text(youtube).segments
    assert [(s.start, s.end, s.text) for s in segments] == [(302.07, 304.08, "yeah what"), (304.08, 305.069, "is this")]


def test_old_teams_and_overflowing_vtt_timings_are_read() -> None:
    old_teams = "WEBVTT\n\n0:0:0.0 --> 0:0:0.570\n<v Ana>Olá.</v>\n\n0:0:1.5 --> 0:1:2.25\n<v Bia>Oi, tudo bem?</v>\n"
    assert [(s.start, s.end) for s in transcript_from_text(old_teams).segments] == [(0.0, 0.57), (1.5, 62.25)]
    overflowing = "WEBVTT\n\n1\n00:00:60.000 --> 00:00:69.000\n<v Reyes, Maria>Sure.</v>\n"
    assert [(s.speaker, s.start, s.end) for s in transcript_from_text(overflowing).segments] == [
        ("Reyes, Maria", 60.0, 69.0)
    ]
    with pytest.raises(TranscriptError, match=r"line 3: malformed cue timing '00:00:07.000 --> 00:00:1d.890'"):
        transcript_from_text("WEBVTT\n\n00:00:07.000 --> 00:00:1d.890\ntexto\n")


def srt_of(*texts: str) -> str:
    return "".join(f"{n}\n00:00:{n:02d},000 --> 00:00:{n:02d},900\n{text}\n\n" for n, text in enumerate(texts, start=1))


def test_srt_labels_are_speakers_only_when_they_recur_or_label_the_file() -> None:
    said = ["Règle numéro un: ne jamais mentir.", "J'ai dit:\nnon.", "GAUME: Onde está?", "GAUME: Aqui."]
    said += ["HOLMGREN: Certo.", "HOLMGREN: Vamos.", *(f"Fala {n} do filme." for n in range(8))]
    segments = read_srt(srt_of(*said))  # 6 labels in 14 cues: a film's subtitles, not a labelled transcript
    assert [s.speaker for s in segments[:6]] == [None, None, "GAUME", "GAUME", "HOLMGREN", "HOLMGREN"]
    assert segments[0].text == "Règle numéro un: ne jamais mentir." and segments[1].text == "J'ai dit: non."
    assert all(s.speaker is None for s in segments[6:])


def test_srt_override_codes_are_not_text() -> None:
    segments = read_srt(srt_of("{\\an8}No topo da tela.", "Linha um\\Nlinha\\hdois {\\i1}itálico{\\i0}"))
    assert [s.text for s in segments] == ["No topo da tela.", "Linha um linha dois itálico"]


def read_srt(text: str) -> list:
    from qualia_pipelines.core.readers import transcript_from_bytes

    return list(transcript_from_bytes(text.encode(), "film.srt").segments)


@pytest.mark.skipif(not CORPUS.is_dir(), reason=f"the public transcripts are not at {CORPUS} (../shared/corpora)")
def test_real_transcripts_leave_no_timings_markup_or_sentences_as_speakers() -> None:
    """Every public transcript (WebVTT, SRT, text, DOCX): read, or refused with a TranscriptError naming it;
    never a timing, cue setting, tag or override code in the text, and no speaker that is a sentence."""
    read = 0
    for path in sorted(path for path in CORPUS.iterdir() if path.suffix in (".vtt", ".srt", ".txt", ".docx")):
        try:
            transcript = read_transcript(path)
        except TranscriptError as error:
            assert str(error).startswith(str(path)), error
            continue
        read += 1
        for segment in transcript.segments:
            assert "-->" not in segment.text and "align:" not in segment.text, (path.name, segment.text)
            markup = re.search(r"</?[a-zA-Z][^<>]*>|<\d[\d:.]*>|\{\\|\\[hN]", segment.text)
            assert not markup, (path.name, segment.text)
            assert segment.speaker is None or len(segment.speaker.split()) <= 6, (path.name, segment.speaker)
    assert read >= 30


def test_zoom_chat_log_lines_have_their_time_and_speaker() -> None:
    chat = (
        "01:27:42\tAna Souza:\tBom dia, entro às 9:45.\n\nSeguimos depois do intervalo\n"
        "03:14:20\tCarlos Mendes:\tObrigado a todos.\n"
    )
    segments = transcript_from_text(chat).segments
    assert [(s.speaker, s.start, s.text) for s in segments] == [
        ("Ana Souza", 5262.0, "Bom dia, entro às 9:45. Seguimos depois do intervalo"),
        ("Carlos Mendes", 11660.0, "Obrigado a todos."),
    ]
    notes = transcript_from_text("9:45 works for me.\n10:30 is too late.\nLet us meet then.")
    assert notes.format == "plain" and all(s.speaker is None for s in notes.segments)
    agenda = transcript_from_text("9:00 Abertura: boas-vindas.\n10:30 Reunião: pauta.\n12:00 Almoço: no refeitório.")
    assert agenda.format == "plain" and all(s.speaker is None for s in agenda.segments)  # no tabs: not a chat log


def test_otter_text_is_read_by_its_speaker_headers_without_the_footer(tmp_path: Path) -> None:
    otter = (
        "Emma  0:00\nWelcome to the podcast about secure web applications.\n\n"
        "Unknown Speaker  0:35\nI'm Kelly.\n\n"
        "Emma  1:02:03\nAnd that is all for today.\n\n"
        "Transcribed by https://otter.ai\n"
    )
    transcript = read_transcript(write(tmp_path, "episode.txt", otter.encode()))
    assert transcript.format == "otter"
    assert [(s.speaker, s.start, s.end, s.text) for s in transcript.segments] == [
        ("Emma", 0.0, 35.0, "Welcome to the podcast about secure web applications."),
        ("Unknown Speaker", 35.0, 3723.0, "I'm Kelly."),
        ("Emma", 3723.0, None, "And that is all for today."),
    ]


def docx_of(tmp_path: Path, name: str, paragraphs: list[str]) -> Path:
    import docx

    document = docx.Document()
    for text in paragraphs:
        document.add_paragraph(text)
    path = tmp_path / name
    document.save(path)
    return path


FATHOM = [
    "Impromptu Google Meet Meeting - May 29",
    "VIEW RECORDING - 118 mins (3 mins of highlights)",
    "@0:00 - Tom Gituma",
    "We focus on manufacturing and shipping.",
    "That is where we started.",
    "@0:25 - Lloyd Ian (lloyd.ian@example.com)",
    "Find out in shipping. Yes.",
    "@1:02:03 - Tom Gituma",
    "Thank you all.",
]


def test_fathom_export_as_docx_and_as_text_has_speakers_times_and_no_boilerplate(tmp_path: Path) -> None:
    expected = [
        ("Tom Gituma", 0.0, "We focus on manufacturing and shipping. That is where we started."),
        ("Lloyd Ian", 25.0, "Find out in shipping. Yes."),
        ("Tom Gituma", 3723.0, "Thank you all."),
    ]
    for path in (docx_of(tmp_path, "meet.docx", FATHOM), write(tmp_path, "meet.txt", "\n".join(FATHOM).encode())):
        transcript = read_transcript(path)
        assert transcript.format == "fathom", path
        assert [(s.speaker, s.start, s.text) for s in transcript.segments] == expected
        assert "VIEW RECORDING" not in transcript.text


def test_otter_docx_is_named_and_loses_its_footer(tmp_path: Path) -> None:
    lines = [
        "Weekly sync",
        "Ana Souza  0:00",
        "Bom dia a todos.",
        "Bruno  0:12",
        "Oi, Ana.",
        "Transcribed by https://otter.ai",
    ]
    transcript = read_transcript(docx_of(tmp_path, "otter.docx", lines))
    assert transcript.format == "otter"
    assert [(s.speaker, s.text) for s in transcript.segments] == [
        ("Ana Souza", "Bom dia a todos."),
        ("Bruno", "Oi, Ana."),
    ]


def test_google_meet_transcript_document_reads_name_lines_and_clock_marks(tmp_path: Path) -> None:
    lines = [
        "Planejamento (2026-11-30 14:02 GMT-3) - Transcript",
        "Attendees",
        "Ana Souza, Bruno Lima",
        "Transcript",
        "00:00:00",
        "Ana Souza: Bom dia, vamos começar pelo prazo.",
        "Bruno Lima: Bom dia. O prazo está apertado.",
        "00:05:00",
        "Ana Souza: Então vamos rever o escopo.",
        "This editable transcript was computer generated and might contain errors. People can also change the "
        "text after it was created.",
    ]
    transcript = read_transcript(docx_of(tmp_path, "meet.docx", lines))
    assert transcript.format == "meet"
    assert [(s.speaker, s.start) for s in transcript.segments[-3:]] == [
        ("Ana Souza", 0.0),
        ("Bruno Lima", None),
        ("Ana Souza", 300.0),
    ]
    assert "computer generated" not in transcript.text and "00:05:00" not in transcript.text


def test_interview_labels_are_speakers() -> None:
    interview = "A - Eu queria começar essa conversa.\n\nB - Pois não: pode começar.\n\nA - Obrigado.\n"
    transcript = transcript_from_text(interview)
    assert transcript.format == "interview"
    assert [(s.speaker, s.text) for s in transcript.segments] == [
        ("A", "Eu queria começar essa conversa."),
        ("B", "Pois não: pode começar."),
        ("A", "Obrigado."),
    ]


def test_bracketed_names_are_speakers_and_bracketed_notes_are_removed_and_counted() -> None:
    cues = [
        "[Alba] En 1928, llegué a Madrid.",
        "[ríen emocionadas]",
        "¿Y ahora qué?",
        "[Alba] Ahora trabajo aquí.",
        "[risita] Sí. (risas) Son aquí (en la oficina).",
        "[Ángeles ríe]",
    ]
    body = "".join(f"00:00:0{n}.000 --> 00:00:0{n}.900\n{text}\n\n" for n, text in enumerate(cues))
    transcript = transcript_from_text(f"WEBVTT\n\n{body}")
    assert [(s.speaker, s.text) for s in transcript.segments] == [
        ("Alba", "En 1928, llegué a Madrid."),
        (None, "¿Y ahora qué?"),  # a bracketed label is an off-screen voice: the next cue is not hers
        ("Alba", "Ahora trabajo aquí."),
        (None, "Sí. Son aquí (en la oficina)."),
    ]
    assert transcript.annotations_removed == 4


def test_podcast_vtt_labels_a_turn_once_and_its_cues_continue_it() -> None:
    cues = [
        "Travis: When you first get",
        "started in podcasting, it's",
        "Sarah: Exactly right.",
        "and so on.",
        "Travis: Next.",
    ]
    body = "".join(f"00:00:0{n}.000 --> 00:00:0{n}.900\n{text}\n\n" for n, text in enumerate(cues))
    segments = transcript_from_text(f"WEBVTT\n\n{body}").segments
    assert [s.speaker for s in segments] == ["Travis", "Travis", "Sarah", "Sarah", "Travis"]


def test_a_transcript_of_only_notes_is_refused_clearly(tmp_path: Path) -> None:
    with pytest.raises(TranscriptError, match=r"notes\.srt: no speech found"):
        read_transcript(write(tmp_path, "notes.srt", srt_of("[música]", "(aplausos)").encode()))


REAL_EXPORTS = {  # file: format, language, some of its speakers (what a careful reader of the file sees)
    "tomag_fathom_meeting.docx": ("fathom", "en", {"Tom Gituma", "Lloyd Ian", "Robert Luyali"}),
    "ladybug_62-security_otter.txt": ("otter", "en", {"Emma", "Sidney", "Kelly"}),
    "meetingsummaryai_entrevista_pt.txt": ("interview", "pt", {"A", "B"}),
    "meetingsummarizer_podcast.vtt": ("vtt", "en", {"Travis", "Gilon", "Sarah"}),
    "preasync_zoom_chat.txt": ("bracketed", "en", {"Ezenwa Nwawudu", "Bella Ndaa"}),
    "transcriptparsing_zoom.vtt": ("vtt", "en", {"Paul McCartney", "Andrew Knight"}),
    "webvttpy_netflix_chicas_del_cable_es.vtt": ("vtt", "es", {"Alba", "Sara", "Ángeles"}),
    "pysrt_windows-1252_fr.srt": ("srt", "fr", set()),
    "transcriptchecker_podcast_fi.vtt": ("vtt", "fi", set()),
    "uoe_lecture_transcript.docx": ("docx-plain", "en", set()),
}


@pytest.mark.skipif(not CORPUS.is_dir(), reason=f"the public transcripts are not at {CORPUS} (../shared/corpora)")
@pytest.mark.parametrize("name", sorted(REAL_EXPORTS))
def test_real_exports_are_named_with_their_speakers_and_language(name: str) -> None:
    fmt, language, speakers = REAL_EXPORTS[name]
    transcript = read_transcript(CORPUS / name)
    found = {segment.speaker for segment in transcript.segments if segment.speaker}
    assert (transcript.format, transcript.language) == (fmt, language)
    assert speakers <= found and (found or not speakers)
    if not speakers:
        assert not found and len(transcript.segments) > 1
    assert "otter.ai" not in transcript.text and "VIEW RECORDING" not in transcript.text


def test_srt_saved_as_vtt_is_read_as_srt(tmp_path: Path) -> None:
    transcript = read_transcript(write(tmp_path, "legendas.vtt", srt_of("Bom dia.", "Boa tarde.").encode()))
    assert transcript.format == "srt" and [s.text for s in transcript.segments] == ["Bom dia.", "Boa tarde."]
