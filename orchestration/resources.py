"""Dagster resources: where the landing folder and the warehouse are, and ingestion thresholds.

Paths are configuration: environment variables DTSEN_LANDING and DTSEN_WAREHOUSE (or resource config in the
launchpad / run config), defaulting to data/landing and data/warehouse.duckdb.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
import duckdb
from pydantic import Field

from dtsen import warehouse as wh


class WarehouseResource(dg.ConfigurableResource):
    """The embedded DuckDB warehouse file (one writer at a time: the jobs run in-process)."""

    path: str = Field(
        default="",
        description="DuckDB file of the warehouse (empty: $DTSEN_WAREHOUSE, else "
        "data/warehouse.duckdb), read when the run starts",
    )
    threads: int = Field(default=2, description="DuckDB threads")
    memory_limit: str = Field(
        default="",
        description="DuckDB memory limit (empty: a quarter of $DTSEN_MEMORY_BUDGET, "
        "default 16GiB, i.e. 4GiB; DuckDB spills to disk beyond it)",
    )

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        con = wh.connect(self.file, read_only=read_only, threads=self.threads, memory_limit=self.duckdb_memory)
        try:
            yield con
        finally:
            con.close()

    @property
    def duckdb_memory(self) -> str:
        return self.memory_limit or wh.duckdb_memory_limit()

    @property
    def file(self) -> str:
        return os.path.abspath(wh.warehouse_path(self.path or None))

    def beside(self, *parts: str) -> str:
        """A path next to the warehouse file (reports, published copies)."""
        return os.path.join(os.path.dirname(self.file), *parts)


class LandingResource(dg.ConfigurableResource):
    """The landing folder where agencies' deliveries arrive (layout in README)."""

    path: str = Field(
        default="",
        description="landing folder (empty: $DTSEN_LANDING, else data/landing), read "
        "when the run or sensor tick starts",
    )

    @property
    def folder(self) -> str:
        return os.path.abspath(wh.landing_path(self.path or None))


class IngestSettings(dg.ConfigurableResource):
    """Quarantine ceilings of the ingestion asset checks (share of a delivery's rows). The hard ceiling needs both:
    a share above `quarantine_fail_share` and more than `quarantine_fail_min_rows` rows, so that 2 bad rows in a list
    of 6 deaths warn instead of stopping every payment."""

    quarantine_warn_share: float = Field(default=0.02, description="above this share the check warns")
    quarantine_fail_share: float = Field(default=0.20, description="above this share the check fails (blocking)")
    quarantine_fail_min_rows: int = Field(
        default=20, description="the hard ceiling only fails a delivery with more quarantined rows than this"
    )


def default_resources(landing: str | None = None, warehouse: str | None = None) -> dict:
    """Given paths, or (None) the environment's at run time."""
    return {
        "warehouse": WarehouseResource(path=warehouse or ""),
        "landing": LandingResource(path=landing or ""),
        "ingest_settings": IngestSettings(),
    }
