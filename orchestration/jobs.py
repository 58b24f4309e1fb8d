"""Jobs, all partitioned by month. The monthly cycle: monthly_pipeline -> disbursement_job (sensor, once the
eligibility marts are fresh and their checks passed) -> files to banks / PT Pos -> reconciliation_job (sensor, when
their files arrive under rekon/<YYYY-MM>/) -> next month's routing."""

import dagster as dg

from orchestration.partitions import monthly_partitions

PIPELINE_GROUPS = (
    "registries",
    "dtsen",
    "welfare",
    "rules",
    "staging",
    "intermediate",
    "marts",
    "restricted",
    "history",
    "analytics",
    "exchange",
)

monthly_pipeline = dg.define_asset_job(
    name="monthly_pipeline",
    selection=dg.AssetSelection.groups(*PIPELINE_GROUPS),
    partitions_def=monthly_partitions,
    description="Ingest every source's delivery of the month, link them into the DTSEN snapshot, rank families "
    "(PMT, desil), build the dbt marts (eligibility per program, exclusions, explanations, summaries) "
    "and publish them for analysts; export the registry snapshot the data-exchange API serves and "
    "notify its subscribers.",
)

ingest_job = dg.define_asset_job(
    name="ingest_job",
    selection=dg.AssetSelection.groups("registries"),
    partitions_def=monthly_partitions,
    description="Only ingest every source's delivery of the month (no linkage).",
)

disbursement_job = dg.define_asset_job(
    name="disbursement_job",
    selection=dg.AssetSelection.assets(
        ["disbursement", "payment_lists"], ["disbursement", "payment_files"], ["disbursement", "payment_history"]
    ),
    partitions_def=monthly_partitions,
    description="The month's payment lists per program and channel, the blocking release checks, and the "
    "immutable files + manifests under `disbursement/<YYYY-MM>/`.",
)

reconciliation_job = dg.define_asset_job(
    name="reconciliation_job",
    selection=dg.AssetSelection.assets(
        ["disbursement", "reconciliation"], ["disbursement", "absorption"], ["disbursement", "payment_history"]
    ),
    partitions_def=monthly_partitions,
    description="Ingest the banks' and PT Pos' reconciliation files of the month; absorption, dormant funds, "
    "review flags (and so the next month's routing).",
)
