"""Partitions: registry deliveries and monthly runs are keyed by month (YYYY-MM).

The months run from the first month that can have deliveries (`DTSEN_FIRST_MONTH`, default 2025-01, the year DTSEN
began) to the last month that has ended: a month's deliveries are complete when it is over, so the running month
becomes a partition on the 1st of the next (a delivery for it waits until then; the landing sensor says so).
"""

from __future__ import annotations

import os
import re
import warnings
from datetime import UTC, datetime

import dagster as dg

FIRST_MONTH_ENV = "DTSEN_FIRST_MONTH"
DEFAULT_FIRST_MONTH = "2025-01"
MONTH_RE = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


def first_month() -> str:
    value = os.environ.get(FIRST_MONTH_ENV) or DEFAULT_FIRST_MONTH
    if not MONTH_RE.match(value):
        raise ValueError(f"{FIRST_MONTH_ENV}={value!r} is not a month (YYYY-MM)")
    return value


monthly_partitions = dg.MonthlyPartitionsDefinition(start_date=first_month(), fmt="%Y-%m", end_offset=0)

# every partitioned asset (Python and dbt) runs one month per run: the pipeline builds one snapshot at a time
# `backfill_policy` is a beta parameter of @asset: known and chosen, so its warning (printed once per asset by every
# process that loads the code location, the code server included) is not repeated on the operator's console
warnings.filterwarnings("ignore", message=".*`backfill_policy`.*is currently in beta.*")
one_month_per_run = dg.BackfillPolicy.multi_run(1)


def valid_months(now: datetime | None = None) -> list[str]:
    return monthly_partitions.get_partition_keys(current_time=now or datetime.now(UTC))


def month_problem(month: str, now: datetime | None = None) -> str | None:
    """Why `month` is not a partition (None when it is), naming the valid range."""
    months = valid_months(now)
    if month in months:
        return None
    span = f"{months[0]} .. {months[-1]}" if months else "none yet"
    if not MONTH_RE.match(month):
        why = "is not a month (YYYY-MM)"
    elif month < first_month():
        why = f"is before the first month {first_month()} (set {FIRST_MONTH_ENV} to start earlier)"
    else:
        why = "has not ended yet: a month becomes a partition on the 1st of the next"
    return f"month {month} {why}; valid months: {span}"


def monthly_check(name: str, asset, description: str, blocking: bool = False) -> dg.AssetCheckSpec:
    """An asset check judged per month: its results carry the partition, so the UI says which month it judged."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.PreviewWarning)  # partitioned checks are a preview feature in 1.13
        return dg.AssetCheckSpec(
            name, asset=asset, description=description, blocking=blocking, partitions_def=monthly_partitions
        )
