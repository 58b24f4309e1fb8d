"""Dagster resources: where the platform's data is (one data root, `dtsen.layout`) and ingestion thresholds.

Paths are configuration: the `data` resource's config in the launchpad, else the environment (`DTSEN_DATA`, and
`DTSEN_WAREHOUSE` / `DTSEN_LANDING` to move those two), else the defaults of `dtsen.layout`; read when a run or a
sensor tick starts.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
import duckdb
from pydantic import Field

from dtsen import warehouse as wh
from dtsen.layout import DataLayout


class DataResource(dg.ConfigurableResource):
    """The data root with everything below it (`dtsen.layout`): the embedded DuckDB warehouse (one writer at a
    time: the jobs run in-process), the landing folder, and where every output goes."""

    root: str = Field(default="", description="data root (empty: $DTSEN_DATA, else data)")
    warehouse: str = Field(
        default="", description="DuckDB file (empty: $DTSEN_WAREHOUSE, else <root>/warehouse.duckdb)"
    )
    landing: str = Field(default="", description="landing folder (empty: $DTSEN_LANDING, else <root>/landing)")
    threads: int = Field(default=2, description="DuckDB threads")
    memory_limit: str = Field(
        default="",
        description="DuckDB memory limit (empty: a quarter of $DTSEN_MEMORY_BUDGET, "
        "default 16GiB, i.e. 4GiB; DuckDB spills to disk beyond it)",
    )

    @property
    def layout(self) -> DataLayout:
        return DataLayout.resolve(self.root or None, self.warehouse or None, self.landing or None)

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        con = wh.connect(
            self.layout.warehouse, read_only=read_only, threads=self.threads, memory_limit=self.duckdb_memory
        )
        try:
            yield con
        finally:
            con.close()

    @property
    def duckdb_memory(self) -> str:
        return self.memory_limit or wh.duckdb_memory_limit()


class IngestSettings(dg.ConfigurableResource):
    """Quarantine ceilings of the ingestion asset checks (share of a delivery's rows). The hard ceiling needs both:
    a share above `quarantine_fail_share` and more than `quarantine_fail_min_rows` rows, so that 2 bad rows in a list
    of 6 deaths warn instead of stopping every payment."""

    quarantine_warn_share: float = Field(default=0.02, description="above this share the check warns")
    quarantine_fail_share: float = Field(default=0.20, description="above this share the check fails (blocking)")
    quarantine_fail_min_rows: int = Field(
        default=20, description="the hard ceiling only fails a delivery with more quarantined rows than this"
    )
    confirmed_shrinks: list[str] = Field(
        default=[],
        description="deliveries of a list that excludes people (deaths, civil servants, wage earners) that shrank "
        "to less than half of what it held, checked by an operator and confirmed for this run: '<source>/<YYYY-MM>', "
        "e.g. 'dukcapil/2025-03' (recorded with the run)",
    )


class ReleaseApproval(dg.ConfigurableResource):
    """An operator's approval, for one run of disbursement_job, to issue a month whose payment files were issued
    already and whose rows changed since (a correction): the changed files get superseding versions whose manifests
    carry the reason and the run. Without it such a run writes nothing and says what changed. Set in the launchpad
    (recorded with the run); never by a schedule, a sensor or a backfill."""

    approve_changes: bool = Field(
        default=False, description="issue changed rows of an issued month as superseding versions"
    )
    reason: str = Field(default="", description="why (required with approve_changes): written into each manifest")


def default_resources(data: str | None = None, landing: str | None = None, warehouse: str | None = None) -> dict:
    """Given paths, or (None) the environment's at run time."""
    return {
        "data": DataResource(root=data or "", landing=landing or "", warehouse=warehouse or ""),
        "ingest_settings": IngestSettings(),
        "release_approval": ReleaseApproval(),
    }
