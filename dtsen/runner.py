"""Run the platform for one month through Dagster, in-process (used by `dtsen run`, `dtsen demo`, `make run`)."""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
from dataclasses import dataclass, field

import dagster as dg

from dtsen import warehouse as wh


@dataclass
class MonthRun:
    month: str
    success: bool
    errors: list[str] = field(default_factory=list)
    materialized: dict[str, dict] = field(default_factory=dict)  # asset path -> metadata (plain values)
    failed_checks: list[str] = field(default_factory=list)


# dbt assets (seeds, staging, intermediate, marts, restricted) are summarised by analytics/program_report
DBT_GROUP_KEYS = ("rules", "staging", "intermediate", "marts", "restricted")

# the run's own log goes to the Dagster instance (UI); the console only shows warnings and errors
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def instance_for_run() -> dg.DagsterInstance:
    """For in-process test and bench runs: the instance under DAGSTER_HOME when set, else an ephemeral one."""
    home = os.environ.get("DAGSTER_HOME")
    if home:
        os.makedirs(home, exist_ok=True)
        return dg.DagsterInstance.get()
    return dg.DagsterInstance.ephemeral()


def _plain(v):
    return getattr(v, "value", getattr(v, "data", getattr(v, "text", v)))


def _definitions(landing: str, warehouse: str | None):
    from orchestration.definitions import build_definitions
    from orchestration.resources import default_resources

    return build_definitions(default_resources(landing=landing, warehouse=warehouse))


def execute(
    defs: dg.Definitions,
    job_name: str,
    month: str,
    warehouse: str | None,
    instance: dg.DagsterInstance | None = None,
    run_config: dict | None = None,
    asset_selection: list[dg.AssetKey] | None = None,
    tags: dict | None = None,
) -> MonthRun:
    """Run one job for one month partition in-process and collect materialisations, check results and errors."""
    job = defs.resolve_job_def(job_name)
    # dbt's own log (which dagster-dbt re-emits on stdout) goes to a file beside the warehouse, not the console
    log_dir = os.path.join(os.path.dirname(os.path.abspath(wh.warehouse_path(warehouse))), "logs")
    os.makedirs(log_dir, exist_ok=True)
    with open(os.path.join(log_dir, f"{job_name}-{month}.log"), "w") as log, contextlib.redirect_stdout(log):
        result = job.execute_in_process(
            partition_key=month,
            instance=instance or instance_for_run(),
            raise_on_error=False,
            run_config={**QUIET, **(run_config or {})},
            asset_selection=asset_selection,
            tags=tags,
        )
    run = MonthRun(month=month, success=result.success)
    for ev in result.get_asset_materialization_events():
        mat = ev.event_specific_data.materialization
        run.materialized["/".join(mat.asset_key.path)] = {k: _plain(v) for k, v in mat.metadata.items()}
    for ev in result.all_events:
        if ev.event_type_value == "STEP_FAILURE":
            data = ev.step_failure_data
            desc = data.user_failure_data.description if data.user_failure_data else None
            run.errors.append(desc or (data.error.message.strip() if data.error else ev.message or "step failed"))
        if ev.event_type_value == "ASSET_CHECK_EVALUATION":
            ce = ev.event_specific_data
            if not ce.passed:
                run.failed_checks.append(f"{'/'.join(ce.asset_key.path)}:{ce.check_name} ({ce.severity.value})")
    return run


def materialize_month(
    landing: str,
    month: str,
    warehouse: str | None = None,
    instance: dg.DagsterInstance | None = None,
    job_name: str = "monthly_pipeline",
    run_config: dict | None = None,
) -> MonthRun:
    return execute(_definitions(landing, warehouse), job_name, month, warehouse, instance, run_config)


