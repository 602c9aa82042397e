"""Dagster definitions, one file per kind: partitions, resources, assets, checks, sensors, schedules, jobs.

Everything here is a thin adapter over the engine and the plugin registry.
"""
