"""Dagster code location: every domain's assets, checks, jobs, schedules and sensors, merged (nothing below imports
this module; the operating code above it and `workspace.yaml` load it).

All jobs run in one process (in_process_executor): the embedded DuckDB warehouse accepts one writer at a time.
"""

from __future__ import annotations

import dagster as dg

from assets import analytics, casework, disbursement, exchange, linkage, marts, monthly, registries, welfare
from dtsen import filemodes
from orchestration.lib.dbt import dbt_resource
from orchestration.lib.resources import default_resources

# the code server and every run worker it starts write owner-only files unless the platform says otherwise
filemodes.owner_only_by_default()

DOMAINS = (registries, linkage, welfare, marts, analytics, exchange, disbursement, casework, monthly)


def build_definitions(resources: dict | None = None) -> dg.Definitions:
    """The code location with the given resources (default: paths from the environment)."""
    domains = dg.Definitions.merge(*(d.defs for d in DOMAINS))
    landing_sensor = monthly.build_landing_sensor(monthly.keys_after_sources(domains.assets or []))
    return dg.Definitions.merge(
        domains,
        dg.Definitions(
            sensors=[landing_sensor],
            resources={"dbt": dbt_resource(), **(resources or default_resources())},
            executor=dg.in_process_executor,
        ),
    )


defs = build_definitions()
