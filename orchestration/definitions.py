"""Dagster code location: every asset, check, job, schedule and sensor of the platform.

All jobs run in one process (in_process_executor): the embedded DuckDB warehouse accepts one writer at a time.
"""

from __future__ import annotations

import dagster as dg

from assets.analytics import analytics_assets
from assets.disbursement import disbursement_assets, eligibility_keys
from assets.dtsen import dtsen_assets
from assets.exchange import exchange_assets
from assets.marts import dbt_resource, marts_assets
from assets.registries import landing_specs, registry_assets
from assets.welfare import welfare_assets
from orchestration.casework import casework_export_job, casework_export_schedule
from orchestration.jobs import PIPELINE_GROUPS, disbursement_job, ingest_job, monthly_pipeline, reconciliation_job
from orchestration.resources import default_resources
from orchestration.sensors import (
    build_disbursement_sensor,
    build_landing_sensor,
    monthly_schedule,
    reconciliation_sensor,
)

ASSETS = [
    *landing_specs,
    *registry_assets,
    *dtsen_assets,
    *welfare_assets,
    *marts_assets,
    *analytics_assets,
    *disbursement_assets,
    *exchange_assets,
]
JOBS = [monthly_pipeline, ingest_job, disbursement_job, reconciliation_job, casework_export_job]


def _pipeline_keys_after_sources() -> list[dg.AssetKey]:
    """Everything monthly_pipeline builds after ingestion (what a new delivery must refresh)."""
    groups = {k: g for a in ASSETS if isinstance(a, dg.AssetsDefinition) for k, g in a.group_names_by_key.items()}
    return sorted(
        (k for k, g in groups.items() if g in PIPELINE_GROUPS and g != "registries"), key=lambda k: k.to_user_string()
    )


SENSORS = [
    build_landing_sensor(_pipeline_keys_after_sources()),
    build_disbursement_sensor(eligibility_keys()),
    reconciliation_sensor,
]
SCHEDULES = [monthly_schedule, casework_export_schedule]


def build_definitions(resources: dict | None = None) -> dg.Definitions:
    """The code location with the given resources (default: paths from the environment)."""
    resources = {"dbt": dbt_resource(), **(resources or default_resources())}
    return dg.Definitions(
        assets=ASSETS,
        jobs=JOBS,
        sensors=SENSORS,
        schedules=SCHEDULES,
        resources=resources,
        executor=dg.in_process_executor,
    )


defs = build_definitions()
