"""Schedules and sensors of the monthly cycle (no domain logic: what they watch is in dtsen.deliveries).

What starts on and what stays off (README, "Automation"):
- landing_sensor and reconciliation_sensor start RUNNING: they only react to files that are new or changed (the
  cursor and the run keys remember every delivery processed), so switching them on never repeats work.
- disbursement_sensor starts STOPPED: issuing payment files is the ministry's decision to automate; an operator
  switches it on once the cycle is trusted.
- monthly_schedule starts STOPPED: the landing sensor already builds a month when its deliveries arrive; the
  schedule is for deployments where a month must be built even when nothing was delivered.
The sensors' minimum interval is `DTSEN_SENSOR_INTERVAL` seconds (default 60).

- monthly_schedule: the whole pipeline for the month that just ended, on the 1st at 02:00 UTC (UTC months).
- landing_sensor: new or corrected delivery folders request, per month, one run of those sources' assets and
  everything downstream. The run key is built from the deliveries' fingerprints (file names + content hashes) and
  the cursor remembers the last fingerprint per folder: an identical re-delivery requests nothing, a corrected file
  a new run.
- disbursement_sensor: when the four eligibility marts were last built for the same month (the marts hold one
  snapshot) and no error-severity check failed in the runs that built them, requests disbursement_job for that
  month, once per build.
- reconciliation_sensor: new or corrected files under rekon/<YYYY-MM>/ request reconciliation_job for the month.
All runs go through the in-process executor and the `duckdb_writer` pool (limit 1): one writer at a time.
"""

from __future__ import annotations

import hashlib
import json
import os

import dagster as dg

from assets.registries import SPECS
from dtsen.deliveries import MONTHLY_FOLDERS, fingerprint, landing_id, scan
from orchestration.jobs import disbursement_job, monthly_pipeline, reconciliation_job
from orchestration.partitions import month_problem
from orchestration.resources import LandingResource

# 0 means back to back (the demo, `dtsen run`, tests): Dagster reads 0 as its default of 30 s, so it becomes 1 s
INTERVAL = max(int(os.environ.get("DTSEN_SENSOR_INTERVAL", "60")), 1)

SOURCE_ASSET = {spec.source: spec.asset for spec in SPECS}  # landing folder -> asset sources/<asset>

monthly_schedule = dg.build_schedule_from_partitioned_job(
    monthly_pipeline,
    name="monthly_schedule",
    hour_of_day=2,
    minute_of_hour=0,
    description="Runs monthly_pipeline for the month that just ended on the 1st at 02:00 UTC (stopped by default: "
    "the landing sensor builds a month when its deliveries arrive).",
)


def _load(cursor: str | None, landing: str | None = None) -> dict:
    """The cursor: what was seen (name -> fingerprint or marker) and content hashes. A landing sensor's cursor
    belongs to the landing folder it was made for: another one (a new identity, dtsen.deliveries.landing_id)
    starts from nothing."""
    state = json.loads(cursor) if cursor else {}
    if landing is not None:
        ident = landing_id(landing)
        if state.get("landing_id", "") != ident:
            state = {"landing_id": ident}
    state.setdefault("seen", {})
    state.setdefault("hashes", {})
    return state


def _run_key(state: dict, key: str) -> str:
    """Run keys name the landing folder's identity too: Dagster never repeats a run key, and a new landing with
    the same bytes (the demo run again) must be processed again."""
    return f"{state['landing_id']}:{key}" if state.get("landing_id") else key


def _dump(state: dict) -> str:
    return json.dumps(state, sort_keys=True)


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
    def landing_sensor(context: dg.SensorEvaluationContext, landing: LandingResource):
        state = _load(context.cursor, landing.folder)
        deliveries = scan(landing.folder)
        months = sorted(d.period for d in deliveries if d.folder in MONTHLY_FOLDERS)
        latest = months[-1] if months else None
        changed: dict[str, list[tuple[str, str, str]]] = {}  # month -> (delivery, fingerprint, source asset)
        for d in deliveries:
            fp = fingerprint(d, state["hashes"])
            # the survey and the region reference are read by the latest month's run
            month = d.period if d.folder in MONTHLY_FOLDERS else latest
            if state["seen"].get(d.name) == fp or month is None:
                continue
            problem = month_problem(month)
            if problem:  # not remembered as seen: it is requested once the month is a partition
                context.log.info(f"{d.name}: waiting ({problem})")
                continue
            state["seen"][d.name] = fp
            changed.setdefault(month, []).append((d.name, fp, SOURCE_ASSET[d.folder]))
        requests = []
        for month, items in sorted(changed.items()):
            # one run per month: every changed source of the month, then everything downstream once
            key = hashlib.sha256("\n".join(f"{n}:{fp}" for n, fp, _ in sorted(items)).encode()).hexdigest()[:16]
            sources = sorted({a for _, _, a in items})
            requests.append(
                dg.RunRequest(
                    run_key=_run_key(state, f"{month}:{key}"),
                    partition_key=month,
                    asset_selection=[*(dg.AssetKey(["sources", a]) for a in sources), *downstream],
                    tags={"dtsen/deliveries": ",".join(n for n, _, _ in sorted(items)), "dtsen/fingerprint": key},
                )
            )
        return dg.SensorResult(run_requests=requests, cursor=_dump(state))

    return landing_sensor


