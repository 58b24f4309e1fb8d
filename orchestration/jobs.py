"""Jobs. `monthly_pipeline` materialises everything for one month; it grows as the pipeline does."""
import dagster as dg

from orchestration.partitions import monthly_partitions

monthly_pipeline = dg.define_asset_job(
    name="monthly_pipeline",
    selection=dg.AssetSelection.groups("registries", "dtsen", "welfare", "rules", "staging", "intermediate", "marts",
                                       "restricted", "analytics"),
    partitions_def=monthly_partitions,
    description="Ingest every source's delivery of the month, link them into the DTSEN snapshot, rank families "
                "(PMT, desil), build the dbt marts (eligibility per program, exclusions, explanations, summaries) "
                "and publish them for analysts.",
)

ingest_job = dg.define_asset_job(
    name="ingest_job",
    selection=dg.AssetSelection.groups("registries"),
    partitions_def=monthly_partitions,
    description="Only ingest every source's delivery of the month (no linkage).",
)
