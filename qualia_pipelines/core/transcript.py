"""The Transcript every reader produces and every document plugin consumes."""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from functools import partial
from typing import Any, NamedTuple


class Segment(NamedTuple):
    """One utterance: who spoke, when (seconds, where the format has times), what.

    A named tuple so that a reader can build a file's segments in C (:func:`segments_of`): a file of
    one-word turns holds hundreds of thousands of them.
    """

    speaker: str | None
    start: float | None
    end: float | None
    text: str

    @property
    def word_count(self) -> int:
        return len(self.text.split())


_new_segment = partial(tuple.__new__, Segment)


def segments_of(
    speakers: Iterable[str | None], starts: Iterable[float | None], ends: Iterable[float | None], texts: Iterable[str]
) -> list[Segment]:
    """Segments from their fields, side by side, built without a Python call per segment."""
    return list(map(_new_segment, zip(speakers, starts, ends, texts, strict=False)))  # repeat() for a constant field


@dataclass(frozen=True)
class Transcript:
    """A parsed input file. ``content_hash`` is the SHA-256 of the raw bytes."""

    source: str
    format: str
    language: str
    content_hash: str
    segments: tuple[Segment, ...]
    encoding: str = "utf-8"
    encoding_repairs: int = 0
    speaker_name_repairs: int = 0
    """Distinct speaker spellings that needed NFC or held invisible characters (bidi controls, zero-width)."""
    annotations_removed: int = 0
    """Non-speech notes ("[risas]", "(music)") taken out of the text that is analysed."""
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return "\n".join(segment.text for segment in self.segments)

    def to_dict(self) -> dict[str, Any]:
        data = {item.name: getattr(self, item.name) for item in fields(self)}
        data["segments"] = [segment._asdict() for segment in self.segments]
        data["metadata"] = copy.deepcopy(self.metadata)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Transcript:
        segments = tuple(Segment(**segment) for segment in data["segments"])
        return cls(**{**data, "segments": segments})
