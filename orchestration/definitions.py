"""Dagster code location: every asset, check, job, schedule and sensor of the platform.

All jobs run in one process (in_process_executor): the embedded DuckDB warehouse accepts one writer at a time.
"""
from __future__ import annotations

import dagster as dg

from assets.analytics import analytics_assets
from assets.dtsen import dtsen_assets
from assets.marts import dbt_resource, marts_assets
from assets.registries import registry_assets
from assets.welfare import welfare_assets
from orchestration.jobs import ingest_job, monthly_pipeline
from orchestration.resources import default_resources

ASSETS = [*registry_assets, *dtsen_assets, *welfare_assets, *marts_assets, *analytics_assets]
JOBS = [monthly_pipeline, ingest_job]


def build_definitions(resources: dict | None = None) -> dg.Definitions:
    """The code location with the given resources (default: paths from the environment)."""
    resources = {"dbt": dbt_resource(), **(resources or default_resources())}
    return dg.Definitions(assets=ASSETS, jobs=JOBS, resources=resources,
                          executor=dg.in_process_executor)


defs = build_definitions()
