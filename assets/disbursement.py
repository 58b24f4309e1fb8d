"""The `disbursement` domain: what a month would pay (previewed by every monthly run), payment lists with blocking
release checks, immutable payment files, and the reconciliation loop, with their jobs and sensors. Thin over
`dtsen.disbursement`.

Money moves only for the month being released, never from a backfill:
- payment_preview (in monthly_pipeline) says what the month would pay now and the rows' fingerprint, and which
  build area it read (`dtsen.builds`: a backfill of an earlier month builds into the rebuild area).
- disbursement_sensor (stopped by default: issuing payment files is the ministry's decision to automate) requests
  disbursement_job for a preview of the current marts (never a rebuild's) whose month has no payment files yet and
  whose build passed every error-severity check. An issued month whose rows changed is not requested: it waits for
  an operator, who launches disbursement_job with the `release_approval` resource (approve_changes and a reason,
  recorded with the run and in the superseding manifests).
- payment_lists and payment_files refuse, writing nothing, a change to an issued month without that approval, and
  anything a backfill would issue.
- reconciliation_sensor (running): new or corrected files under rekon/<YYYY-MM>/ request reconciliation_job.
"""

import os

import dagster as dg
import pandas as pd
from pydantic import Field

from assets.marts import model_key
from dtsen import builds
from dtsen.deliveries import fingerprint, scan
from dtsen.disbursement.checks import release_checks
from dtsen.disbursement.files import Approval, ReissueRefused, write_period_files
from dtsen.disbursement.history import build_payment_history
from dtsen.disbursement.lists import build_payment_rows, channel_rule, describe_fingerprint, preview, record_issue
from dtsen.disbursement.reconciliation import absorption, ingest_rekon
from dtsen.publish import publish_partitioned
from orchestration.lib.metadata import md_table
from orchestration.lib.partitions import month_problem, monthly_check, monthly_partitions, one_month_per_run
from orchestration.lib.resources import DataResource, ReleaseApproval
from orchestration.lib.sensors import INTERVAL, dump_cursor, load_cursor, run_key
from orchestration.lib.sources import landing_key

GROUP = "disbursement"
PAYMENT_PREVIEW = dg.AssetKey(["disbursement", "payment_preview"])
PAYMENT_LISTS = dg.AssetKey(["disbursement", "payment_lists"])
PAYMENT_FILES = dg.AssetKey(["disbursement", "payment_files"])
RECONCILIATION = dg.AssetKey(["disbursement", "reconciliation"])
ABSORPTION = dg.AssetKey(["disbursement", "absorption"])
PAYMENT_HISTORY = dg.AssetKey(["disbursement", "payment_history"])
ELIGIBILITY_MODELS = ["eligibility_pkh", "eligibility_sembako", "eligibility_pbi", "eligibility_pip"]
UPSTREAM_MODELS = ELIGIBILITY_MODELS + [
    "exclusions",
    "payee_identity",
    "person_identity",
    "program_parameters",
    "channel_rules",
]
RELEASE_CHECKS = {
    "no_duplicate_unit": "a family or person is paid once per program and period, whatever the channel",
    "no_excluded_or_deceased": "no excluded family or person, no deceased beneficiary or payee, no cash payment "
    "without a payee",
    "totals_equal_entitlements": "rows and amounts per program equal the recipients and entitlements recomputed "
    "from the marts; a program not due pays nothing",
    "within_quota_and_budget": "units per program and province within the scaled quota; the period's total within "
    "the program's budget for the period",
}


ELIGIBILITY_KEYS = [model_key(m) for m in ELIGIBILITY_MODELS]


class FilesConfig(dg.Config):
    root: str = Field(default="", description="where payment files go (default: disbursement/ under the data root)")


def approval_of(context: dg.AssetExecutionContext, release_approval: ReleaseApproval) -> Approval | None:
    """The operator's approval this run carries (None without one); approve_changes without a reason is refused."""
    if not release_approval.approve_changes:
        return None
    if not release_approval.reason.strip():
        raise dg.Failure(description="release_approval.approve_changes needs a reason (release_approval.reason)")
    return Approval(reason=release_approval.reason.strip(), run_id=context.run.run_id)


def is_backfill(context: dg.AssetExecutionContext) -> bool:
    return "dagster/backfill" in context.run.tags