def tick(
    defs: dg.Definitions,
    sensor_name: str,
    instance: dg.DagsterInstance,
    cursors: dict[str, str | None],
    warehouse: str | None,
) -> list[MonthRun]:
    """One evaluation of a sensor, as the daemon would do it, with its run requests executed in-process.
    cursors: sensor name -> cursor, kept by the caller between ticks."""
    sensor = defs.resolve_sensor_def(sensor_name)
    ctx = dg.build_sensor_context(
        instance=instance, cursor=cursors.get(sensor_name), definitions=defs, resources=dict(defs.resources or {})
    )
    data = sensor.evaluate_tick(ctx)
    cursors[sensor_name] = data.cursor
    runs = []
    for req in data.run_requests or []:
        runs.append(
            execute(
                defs,
                req.job_name or sensor.job_name,
                req.partition_key,
                warehouse,
                instance,
                asset_selection=req.asset_selection,
                tags=req.tags,
            )
        )
    return runs


def print_problems(run: MonthRun, out=sys.stdout) -> None:
    for c in run.failed_checks:
        print(f"  check failed: {c}", file=out)
    for e in run.errors:
        print(f"  ERROR: {e}", file=out)


def print_summary(run: MonthRun, warehouse: str | None, out=sys.stdout) -> None:
    print(f"\n== month {run.month}: {'ok' if run.success else 'FAILED'}", file=out)
    for key, meta in sorted(run.materialized.items()):
        if key == "dtsen/person":
            print(
                f"  {key:28s} {meta.get('persons', 0):,} persons from {meta.get('records', 0):,} records "
                f"(largest cluster {meta.get('largest_cluster')}; id events {meta.get('id_events')})",
                file=out,
            )
            continue
        if key == "dtsen/family":
            print(f"  {key:28s} {meta.get('families', 0):,} families", file=out)
            continue
        if key in ("dtsen/crosswalk", "welfare/targeting_evaluation") or key.split("/")[0] in DBT_GROUP_KEYS:
            continue
        if key == "welfare/family_welfare":
            errs = (
                f"; bottom-40% exclusion error {meta['exclusion_error']:.1%}, inclusion error "
                f"{meta['inclusion_error']:.1%}"
                if "exclusion_error" in meta
                else ""
            )
            print(
                f"  {key:28s} {meta.get('families', 0):,} families ranked; PMT R^2 out of sample "
                f"{meta.get('r2_out_of_sample', float('nan')):.3f} on {meta.get('survey_families', 0):,} survey "
                f"families{errs}",
                file=out,
            )
            continue
        if key == "analytics/published_marts":
            print(f"  {key:28s} {meta.get('folder')}", file=out)
            continue
        if key == "analytics/program_report":
            print(f"  {key:28s} rules {meta.get('rule_version')}", file=out)
            for program, v in (meta.get("program_summary") or {}).items():
                print(
                    f"      {program:8s} eligible {v['eligible']:>8,}  recipients {v['recipients']:>8,}  "
                    f"cut by quota {v['cut_by_quota']:>7,}  annual budget Rp {v['annual_budget']:>16,}",
                    file=out,
                )
            continue
        if key == "exchange/registry_snapshot":
            print(
                f"  {key:28s} {meta.get('person', 0):,} persons, {meta.get('family', 0):,} families for the API "
                f"in {meta.get('folder')}",
                file=out,
            )
            continue
        if key == "exchange/subscriber_notifications":
            print(
                f"  {key:28s} {meta.get('subscriptions', 0)} subscriptions: {meta.get('delivered', 0)} notified, "
                f"{meta.get('dead_letters', 0)} dead letters; events {meta.get('events') or {}}",
                file=out,
            )
            continue
        if key == "dtsen/linkage_evaluation":
            if meta.get("evaluated"):
                line = ", ".join(
                    f"{m} {meta[m + '_f1']:.4f}"
                    for m in ("dtsen_model", "generic_splink", "nik_only")
                    if m + "_f1" in meta
                )
                print(f"  {key:28s} pairwise F1: {line}", file=out)
            else:
                print(f"  {key:28s} {meta.get('note', '')}", file=out)
            continue
        if meta.get("delivered") is False:
            print(f"  {key:28s} no delivery: {meta.get('note', '')}", file=out)
        else:
            nik = f", NIK valid {meta['nik_valid_rate']:.1%}" if "nik_valid_rate" in meta else ""
            print(
                f"  {key:28s} read {meta.get('rows_read', 0):>9,}  accepted {meta.get('rows_accepted', 0):>9,}  "
                f"quarantined {meta.get('rows_quarantined', 0):>6,}{nik}",
                file=out,
            )
    print_problems(run, out)
    print(f"  warehouse: {os.path.abspath(wh.warehouse_path(warehouse))}", file=out)


