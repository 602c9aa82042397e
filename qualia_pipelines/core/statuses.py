"""The statuses a transcript goes through, shared by the Dagster status report, the REST API and the CLI."""

from typing import Literal

TranscriptStatus = Literal["received", "queued", "pending", "running", "processed", "failed"]
"""received: in the inbox, not registered by the pipeline yet; queued: its run starts soon; pending: some asset
is missing; running: an asset is being materialized; failed: an asset's last attempt failed; processed: every
asset is materialized."""