@dg.asset(
    key=PAYMENT_PREVIEW,
    group_name=GROUP,
    partitions_def=monthly_partitions,
    backfill_policy=one_month_per_run,
    deps=[model_key(m) for m in UPSTREAM_MODELS],
    kinds={"duckdb"},
    pool="duckdb_writer",
    description="What the month would pay if issued now (rows and amounts per program and channel) and the "
    "fingerprint of its payment rows, from the build area that holds the month; nothing is issued. The "
    "disbursement sensor compares it with the issued files.",
)
def payment_preview(context: dg.AssetExecutionContext, data: DataResource) -> dg.MaterializeResult:
    month = context.partition_key
    with data.connect() as con:
        p = preview(con, month)
    table = pd.DataFrame(p.by_file, columns=["program", "channel", "rows", "amount", "lines"]).drop(columns="lines")
    return dg.MaterializeResult(
        metadata={
            "dtsen/area": p.area,
            "fingerprint": p.fingerprint,
            "due_programs": ", ".join(p.due_programs) or "none",
            "rows": p.rows,
            "total_amount": p.total_amount,
            "by_program_channel": dg.MetadataValue.md(md_table(table)),
        }
    )


@dg.asset(
    key=PAYMENT_LISTS,
    group_name=GROUP,
    partitions_def=monthly_partitions,
    backfill_policy=one_month_per_run,
    deps=[model_key(m) for m in UPSTREAM_MODELS],
    kinds={"duckdb"},
    pool="duckdb_writer",
    check_specs=[monthly_check(name, PAYMENT_LISTS, desc, blocking=True) for name, desc in RELEASE_CHECKS.items()],
    description="The period's payment rows (disbursement.payment_row): due programs from the rule seeds, "
    "recipients of the eligibility marts, payee identity from the restricted schema, channel and "
    "routing reason (DOMAIN rule 4). Four blocking release checks guard the files.",
)
def payment_lists(context: dg.AssetExecutionContext, data: DataResource, release_approval: ReleaseApproval):
    month = context.partition_key
    approval = approval_of(context, release_approval)
    with data.connect() as con:
        try:
            summary = build_payment_rows(con, month, approval, backfill=is_backfill(context))
        except (ReissueRefused, builds.MonthNotBuilt) as e:
            raise dg.Failure(description=str(e)) from None
        checks = release_checks(con, month)
        channels = con.execute(
            """SELECT program, channel, count(*) AS rows, sum(amount) AS amount
                                  FROM disbursement.payment_row WHERE period = ? GROUP BY ALL ORDER BY ALL""",
            [month],
        ).df()
        reasons = con.execute(
            """SELECT unnest(string_split(routing_reason, ',')) AS reason, count(*) AS rows
                                 FROM disbursement.payment_row WHERE period = ? GROUP BY 1 ORDER BY 2 DESC""",
            [month],
        ).df()
    yield dg.MaterializeResult(
        metadata={
            "due_programs": ", ".join(summary.due_programs) or "none",
            "rows": summary.rows,
            "total_amount": summary.total_amount,
            "rerouted_previous_not_collected": summary.rerouted_previous_not_collected,
            "by_program_channel": dg.MetadataValue.md(md_table(channels)),
            "routing_reasons": dg.MetadataValue.md(md_table(reasons)),
            "summary": dg.MetadataValue.json(summary.by_program_channel),
        }
    )
    for c in checks:
        yield dg.AssetCheckResult(
            asset_key=PAYMENT_LISTS,
            check_name=c.name,
            passed=c.passed,
            description=c.description,
            metadata={k: dg.MetadataValue.json(v) for k, v in c.details.items()},
        )


@dg.asset(
    key=PAYMENT_FILES,
    deps=[PAYMENT_LISTS],
    group_name=GROUP,
    partitions_def=monthly_partitions,
    backfill_policy=one_month_per_run,
    kinds={"csv"},
    pool="duckdb_writer",
    description="One CSV + manifest per program and channel under `disbursement/<YYYY-MM>/<program>/`; never "
    "rewritten: identical content is left alone; changed content of an issued month becomes a new version that "
    "names the one it supersedes, only with the operator's approval (resource `release_approval`, whose reason the "
    "manifest carries); a backfill issues nothing. Only runs when every release check passed.",
)
def payment_files(
    context: dg.AssetExecutionContext, config: FilesConfig, data: DataResource, release_approval: ReleaseApproval
) -> dg.MaterializeResult:
    root = config.root or data.layout.disbursement
    month = context.partition_key
    approval = approval_of(context, release_approval)
    with data.connect() as con:
        try:
            results = write_period_files(con, month, root, approval, backfill=is_backfill(context))
        except ReissueRefused as e:
            raise dg.Failure(description=str(e)) from None
        written = sum(r.status != "unchanged" for r in results)
        rows_fp = record_issue(con, month, written, approval, context.run.run_id)
    table = [
        {
            "file": os.path.relpath(r.path, root),
            "status": r.status,
            "rows": r.rows,
            "total_amount": r.total_amount,
            "sha256": r.sha256[:16],
        }
        for r in results
    ]
    return dg.MaterializeResult(
        metadata={
            "folder": dg.MetadataValue.path(os.path.join(root, context.partition_key)),
            "files": dg.MetadataValue.md(md_table(pd.DataFrame(table))),
            "written": written,
            "unchanged": sum(r.status == "unchanged" for r in results),
            "rows_fingerprint": rows_fp,
            "approved_reason": approval.reason if approval else "",
        }
    )