@contextlib.contextmanager
def platform_env(**values: str | None):
    """Set DTSEN_* variables for the code location this process drives (its code server inherits them)."""
    saved = {k: os.environ.get(k) for k in values}
    for k, v in values.items():
        if v is not None:
            os.environ[k] = v
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def persistent_instance() -> dg.DagsterInstance:
    """The instance under DAGSTER_HOME (runs show in `make ui`), else a temporary one that still has storage."""
    if os.environ.get("DAGSTER_HOME"):
        os.makedirs(os.environ["DAGSTER_HOME"], exist_ok=True)
        return dg.DagsterInstance.get()
    return dg.DagsterInstance.local_temp()


def collect_run(instance: dg.DagsterInstance, run_id: str, month: str) -> MonthRun:
    """What a finished run materialised, which checks failed and why it failed, from the event log."""
    from orchestration.driver import run_problems

    record = instance.get_run_by_id(run_id)
    run = MonthRun(month=month, success=record.status == dg.DagsterRunStatus.SUCCESS)
    for rec in instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION):
        mat = rec.dagster_event.event_specific_data.materialization
        run.materialized["/".join(mat.asset_key.path)] = {k: _plain(v) for k, v in mat.metadata.items()}
    run.errors, run.failed_checks = run_problems(instance, run_id)
    if not run.success and not run.errors:
        run.errors.append(f"run {run_id} ended {record.status.value}")
    return run


def engine_run_config(engine: str) -> dict:
    """Run config that scores the linkage on `engine` (duckdb, the default, or spark)."""
    return {"ops": {"dtsen_registry": {"config": {"backend": engine}}}} if engine != "duckdb" else {}


def run_month(landing: str, month: str, warehouse: str | None = None, engine: str = "duckdb") -> int:
    """`dtsen run`: one run of monthly_pipeline for the month, launched on the code location as the launchpad
    would, executed in this process (the linkage scored on `engine`)."""
    from orchestration.driver import Driver
    from orchestration.partitions import month_problem

    problem = month_problem(month)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    if not os.path.isdir(landing):
        print(f"error: landing folder {landing} does not exist", file=sys.stderr)
        return 2
    warehouse_file = os.path.abspath(wh.warehouse_path(warehouse))
    warn_development_key()
    with platform_env(DTSEN_LANDING=os.path.abspath(landing), DTSEN_WAREHOUSE=warehouse_file):
        instance = persistent_instance()
        with Driver(instance) as driver:
            run_id = driver.launch(
                "monthly_pipeline", month, tags={"dtsen/launched_by": "dtsen run"}, run_config=engine_run_config(engine)
            )
            print(
                f"monthly_pipeline {month}: run {run_id} (steps as they run; the full log in "
                f"{_log_file(warehouse_file, 'monthly_pipeline', month)})",
                flush=True,
            )
            driver.execute(run_id, _log_file(warehouse_file, "monthly_pipeline", month), progress=sys.stdout)
            run = collect_run(instance, run_id, month)
    print_summary(run, warehouse_file, out=sys.stdout if run.success else sys.stderr)
    return 0 if run.success else 1


def _log_file(warehouse: str, job: str, month: str) -> str:
    return os.path.join(os.path.dirname(os.path.abspath(warehouse)), "logs", f"{job}-{month}.log")


def warn_development_key(out=sys.stderr) -> None:
    from dtsen.privacy import KEY_ENV, using_development_key

    if using_development_key():
        print(
            f"WARNING: {KEY_ENV} is not set: NIK/KK are pseudonymised with the public DEVELOPMENT key. Set a "
            f"secret key before real data is loaded.",
            file=out,
        )


