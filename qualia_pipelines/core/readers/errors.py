"""The error every reader raises: it always names the file and the reason."""

from __future__ import annotations

from qualia_pipelines.core.contract import QualiaError


class TranscriptError(QualiaError):
    """A file could not be read as a transcript."""

    def __init__(self, source: str, reason: str) -> None:
        super().__init__(f"{source}: {reason}")
        self.source = source
        self.reason = reason

    def __reduce__(self) -> tuple[type[TranscriptError], tuple[str, str]]:
        """Rebuilt from source and reason: it crosses from the API's engine processes to the server."""
        return TranscriptError, (self.source, self.reason)
