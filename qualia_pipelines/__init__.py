"""Qualia Pipelines: quantified, reproducible insight from meeting transcripts."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("qualia-pipelines")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"
