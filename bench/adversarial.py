"""Hostile-input benchmark: every reader in time linear in its input, whatever its shape.

Run: `.venv/bin/python bench/adversarial.py [--size MB] [--timeout S]`. For each adversarial shape
(long lines, unterminated tags, NOTE/cue adjacency, repeated separators, huge whitespace runs,
undecodable bytes, a DOCX speaker line of spaces) it builds a file of the given size, reads it with
`transcript_from_bytes` in a child process with a hard time limit, and prints its throughput next to
a normal transcript of the same format and size read the same way. The target: every shape at least
1/5 of the normal throughput. A shape that errors out (most are malformed) counts the time to the error.

The shapes are also the input of tests/test_hostile_input.py, which reads each under a generous hard
limit: a quadratic reader takes minutes on them, a linear one a fraction of a second.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TIMING = "00:00:01.000 --> 00:00:02.000"
SRT_TIMING = "00:00:01,000 --> 00:00:02,000"
_LINES = (
    ("Ana Souza", "Bom dia, pessoal. Vamos revisar o cronograma da integração com o cliente."),
    ("Carlos Mendes", "Trouxe os números do último trimestre; a adoção subiu bastante depois do lançamento."),
    ("Júlia Ferreira", "Ótimo. Preciso de ajuda com os testes de carga antes da próxima entrega."),
)


def repeated(unit: str, size: int, head: str = "", tail: str = "") -> bytes:
    """``head``, then ``unit`` as often as fits in ``size`` bytes, then ``tail``, as UTF-8."""
    count = max(1, (size - len(head) - len(tail)) // max(1, len(unit.encode("utf-8"))))
    return (head + unit * count + tail).encode("utf-8")


def _clock(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def normal_text(size: int, head: str, turn: Callable[[int, str, str], str]) -> bytes:
    """``head``, then turns of the sample lines (``turn(index, speaker, said)``) until ``size`` bytes."""
    parts, total, index = [head], len(head), 0
    while total < size:
        speaker, said = _LINES[index % len(_LINES)]
        parts.append(turn(index, speaker, said))
        total += len(parts[-1].encode("utf-8"))
        index += 1
    return "".join(parts).encode("utf-8")


def normal_vtt(size: int) -> bytes:
    return normal_text(
        size,
        "WEBVTT\n",
        lambda n, who, said: f"\n{n + 1}\n{_clock(n)}.000 --> {_clock(n + 1)}.000\n<v {who}>{said}</v>\n",
    )


def normal_srt(size: int) -> bytes:
    return normal_text(
        size, "", lambda n, who, said: f"{n + 1}\n{_clock(n)},000 --> {_clock(n + 1)},000\n{who}: {said}\n\n"
    )


def normal_txt(size: int) -> bytes:
    return normal_text(size, "", lambda n, who, said: f"[{_clock(n)}] {who}: {said}\n")


def docx_of(paragraphs: list[str]) -> bytes:
    import docx

    document = docx.Document()
    for paragraph in paragraphs:
        document.add_paragraph(paragraph)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def normal_docx(size: int) -> bytes:
    paragraphs, total, index = ["Planning meeting", "November 3, 2026, 2:00PM"], 0, 0
    while total < size / 4:  # a paragraph's XML is about four times its text
        speaker, said = _LINES[index % len(_LINES)]
        paragraphs += [f"{speaker}   {index // 60}:{index % 60:02d}", said]
        total += len(speaker) + len(said) + 8
        index += 1
    return docx_of(paragraphs)


NORMAL: dict[str, Callable[[int], bytes]] = {
    ".vtt": normal_vtt,
    ".srt": normal_srt,
    ".txt": normal_txt,
    ".docx": normal_docx,
}

SHAPES: dict[str, tuple[str, Callable[[int], bytes]]] = {
    "vtt: NOTE glued to a cue": (
        ".vtt",
        lambda n: repeated("NOTE\n" + "revisado pela equipe\n" * 8 + f"{TIMING}\n<v Ana>oi</v>\n\n", n, "WEBVTT\n\n"),
    ),
    "vtt: long first line (cue id)": (".vtt", lambda n: repeated("a", n, "WEBVTT\n\n", f"\n{TIMING}\n<v A>x</v>\n")),
    "vtt: long first line, no timing": (".vtt", lambda n: repeated("a", n, "WEBVTT\n\nNOTE\n", "\nno timing\n")),
    "vtt: text blocks after a cue": (".vtt", lambda n: repeated("mais\n\n", n, f"WEBVTT\n\n{TIMING}\n<v A>x</v>\n\n")),
    "vtt: long first line of spaces": (
        ".vtt",
        lambda n: repeated(" ", n, "WEBVTT\n\na", f"\n{TIMING}\n<v A>x</v>\n"),
    ),
    "vtt: long NOTE line of spaces": (".vtt", lambda n: repeated(" ", n, "WEBVTT\n\nNOTE\na", f"\n{TIMING}\n")),
    "vtt: unterminated <v": (".vtt", lambda n: repeated("<v ", n, f"WEBVTT\n\n{TIMING}\n")),
    "vtt: <v then spaces": (".vtt", lambda n: repeated(" ", n, f"WEBVTT\n\n{TIMING}\n<v", "x")),
    "vtt: unterminated tags": (".vtt", lambda n: repeated("<a", n, f"WEBVTT\n\n{TIMING}\n")),
    "vtt: digits tag": (".vtt", lambda n: repeated("<1", n, f"WEBVTT\n\n{TIMING}\n")),
    "vtt: repeated separators": (".vtt", lambda n: repeated(" -->", n, f"WEBVTT\n\n{TIMING}", "\n<v A>x</v>\n")),
    "vtt: arrow lines": (".vtt", lambda n: repeated("-->\n", n, "WEBVTT\n\n")),
    "vtt: whitespace runs": (".vtt", lambda n: repeated("\n \t", n, "WEBVTT\n", f"\n\n{TIMING}\n<v A>x</v>\n")),
    "vtt: cue of spaces": (".vtt", lambda n: repeated(" ", n, f"WEBVTT\n\n{TIMING}\n<v A>", "x</v>\n")),
    "vtt: entities": (".vtt", lambda n: repeated("&amp", n, f"WEBVTT\n\n{TIMING}\n<v A>", "</v>\n")),
    "vtt: unterminated brackets": (".vtt", lambda n: repeated("[", n, f"WEBVTT\n\n{TIMING}\n")),
    "vtt: bracket label of spaces": (".vtt", lambda n: repeated(" ", n, f"WEBVTT\n\n{TIMING}\n[Ana", "] x\n")),
    "vtt: notes in brackets": (".vtt", lambda n: repeated("[risas] (música) ", n, f"WEBVTT\n\n{TIMING}\n")),
    "srt: speaker prefix and spaces": (".srt", lambda n: repeated(" ", n, f"1\n{SRT_TIMING}\nAna", "x\n")),
    "srt: long cue of colons": (".srt", lambda n: repeated(":", n, f"1\n{SRT_TIMING}\nAna", "x\n")),
    "txt: name and spaces": (".txt", lambda n: repeated(" ", n, "Ana", "x")),
    "txt: clock, name and spaces": (".txt", lambda n: repeated(" ", n, "[00:00:01] Ana", "x")),
    "txt: name, spaces, then a clock": (".txt", lambda n: repeated(" ", n, "Ana", "x (00:01)")),
    "txt: blank paragraphs": (".txt", lambda n: repeated("\n \n", n, "a")),
    "txt: one-character speaker lines": (".txt", lambda n: repeated("A: b\n", n)),
    "txt: one-character turns, continued": (".txt", lambda n: repeated("A: b\nc\n", n)),
    "txt: one-character bracket labels": (".txt", lambda n: repeated("[A] b\n", n)),
    "txt: one-character paragraphs": (".txt", lambda n: repeated("b\n\n", n)),
    "txt: one-character header turns": (".txt", lambda n: repeated("A  0:01\nb\n", n)),
    "txt: interview dashes": (".txt", lambda n: repeated(" - ", n, "A")),
    "txt: unterminated parentheses": (".txt", lambda n: repeated("(risos ", n, "Ana: ")),
    "txt: undecodable bytes": (".txt", lambda n: b"a\xe9" * (n // 2)),
    "docx: speaker line of spaces": (".docx", lambda n: docx_of(["Ana" + " " * n + "x", "texto"])),
    "docx: long preamble with digits": (".docx", lambda n: docx_of(["1 " * (n // 2), "Ana 0:03", "texto"])),
    "docx: Fathom line of spaces": (".docx", lambda n: docx_of(["@0:03 - " + " " * n + "x", "texto"])),
    "docx: speaker line of letters": (".docx", lambda n: docx_of(["A" * n + " 0:03", "texto"])),
}


def read_seconds(data: bytes, extension: str) -> float:
    """Seconds to read ``data`` as a file of ``extension`` (best of 3 when quick), error or not."""
    from qualia_pipelines.core.readers import TranscriptError, transcript_from_bytes, transcript_from_text

    transcript_from_text("Ana: oi")  # loads the language model (once per process, ~0.5 s), which is not reading
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        with contextlib.suppress(TranscriptError):
            transcript_from_bytes(data, f"input{extension}")
        best = min(best, time.perf_counter() - started)
        if best > 1:
            break
    return best


def content_bytes(data: bytes, extension: str) -> int:
    """The input's size as a reader meets it: a DOCX's inflated parts, other files as they are."""
    if extension != ".docx":
        return len(data)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return sum(member.file_size for member in archive.infolist())


def measure(name: str, size: int, timeout: float) -> tuple[int, float | None]:
    """The input's size and its reading seconds, in a child process; None when over ``timeout``."""
    command = [sys.executable, __file__, "--case", name, "--size", str(size / 1e6)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=True)
    except subprocess.TimeoutExpired:
        return 0, None
    length, seconds = done.stdout.split()
    return int(length), float(seconds)


