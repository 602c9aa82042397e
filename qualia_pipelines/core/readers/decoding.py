"""Turn raw transcript bytes into text: BOMs, UTF-16 without BOM, Windows-1252 repair.

Teams exports come as UTF-8 (with or without BOM) or UTF-16; files that went
through Excel or old Windows tools arrive as Windows-1252 or carry a few stray
bytes. Rather than guessing one codec for the whole file, undecodable bytes are
decoded one by one as Windows-1252 and counted, so a mostly-UTF-8 file keeps its
accents and the quality report says how many bytes were repaired.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

from qualia_pipelines.core.readers.errors import TranscriptError

_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"%PDF", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"\x7fELF", "an executable"),
    (b"ID3", "an MP3 file"),
    (b"RIFF", "a RIFF media file"),
    (b"\xd0\xcf\x11\xe0", "a legacy Office document"),
)
_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_CP1252_UNDEFINED = frozenset({0x81, 0x8D, 0x8F, 0x90, 0x9D})
_MAX_CONTROL_SHARE = 0.01


@dataclass(frozen=True)
class DecodedText:
    text: str
    encoding: str
    repairs: int


def binary_kind(data: bytes) -> str | None:
    """Name the binary format ``data`` starts with, if it is a known one."""
    for magic, kind in _MAGIC:
        if data.startswith(magic):
            return kind
    return None


def decode_transcript_bytes(data: bytes, source: str) -> DecodedText:
    """Decode ``data`` to text with line ends normalised to ``\\n``."""
    kind = binary_kind(data)
    if kind:
        raise TranscriptError(source, f"this is {kind}, not a transcript")
    encoding, body = _encoding_and_body(data)
    if encoding == "utf-8":
        text, repairs = _utf8_with_cp1252_repair(body)
        encoding = "utf-8" if repairs == 0 else "utf-8+windows-1252"
    else:
        try:
            text, repairs = body.decode(encoding), 0
        except UnicodeDecodeError as exc:
            raise TranscriptError(source, f"invalid {encoding} text at byte {exc.start}") from None
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if _control_share(text) > _MAX_CONTROL_SHARE:
        raise TranscriptError(source, "the file is binary (control bytes in the text), not a transcript")
    return DecodedText(text=text, encoding=encoding, repairs=repairs)


def _encoding_and_body(data: bytes) -> tuple[str, bytes]:
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return encoding, data[len(bom) :]
    sniffed = _utf16_without_bom(data)
    return (sniffed, data) if sniffed else ("utf-8", data)


def _utf16_without_bom(data: bytes) -> str | None:
    """Detect BOM-less UTF-16 from where the NUL bytes fall in mostly-ASCII text."""
    sample = data[:4096]
    if len(sample) < 4:
        return None
    even_nuls = sample[0::2].count(0)
    odd_nuls = sample[1::2].count(0)
    half = len(sample) / 2
    if odd_nuls > 0.3 * half and even_nuls < 0.05 * half:
        return "utf-16-le"
    if even_nuls > 0.3 * half and odd_nuls < 0.05 * half:
        return "utf-16-be"
    return None


def _utf8_with_cp1252_repair(data: bytes) -> tuple[str, int]:
    """UTF-8, with each undecodable byte read as Windows-1252, and how many there were.

    One decode in C: ``surrogateescape`` turns each bad byte into a lone surrogate (valid UTF-8 never
    decodes to one), which is then mapped to its Windows-1252 character.
    """
    try:
        return data.decode("utf-8"), 0
    except UnicodeDecodeError:
        pass
    escaped = data.decode("utf-8", errors="surrogateescape")
    return escaped.translate(_CP1252_OF_ESCAPE), len(_ESCAPED_BYTE.findall(escaped))


def _cp1252_char(byte: int) -> str:
    if byte in _CP1252_UNDEFINED:
        return bytes([byte]).decode("latin-1")
    return bytes([byte]).decode("cp1252")


_CP1252_OF_ESCAPE = {0xDC00 + byte: _cp1252_char(byte) for byte in range(0x80, 0x100)}
_ESCAPED_BYTE = re.compile("[\udc80-\udcff]")


def _control_share(text: str) -> float:
    sample = text[:20000]
    if not sample:
        return 0.0
    controls = sum(1 for ch in sample if ord(ch) < 32 and ch not in "\n\t\f\v")
    return controls / len(sample)
