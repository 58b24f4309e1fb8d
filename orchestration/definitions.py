"""Dagster code location: every asset, check, job, schedule and sensor of the platform.

All jobs run in one process (in_process_executor): the embedded DuckDB warehouse accepts one writer at a time.
"""
from __future__ import annotations

import dagster as dg

from assets.dtsen import dtsen_assets
from assets.registries import registry_assets
from orchestration.jobs import ingest_job, monthly_pipeline
from orchestration.resources import default_resources

ASSETS = [*registry_assets, *dtsen_assets]
JOBS = [monthly_pipeline, ingest_job]


def build_definitions(resources: dict | None = None) -> dg.Definitions:
    """The code location with the given resources (default: paths from the environment)."""
    return dg.Definitions(assets=ASSETS, jobs=JOBS, resources=resources or default_resources(),
                          executor=dg.in_process_executor)


defs = build_definitions()
