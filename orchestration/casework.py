"""The caseworker desk's monthly export as a job: the decisions approved up to the end of the month become the
`usulan/` and `sanggahan/` deliveries of that month in the landing folder (the landing sensor then takes them in).
Thin: the work is `dtsen.web.export.export_month`."""

import dagster as dg

from dtsen.web import config as web_config
from dtsen.web.export import export_month
from dtsen.web.store import Store
from orchestration.partitions import monthly_partitions
from orchestration.resources import LandingResource, WarehouseResource


@dg.op(
    description="Export the proposals and objections approved before the month ended (and not delivered in "
    "an earlier month) into `usulan/<YYYY-MM>/` and `sanggahan/<YYYY-MM>/` of the landing folder."
)
def export_approved_decisions(
    context: dg.OpExecutionContext, landing: LandingResource, warehouse: WarehouseResource
) -> dict:
    store = Store.open(web_config.default_db_url(warehouse.file))
    try:
        counts = export_month(store, landing.folder, context.partition_key)
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
