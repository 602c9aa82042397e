"""The Transcript every reader produces and every document plugin consumes."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from functools import cached_property
from typing import Any


@dataclass(frozen=True)
class Segment:
    """One utterance: who spoke, when (seconds, where the format has times), what."""

    speaker: str | None
    start: float | None
    end: float | None
    text: str

    @cached_property
    def word_count(self) -> int:
        return len(self.text.split())


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
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return "\n".join(segment.text for segment in self.segments)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Transcript:
        segments = tuple(Segment(**segment) for segment in data["segments"])
        return cls(**{**data, "segments": segments})
