"""The month's cycle across the domains: the job that builds a month from its deliveries, the schedule that runs it
on the 1st, and the landing sensor that runs it when deliveries arrive. The payment and reconciliation steps that
follow are the disbursement domain's (`assets.disbursement`).

What starts on and what stays off (the docs, "The monthly cycle"):
- landing_sensor starts RUNNING: it only reacts to delivery folders that are new or changed (its cursor and run keys
  remember every delivery processed), so switching it on never repeats work. New or corrected delivery folders
  request, per month, one run of those sources' assets and everything downstream; the run key is built from the
  deliveries' fingerprints (file names + content hashes), so an identical re-delivery requests nothing.
- monthly_schedule starts STOPPED: the landing sensor already builds a month when its deliveries arrive; the schedule
  is for deployments where a month must be built even when nothing was delivered (the 1st at 02:00 UTC).
The sensors' minimum interval is `DTSEN_SENSOR_INTERVAL` seconds (default 60).
"""

from __future__ import annotations

import hashlib

import dagster as dg

from assets.disbursement import PAYMENT_PREVIEW
from dtsen.deliveries import fingerprint, scan
from dtsen.registries.sources import INGESTED, MONTHLY_INGESTED
from orchestration.lib.partitions import month_problem, monthly_partitions
from orchestration.lib.resources import DataResource
from orchestration.lib.sensors import INTERVAL, dump_cursor, load_cursor, run_key
from orchestration.lib.sources import ASSET_OF_FOLDER

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

# and, of the disbursement domain, what the month would pay (the payment run itself is disbursement_job)
PIPELINE_ASSETS = (PAYMENT_PREVIEW,)

monthly_pipeline = dg.define_asset_job(
    name="monthly_pipeline",
    selection=dg.AssetSelection.groups(*PIPELINE_GROUPS) | dg.AssetSelection.assets(*PIPELINE_ASSETS),
    partitions_def=monthly_partitions,
    description="Ingest every source's delivery of the month, link them into the DTSEN snapshot, rank families "
    "(PMT, desil), build the dbt marts (eligibility per program, exclusions, explanations, summaries) "
    "and publish them for analysts; export the registry snapshot the data-exchange API serves and "
    "notify its subscribers; preview what the month would pay.",
)

ingest_job = dg.define_asset_job(
    name="ingest_job",
    selection=dg.AssetSelection.groups("registries"),
    partitions_def=monthly_partitions,
    description="Only ingest every source's delivery of the month (no linkage).",
)

monthly_schedule = dg.build_schedule_from_partitioned_job(
    monthly_pipeline,
    name="monthly_schedule",
    hour_of_day=2,
    minute_of_hour=0,
    description="Runs monthly_pipeline for the month that just ended on the 1st at 02:00 UTC (stopped by default: "
    "the landing sensor builds a month when its deliveries arrive).",
)


def keys_after_sources(assets_defs) -> list[dg.AssetKey]:
    """Everything monthly_pipeline builds after ingestion (what a new delivery must refresh), of these assets."""
    groups = {k: g for a in assets_defs if isinstance(a, dg.AssetsDefinition) for k, g in a.group_names_by_key.items()}
    return sorted(
        (k for k, g in groups.items() if (g in PIPELINE_GROUPS and g != "registries") or k in PIPELINE_ASSETS),
        key=lambda k: k.to_user_string(),
    )


def build_landing_sensor(downstream: list[dg.AssetKey]) -> dg.SensorDefinition:
    """downstream: the non-source assets of monthly_pipeline, run after any source's new delivery."""

    @dg.sensor(
        name="landing_sensor",
        job=monthly_pipeline,
        minimum_interval_seconds=INTERVAL,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="New or corrected delivery folders -> one run per month: those sources' partition and "
        "everything downstream. Run key = month + fingerprints (file names and content hashes). "
        "A delivery for a month that has not ended waits until it has.",
    )
    def landing_sensor(context: dg.SensorEvaluationContext, data: DataResource):
        landing = data.layout.landing
        state = load_cursor(context.cursor, landing)
        deliveries = scan(landing)
        months = sorted(d.month for d in deliveries if d.folder in MONTHLY_INGESTED)
        latest = months[-1] if months else None
        changed: dict[str, list[tuple[str, str, dg.AssetKey]]] = {}  # month -> (delivery, fingerprint, source asset)
        for d in deliveries:
            fp = fingerprint(d, state["hashes"])
            # the survey and the region reference are read by the latest month's run
            month = d.month if d.folder in MONTHLY_INGESTED else latest
            if state["seen"].get(d.name) == fp or month is None:
                continue
            problem = month_problem(month)
            if problem:  # not remembered as seen: it is requested once the month is a partition
                context.log.info(f"{d.name}: waiting ({problem})")
                continue
            state["seen"][d.name] = fp
            changed.setdefault(month, []).append((d.name, fp, ASSET_OF_FOLDER[d.folder]))
        requests = []
        for month, items in sorted(changed.items()):
            # one run per month: every changed source of the month, then everything downstream once; with them
            # every source that has no delivery of its own for the month (the region reference, the survey, a
            # monthly list not delivered), which records "nothing new, the earlier delivery holds" for the month,
            # so that a built month is built in every asset (a source that delivers once does not leave every other
            # month missing in the Partitions tab). Only a source already taken in for this month is left out.
            key = hashlib.sha256("\n".join(f"{n}:{fp}" for n, fp, _ in sorted(items)).encode()).hexdigest()[:16]
            delivered = {d.folder for d in deliveries if d.month == month and d.folder in MONTHLY_INGESTED}
            undelivered = {ASSET_OF_FOLDER[s.name] for s in INGESTED if s.name not in delivered}
            sources = sorted({a for _, _, a in items} | undelivered, key=lambda k: k.to_user_string())
            requests.append(
                dg.RunRequest(
                    run_key=run_key(state, f"{month}:{key}"),
                    partition_key=month,
                    asset_selection=[*sources, *downstream],
                    tags={"dtsen/deliveries": ",".join(n for n, _, _ in sorted(items)), "dtsen/fingerprint": key},
                )
            )
        return dg.SensorResult(run_requests=requests, cursor=dump_cursor(state))

    return landing_sensor


# the landing sensor is built in orchestration/definitions.py, once every domain's assets are known
defs = dg.Definitions(jobs=[monthly_pipeline, ingest_job], schedules=[monthly_schedule])
