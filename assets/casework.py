"""The caseworker desk's monthly export as a job: the decisions approved up to the end of the month become the
`usulan/` and `sanggahan/` deliveries of that month in the landing folder (the landing sensor then takes them in).
Thin: the work is `dtsen.web.export.export_month`."""

import dagster as dg

from dtsen.web.export import export_month
from dtsen.web.store import Store
from orchestration.lib.partitions import monthly_partitions
from orchestration.lib.resources import DataResource


@dg.op(
    description="Export the proposals and objections approved before the month ended (and not delivered in "
    "an earlier month) into `usulan/<YYYY-MM>/` and `sanggahan/<YYYY-MM>/` of the landing folder."
)
def export_approved_decisions(context: dg.OpExecutionContext, data: DataResource) -> dict:
    store = Store.open(data.layout.web_db)
    try:
        counts = export_month(store, data.layout.landing, context.partition_key)
    finally:
        store.close()
    context.add_output_metadata({k: dg.MetadataValue.int(v) for k, v in counts.items()})
    context.log.info(f"{context.partition_key}: {counts}")
    return counts


@dg.job(
    partitions_def=monthly_partitions,
    description="The caseworker desk's approved decisions of the month, exported into the landing folder as the "
    "usulan and sanggahan deliveries (the landing sensor then requests the month's pipeline).",
)
def casework_export_job():
    export_approved_decisions()


casework_export_schedule = dg.build_schedule_from_partitioned_job(
    casework_export_job,
    name="casework_export_schedule",
    hour_of_day=0,
    minute_of_hour=30,
    description="Exports the decisions approved in the month that just ended, on the 1st at 00:30 UTC, before "
    "monthly_schedule builds it (stopped by default, like monthly_schedule: switch both on in a "
    "deployment).",
)

defs = dg.Definitions(jobs=[casework_export_job], schedules=[casework_export_schedule])
