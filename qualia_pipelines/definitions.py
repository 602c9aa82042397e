"""The one Dagster Definitions object (loaded by workspace.yaml and [tool.dagster])."""

import dagster as dg

from qualia_pipelines.orchestration.assets import inbox_file, plugin_assets, transcript
from qualia_pipelines.orchestration.corpus_assets import (
    corpus_vocabulary,
    distinctive_words,
    report,
    sentiment_over_time,
    speaker_participation,
)
from qualia_pipelines.orchestration.jobs import backup_job, process_transcripts, refresh_corpus
from qualia_pipelines.orchestration.resources import current_registry, default_resources
from qualia_pipelines.orchestration.schedules import backup_schedule, processing_schedule
from qualia_pipelines.orchestration.sensors import circuit_breaker_sensor, corpus_sensor, inbox_sensor

defs = dg.Definitions(
    assets=[
        inbox_file,
        transcript,
        *plugin_assets(current_registry()),
        corpus_vocabulary,
        distinctive_words,
        sentiment_over_time,
        speaker_participation,
        report,
    ],
    jobs=[process_transcripts, refresh_corpus, backup_job],
    schedules=[processing_schedule, backup_schedule],
    sensors=[inbox_sensor, corpus_sensor, circuit_breaker_sensor],
    resources=default_resources(),
    executor=dg.in_process_executor,
)