@dg.sensor(
    name="reconciliation_sensor",
    job=reconciliation_job,
    minimum_interval_seconds=INTERVAL,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="New or corrected files under `rekon/<YYYY-MM>/` -> reconciliation_job for that month.",
)
def reconciliation_sensor(context: dg.SensorEvaluationContext, landing: LandingResource):
    state = _load(context.cursor, landing.folder)
    requests = []
    for d in scan(landing.folder, folders=("rekon",)):
        fp = fingerprint(d, state["hashes"])
        if state["seen"].get(d.name) == fp:
            continue
        problem = month_problem(d.period)
        if problem:
            context.log.info(f"{d.name}: waiting ({problem})")
            continue
        state["seen"][d.name] = fp
        requests.append(
            dg.RunRequest(
                run_key=_run_key(state, f"{d.name}:{fp[:16]}"),
                partition_key=d.period,
                tags={"dtsen/delivery": d.name, "dtsen/fingerprint": fp[:16]},
            )
        )
    return dg.SensorResult(run_requests=requests, cursor=_dump(state))


def build_disbursement_sensor(eligibility: list[dg.AssetKey]) -> dg.SensorDefinition:
    @dg.sensor(
        name="disbursement_sensor",
        job=disbursement_job,
        minimum_interval_seconds=INTERVAL,
        default_status=dg.DefaultSensorStatus.STOPPED,
        description="The four eligibility marts last built for one month, and no error-severity check failed "
        "in the runs that built them -> disbursement_job for that month, once per build.",
    )
    def disbursement_sensor(context: dg.SensorEvaluationContext):
        state = _load(context.cursor)
        instance = context.instance
        # the marts hold one snapshot: the month most recently built for all four is the only one to disburse
        latest = [
            instance.fetch_materializations(dg.AssetRecordsFilter(asset_key=k), limit=1).records for k in eligibility
        ]
        if not all(latest):
            return dg.SensorResult(run_requests=[], cursor=_dump(state))
        records = [r[0] for r in latest]
        months = {r.partition_key for r in records}
        if len(months) != 1 or None in months:
            context.log.info(
                f"eligibility marts were last built for different months {sorted(map(str, months))}: "
                f"waiting for a complete build"
            )
            return dg.SensorResult(run_requests=[], cursor=_dump(state))
        month = months.pop()
        marker = ",".join(str(r.storage_id) for r in records)
        if state["seen"].get(month) == marker:
            return dg.SensorResult(run_requests=[], cursor=_dump(state))
        failed = _failed_checks(instance, {r.run_id for r in records})
        if failed:
            context.log.info(f"{month}: eligibility checks not passed ({', '.join(failed[:5])}): waiting")
            return dg.SensorResult(run_requests=[], cursor=_dump(state))
        state["seen"][month] = marker
        return dg.SensorResult(
            run_requests=[dg.RunRequest(run_key=f"disbursement:{month}:{marker}", partition_key=month)],
            cursor=_dump(state),
        )

    return disbursement_sensor


def _failed_checks(instance: dg.DagsterInstance, run_ids: set[str]) -> list[str]:
    """Error-severity checks that failed in these runs (any asset: a rule test on `exclusions` guards the eligibility
    marts too); warnings do not hold the money back."""
    failed = []
    for run_id in sorted(run_ids):
        for ev in instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION):
            data = ev.dagster_event.event_specific_data
            if not data.passed and data.severity == dg.AssetCheckSeverity.ERROR:
                failed.append(f"{'/'.join(data.asset_key.path)}:{data.check_name}")
    return failed
