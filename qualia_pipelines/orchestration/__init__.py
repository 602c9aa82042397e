"""Dagster definitions, one file per kind: partitions, resources, assets, checks, sensors, schedules, jobs.

Everything here is a thin adapter over the engine and the plugin registry.
"""

import warnings

from dagster import BetaWarning

# Single-run backfills are what keep a drop of hundreds of files to a handful of runs; their
# beta notice, repeated for every asset, would bury the output of `qualia run` and `make demo`.
warnings.filterwarnings("ignore", message="Parameter `backfill_policy`", category=BetaWarning)