DEMO_SENSORS = ("landing_sensor", "disbursement_sensor", "reconciliation_sensor")


def desk_password() -> str:
    from dtsen.web.demo import DEMO_PASSWORD

    return DEMO_PASSWORD


def demo(persons: int, seed: int, months: int, data: str) -> int:
    """The monthly cycle end to end on the code location, as the daemon would drive it: each month's deliveries
    arrive in the landing folder, the landing sensor requests the month's pipeline, the disbursement sensor the
    payment files, the bank/PT Pos simulator answers with reconciliation files and the reconciliation sensor takes
    them in; next month's lists route the non-collectors to PT Pos."""

    from dtsen.deliveries import new_landing
    from dtsen.synth import SynthConfig, synth
    from orchestration.driver import Driver

    data = os.path.abspath(data)
    outbox = os.path.join(data, "outbox")
    landing = os.path.join(data, "landing")
    warehouse = os.path.join(data, "warehouse.duckdb")
    disbursement = os.path.join(data, "disbursement")
    # the demo starts from a clean slate: it removes what an earlier demo wrote under `data` (and nothing else)
    for owned in ("outbox", "landing", "disbursement", "published", "reports", "logs", "exchange", "web"):
        shutil.rmtree(os.path.join(data, owned), ignore_errors=True)
    for f in ("warehouse.duckdb", "warehouse.duckdb.wal"):
        if os.path.exists(os.path.join(data, f)):
            os.remove(os.path.join(data, f))
    new_landing(
        landing
    )  # a new landing folder: the sensors take its deliveries in even if an earlier demo's were equal
    res = synth(SynthConfig(persons=persons, seed=seed, months=months), outbox)
    print(
        f"demo deliveries: {outbox} ({res.counts['persons']:,} persons, {res.counts['records']:,} registry person "
        f"records, months {', '.join(res.months)}), delivered month by month into {landing}"
    )
    warn_development_key(sys.stdout)
    code = 0
    # sensors evaluated back to back (the daemon would wait DTSEN_SENSOR_INTERVAL seconds between ticks)
    with platform_env(DTSEN_LANDING=landing, DTSEN_WAREHOUSE=warehouse, DTSEN_SENSOR_INTERVAL="0"):
        instance = persistent_instance()
        with Driver(instance) as driver:
            was_on = {s: driver.is_running(s) for s in DEMO_SENSORS}
            for s in DEMO_SENSORS:
                driver.switch_on(s)
            try:
                for i, m in enumerate(res.months):
                    code = _demo_month(driver, instance, outbox, landing, warehouse, disbursement, m, seed)
                    if code:
                        break
                    if i + 1 < len(res.months):
                        _demo_desk(data, landing, res.months[i + 1], seed)
            finally:
                for s, on in was_on.items():
                    if not on:
                        driver.switch_off(s)
    print(
        f"\nresults: warehouse {warehouse}\n"
        f"  schema sources:      dtks_person, regsosek_person, p3ke_person, usulan_person, regsosek_family, "
        f"usulan_family, objection, susenas, death, asn, "
        f"wage, region, quarantine, ingest_log\n"
        f"  schema dtsen:        person, family, crosswalk, person_id_history, family_id_history, id_ledger, "
        f"linkage_evaluation, snapshot, links\n"
        f"  schema welfare:      family_welfare, pmt_model, targeting_evaluation\n"
        f"  schema marts:        eligibility_pkh, eligibility_sembako, eligibility_pbi, eligibility_pip, exclusions, "
        f"appeal_explanation, program_budget_by_province_desil, targeting_accuracy_by_province\n"
        f"  schema history:      appeal_explanation_history, eligibility_history, exclusions_history, "
        f"programme_changes, programme_monthly (every month built)\n"
        f"  schema disbursement: payment_row, reconciliation, absorption, dormant, review_flag\n"
        f"  payment files:       {disbursement}/<YYYY-MM>/<program>/\n"
        f"  for analysts:        {os.path.join(data, 'published')} (Parquet per snapshot, analytics.duckdb)\n"
        f"  data exchange:       {os.path.join(data, 'exchange')} (registry snapshots; `make serve` answers the DCI "
        f"Social Registry API from them)\n"
        f"  caseworker desk:     {os.path.join(data, 'web', 'cekbansos.sqlite')} (`make web`: Cek Bansos and the "
        f"desk; demo users petugas<regency> / supervisor<regency>, password {desk_password()})\n"
        f"  charts:              {os.path.join(data, 'reports')}\n"
        f"  run logs:            {os.path.join(data, 'logs')} (dbt's own: "
        f"{os.path.join(data, 'dbt', 'warehouse', 'dbt.log')})"
    )
    print(
        f"Dagster run history: {os.environ.get('DAGSTER_HOME', '(temporary)')} - `make ui` to browse it "
        f"(the runs are under Jobs; the sensors' ticks under Automation)"
    )
    return code


