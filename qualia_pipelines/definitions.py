"""The one Dagster Definitions object (loaded by workspace.yaml and [tool.dagster])."""

import dagster as dg

from qualia_pipelines.orchestration.assets import inbox_file, plugin_assets, transcript
from qualia_pipelines.orchestration.jobs import process_transcripts
from qualia_pipelines.orchestration.resources import current_registry, default_resources
from qualia_pipelines.orchestration.sensors import circuit_breaker_sensor, inbox_sensor

defs = dg.Definitions(
    assets=[inbox_file, transcript, *plugin_assets(current_registry())],
    jobs=[process_transcripts],
    sensors=[inbox_sensor, circuit_breaker_sensor],
    resources=default_resources(),
)
