"""Jobs: materialize every per-transcript asset for the requested partitions."""

import dagster as dg

PROCESS_JOB_NAME = "process_transcripts"

process_transcripts = dg.define_asset_job(
    PROCESS_JOB_NAME,
    selection=dg.AssetSelection.all() - dg.AssetSelection.groups("corpus"),
    description="Parse transcripts and run every plugin on them.",
)
