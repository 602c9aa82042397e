"""One dynamic partition per transcript file in the inbox."""

from pathlib import Path

import dagster as dg

from qualia_pipelines.core.inbox import observe
from qualia_pipelines.core.naming import transcript_key

TRANSCRIPTS = dg.DynamicPartitionsDefinition(name="transcripts")


def inbox_files(inbox: Path) -> dict[str, Path]:
    """Partition key -> file, for every supported file below ``inbox``."""
    return {partition_key(inbox, Path(path)): Path(path) for path in observe(inbox)}


def partition_key(inbox: Path, path: Path) -> str:
    """Readable and stable: the file name, or its relative path when it sits in a subfolder."""
    return transcript_key(path.relative_to(inbox).as_posix())
