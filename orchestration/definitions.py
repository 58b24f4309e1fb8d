"""Dagster code location: every asset, check, job, schedule and sensor of the platform."""
from __future__ import annotations

import dagster as dg

defs = dg.Definitions(assets=[])