def case_input(name: str, size: int) -> tuple[str, bytes]:
    if name in SHAPES:
        extension, build = SHAPES[name]
        return extension, build(size)
    extension = name.removeprefix("normal ")
    return extension, NORMAL[extension](size)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=float, default=1.0, help="input size in MB (default 1)")
    parser.add_argument("--timeout", type=float, default=60, help="hard limit per shape, seconds (default 60)")
    parser.add_argument("--case", help=argparse.SUPPRESS)
    args = parser.parse_args()
    size = int(args.size * 1_000_000)
    if args.case:
        extension, data = case_input(args.case, size)
        print(content_bytes(data, extension), read_seconds(data, extension))
        return
    normal: dict[str, float] = {}
    for extension in NORMAL:
        length, seconds = measure(f"normal {extension}", size, args.timeout)
        if seconds is None:
            raise SystemExit(f"a normal {extension} of {args.size} MB took over {args.timeout} s to read")
        normal[extension] = length / 1e6 / seconds
        print(f"normal {extension:<34} {length / 1e6:6.2f} MB {normal[extension]:9.1f} MB/s")
    print(f"{'shape':<41} {'size':>9} {'MB/s':>9} {'x normal':>9}   target >= 0.20")
    missed = 0
    for name, (extension, _) in SHAPES.items():
        length, seconds = measure(name, size, args.timeout)
        if seconds is None:
            missed += 1
            print(f"{name:<41} {'':>9} {'> ' + str(int(args.timeout)) + ' s':>9} {'':>9}   MISSED")
            continue
        rate = length / 1e6 / max(seconds, 1e-9)
        ratio = rate / normal[extension]
        missed += ratio < 0.2
        print(f"{name:<41} {length / 1e6:6.2f} MB {rate:9.1f} {ratio:9.2f}   {'ok' if ratio >= 0.2 else 'MISSED'}")
    print(f"{len(SHAPES) - missed} of {len(SHAPES)} shapes at >= 1/5 of normal throughput")


if __name__ == "__main__":
    main()