@dg.asset(
    key=RECONCILIATION,
    deps=[PAYMENT_FILES, landing_key("rekon")],
    group_name=GROUP,
    partitions_def=monthly_partitions,
    backfill_policy=one_month_per_run,
    kinds={"duckdb", "csv"},
    pool="duckdb_writer",
    check_specs=[monthly_check("rows_reconcile", RECONCILIATION, "rows read = rows stored + rows quarantined")],
    description="The banks' and PT Pos' reconciliation files of the month (`rekon/<YYYY-MM>/`), validated; bad "
    "rows quarantined with file, line, field and reason (disbursement.reconciliation).",
)
def reconciliation(context: dg.AssetExecutionContext, data: DataResource):
    with data.connect() as con:
        res = ingest_rekon(con, data.layout.landing, context.partition_key)
        stored = con.execute(
            "SELECT count(*) FROM disbursement.reconciliation WHERE period = ?", [context.partition_key]
        ).fetchall()[0][0]
    read = sum(f.rows_read for f in res.files)
    yield dg.MaterializeResult(
        metadata={
            "files": len(res.files),
            "rows_read": read,
            "rows_accepted": res.rows_accepted,
            "rows_quarantined": res.rows_quarantined,
            "quarantine_reasons": dg.MetadataValue.json(res.by_reason),
        }
    )
    yield dg.AssetCheckResult(
        check_name="rows_reconcile",
        passed=bool(read == stored + res.rows_quarantined),
        metadata={"read": read, "stored": int(stored), "quarantined": res.rows_quarantined},
    )


@dg.asset(
    key=ABSORPTION,
    deps=[RECONCILIATION],
    group_name=GROUP,
    partitions_def=monthly_partitions,
    backfill_policy=one_month_per_run,
    kinds={"duckdb"},
    pool="duckdb_writer",
    description="Absorption per period, program, channel and province (paid, credited, collected, failed, "
    "returned, dormant > 105 days), families flagged for review (disbursement.absorption, "
    "disbursement.dormant, disbursement.review_flag). Non-collectors move to PT Pos next period.",
)
def absorption_report(context: dg.AssetExecutionContext, data: DataResource) -> dg.MaterializeResult:
    with data.connect() as con:
        res = absorption(
            con,
            context.partition_key,
            channel_rule(con, "dormant_days"),
            channel_rule(con, "review_after_missed_periods"),
        )
    by = res["by_channel"]
    rate = {r.channel: round(float(r.collected) / float(r.paid), 4) if r.paid else None for r in by.itertuples()}
    return dg.MaterializeResult(
        metadata={
            "absorption_by_channel": dg.MetadataValue.md(md_table(by)),
            "collected_share": dg.MetadataValue.json(rate),
            "review_flags": res["review_flags"],
            "dormant_rows": res["dormant_rows"],
            "dormant_amount": res["dormant_amount"],
        }
    )


@dg.asset(
    key=PAYMENT_HISTORY,
    deps=[PAYMENT_LISTS, ABSORPTION],
    group_name=GROUP,
    partitions_def=monthly_partitions,
    backfill_policy=one_month_per_run,
    kinds={"duckdb", "parquet"},
    pool="duckdb_writer",
    description="history.payment_history: per period, program and family, paid, collected, not collected, "
    "rerouted to PT Pos, dormant, across every month (rebuilt after each payment run and each "
    "reconciliation), and published as `published/history/payment_history/period=YYYY-MM/`.",
)
def payment_history(context: dg.AssetExecutionContext, data: DataResource) -> dg.MaterializeResult:
    with data.connect() as con:
        by_status = build_payment_history(con)
        rows = publish_partitioned(con, "payment_history", "period", data.layout.published)
    return dg.MaterializeResult(metadata={"rows": rows, "families_by_status": dg.MetadataValue.json(by_status)})


disbursement_job = dg.define_asset_job(
    name="disbursement_job",
    selection=dg.AssetSelection.assets(PAYMENT_LISTS, PAYMENT_FILES, PAYMENT_HISTORY),
    partitions_def=monthly_partitions,
    description="The month's payment lists per program and channel, the blocking release checks, and the "
    "immutable files + manifests under `disbursement/<YYYY-MM>/`.",
)

reconciliation_job = dg.define_asset_job(
    name="reconciliation_job",
    selection=dg.AssetSelection.assets(RECONCILIATION, ABSORPTION, PAYMENT_HISTORY),
    partitions_def=monthly_partitions,
    description="Ingest the banks' and PT Pos' reconciliation files of the month; absorption, dormant funds, "
    "review flags (and so the next month's routing).",
)