def _demo_desk(data: str, landing: str, next_month: str, seed: int) -> None:
    """Citizens' proposals and objections on the month just published, decided at the caseworker desk and exported
    into the next month's landing folder (the landing sensor takes them in with the next month's deliveries)."""
    from dtsen.web import demo as desk

    db = "sqlite:///" + os.path.join(data, "web", "cekbansos.sqlite")
    os.makedirs(os.path.join(data, "web"), mode=0o700, exist_ok=True)
    out = desk.simulate(data, db, landing, next_month, seed)
    print(
        f"\n  -- caseworker desk (regency {out['regency']}): tickets {', '.join(out['tickets'])} decided and "
        f"approved by {' and '.join(out['users'])}; exported {out['usulan']} proposal(s) with "
        f"{out['usulan_members']} member(s) and {out['sanggahan']} objection(s) into "
        f"{os.path.join(landing, '{usulan,sanggahan}', next_month)}"
    )


def _demo_month(
    driver, instance, outbox: str, landing: str, warehouse: str, disbursement: str, m: str, seed: int
) -> int:
    import duckdb

    from dtsen.deliveries import deliver
    from dtsen.disbursement.report import month_report
    from dtsen.synth.rekon import simulate_reconciliation

    logs = os.path.join(os.path.dirname(warehouse), "logs")
    made = deliver(outbox, landing, m)
    print(f"\n-- {m}: delivered {', '.join(made)}")

    def sensor_runs(sensor: str) -> list[MonthRun]:
        out = []
        for run_id in driver.tick(sensor):
            r = instance.get_run_by_id(run_id)
            month = r.tags.get("dagster/partition", m)
            print(f"  {r.job_name} {month}: run {run_id}", flush=True)
            driver.execute(run_id, os.path.join(logs, f"{r.job_name}-{month}.log"), progress=sys.stdout)
            out.append(collect_run(instance, run_id, month))
        return out

    pipeline = sensor_runs("landing_sensor")
    for run in pipeline:
        print_summary(run, warehouse)
    if not pipeline or not all(r.success for r in pipeline):
        print("  the month did not build: stopping", file=sys.stderr)
        return 1
    runs = sensor_runs("disbursement_sensor")
    for r in runs:
        print_problems(r)
    if not runs or not all(r.success for r in runs):
        print("  the month's payment files were not issued: stopping", file=sys.stderr)
        return 1
    files = runs[-1].materialized.get("disbursement/payment_files", {})
    print(
        f"  disbursement/payment_files     {files.get('written', 0)} files written, "
        f"{files.get('unchanged', 0)} unchanged, in {files.get('folder')}"
    )
    written = simulate_reconciliation(disbursement, landing, m, seed)
    rec = sensor_runs("reconciliation_sensor")
    print(
        f"  bank/PT Pos simulator          {len(written)} reconciliation files -> "
        f"{os.path.join(landing, 'rekon', m)}; reconciliation runs: {len(rec)}"
    )
    for r in rec:
        print_problems(r)
    if not all(r.success for r in rec):
        return 1
    con = duckdb.connect(warehouse, read_only=True)
    try:
        print(f"\n  -- disbursement {m}")
        for line in month_report(con, m):
            print(line)
    finally:
        con.close()
    return 0