@dg.sensor(
    name="reconciliation_sensor",
    job=reconciliation_job,
    minimum_interval_seconds=INTERVAL,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="New or corrected files under `rekon/<YYYY-MM>/` -> reconciliation_job for that month.",
)
def reconciliation_sensor(context: dg.SensorEvaluationContext, data: DataResource):
    landing = data.layout.landing
    state = load_cursor(context.cursor, landing)
    requests = []
    for d in scan(landing, folders=("rekon",)):
        fp = fingerprint(d, state["hashes"])
        if state["seen"].get(d.name) == fp:
            continue
        problem = month_problem(d.month)
        if problem:
            context.log.info(f"{d.name}: waiting ({problem})")
            continue
        state["seen"][d.name] = fp
        requests.append(
            dg.RunRequest(
                run_key=run_key(state, f"{d.name}:{fp[:16]}"),
                partition_key=d.month,
                tags={"dtsen/delivery": d.name, "dtsen/fingerprint": fp[:16]},
            )
        )
    return dg.SensorResult(run_requests=requests, cursor=dump_cursor(state))


@dg.sensor(
    name="disbursement_sensor",
    job=disbursement_job,
    minimum_interval_seconds=INTERVAL,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="A new payment preview of the current marts (never a rebuild of an earlier month), for a month "
    "whose payment files are not issued yet, with no error-severity check failed in the runs that built it -> "
    "disbursement_job for that month, once per preview. An issued month whose rows changed waits for an "
    "operator's approval (resource `release_approval`).",
)
def disbursement_sensor(context: dg.SensorEvaluationContext):
    state = load_cursor(context.cursor)
    instance = context.instance
    after = state.get("after")
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=PAYMENT_PREVIEW, after_storage_id=after), limit=100, ascending=True
    ).records
    # the month being released: the newest month the current marts were built for (a rebuild never moves it)
    current = max(
        [state.get("current") or "", *(r.partition_key for r in records if _area(r) == builds.MAIN)], default=""
    )
    state["current"] = current
    last_of_month = {r.partition_key: r.storage_id for r in records}
    requests = []
    for record in records:
        state["after"] = record.storage_id
        month = record.partition_key
        area = _area(record)
        rows_fp = _text(record.asset_materialization.metadata.get("fingerprint"))
        if area != builds.MAIN:
            context.log.info(f"{month}: rebuilt as history (area {area}): a backfill never moves money")
            continue
        if month != current or record.storage_id != last_of_month[month]:
            context.log.info(f"{month}: superseded by a later build ({current} is the month being released)")
            continue
        failed = _failed_checks(instance, _build_runs(instance, record))
        if failed:
            context.log.info(f"{month}: checks not passed ({', '.join(failed[:5])}): waiting for a clean build")
            continue
        issued = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=PAYMENT_FILES, asset_partitions=[month]), limit=1
        ).records
        if not issued:
            requests.append(
                dg.RunRequest(
                    run_key=f"disbursement:{month}:{record.storage_id}",
                    partition_key=month,
                    tags={"dtsen/fingerprint": rows_fp},
                )
            )
            continue
        before = _text(issued[0].asset_materialization.metadata.get("rows_fingerprint"))
        if before == rows_fp:
            context.log.info(f"{month}: issued, and its rows are unchanged: nothing to do")
        else:
            context.log.warning(
                f"{month}: issued from {describe_fingerprint(before) if before else 'other rows'}, its rows now "
                f"give {describe_fingerprint(rows_fp)}: waiting for an operator's approval (launch "
                f"disbursement_job for {month} with resource release_approval: approve_changes and a reason)"
            )
    return dg.SensorResult(run_requests=requests, cursor=dump_cursor(state))


def _area(record) -> str:
    return _text(record.asset_materialization.metadata.get("dtsen/area"))


def _text(value) -> str:
    return "" if value is None else str(getattr(value, "value", getattr(value, "text", value)))


def _build_runs(instance: dg.DagsterInstance, preview_record) -> set[str]:
    """The preview's run and the runs that last built the month's eligibility marts."""
    runs = {preview_record.run_id}
    for key in ELIGIBILITY_KEYS:
        latest = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=key, asset_partitions=[preview_record.partition_key]), limit=1
        ).records
        runs.update(r.run_id for r in latest)
    return runs


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


defs = dg.Definitions(
    assets=[payment_preview, payment_lists, payment_files, reconciliation, absorption_report, payment_history],
    jobs=[disbursement_job, reconciliation_job],
    sensors=[disbursement_sensor, reconciliation_sensor],
)
