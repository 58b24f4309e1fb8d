"""Run the platform for one month through Dagster (`dtsen run`, `dtsen demo` and so `make run`, the tests and the
benches): on the code location as the daemon would (`Driver`), or in-process on the definitions (`materialize_month`)."""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
from dataclasses import dataclass, field

import dagster as dg

from dtsen.layout import DataLayout
from orchestration.lib.partitions import month_problem
from orchestration.operate.driver import Driver, run_problems


@dataclass
class MonthRun:
    month: str
    success: bool
    errors: list[str] = field(default_factory=list)
    materialized: dict[str, dict] = field(default_factory=dict)  # asset path -> metadata (plain values)
    failed_checks: list[str] = field(default_factory=list)


# dbt assets (seeds, staging, intermediate, marts, restricted, history) are summarised by analytics/program_report
DBT_GROUP_KEYS = ("rules", "staging", "intermediate", "marts", "restricted", "history")

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


def _definitions(layout: DataLayout):
    from orchestration.definitions import build_definitions
    from orchestration.lib.resources import default_resources

    return build_definitions(default_resources(data=layout.root, landing=layout.landing, warehouse=layout.warehouse))


def execute(
    defs: dg.Definitions,
    job_name: str,
    month: str,
    layout: DataLayout,
    instance: dg.DagsterInstance | None = None,
    run_config: dict | None = None,
    asset_selection: list[dg.AssetKey] | None = None,
    tags: dict | None = None,
) -> MonthRun:
    """Run one job for one month partition in-process and collect materialisations, check results and errors."""
    job = defs.resolve_job_def(job_name)
    # dbt's own log (which dagster-dbt re-emits on stdout) goes to the data root's logs/, not the console
    os.makedirs(layout.logs, exist_ok=True)
    with open(layout.log_file(job_name, month), "w") as log, contextlib.redirect_stdout(log):
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
    data: str,
    instance: dg.DagsterInstance | None = None,
    job_name: str = "monthly_pipeline",
    run_config: dict | None = None,
) -> MonthRun:
    """One job of one month, executed in-process on the definitions, over the landing folder and into the data root
    `data` (its warehouse and every output)."""
    layout = DataLayout.resolve(data, landing=landing, env={})
    return execute(_definitions(layout), job_name, month, layout, instance, run_config)


def tick(
    defs: dg.Definitions,
    sensor_name: str,
    instance: dg.DagsterInstance,
    cursors: dict[str, str | None],
    layout: DataLayout,
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
                layout,
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


def print_summary(run: MonthRun, layout: DataLayout, out=sys.stdout) -> None:
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
        if key == "disbursement/payment_preview":
            area = "" if meta.get("dtsen/area") in (None, "main") else f" (rebuilt as history: {meta['dtsen/area']})"
            print(
                f"  {key:28s} would pay {meta.get('rows', 0):,} rows, Rp {meta.get('total_amount', 0):,} "
                f"({meta.get('due_programs', '')}){area}",
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
            for path, why in (meta.get("refused") or {}).items():
                print(f"  {'':28s} REFUSED {path}: {why}", file=out)
            if meta.get("held"):
                print(f"  {'':28s} HELD {meta['held']}", file=out)
    print_problems(run, out)
    print(f"  warehouse: {layout.warehouse}", file=out)


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


def layout_env(layout: DataLayout, **more: str | None):
    """The settings that hand this layout to the code location this process drives (its code server inherits
    them)."""
    return platform_env(DTSEN_DATA=layout.root, DTSEN_WAREHOUSE=layout.warehouse, DTSEN_LANDING=layout.landing, **more)


def run_month(
    landing: str, month: str, data: str | None = None, warehouse: str | None = None, engine: str = "duckdb"
) -> int:
    """`dtsen run`: one run of monthly_pipeline for the month, launched on the code location as the launchpad
    would, executed in this process (the linkage scored on `engine`)."""
    problem = month_problem(month)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    if not os.path.isdir(landing):
        print(f"error: landing folder {landing} does not exist", file=sys.stderr)
        return 2
    layout = DataLayout.resolve(data, warehouse=warehouse, landing=landing)
    check_secrets()
    log_file = layout.log_file("monthly_pipeline", month)
    with layout_env(layout):
        instance = persistent_instance()
        with Driver(instance) as driver:
            run_id = driver.launch(
                "monthly_pipeline", month, tags={"dtsen/launched_by": "dtsen run"}, run_config=engine_run_config(engine)
            )
            print(f"monthly_pipeline {month}: run {run_id} (steps as they run; the full log in {log_file})", flush=True)
            driver.execute(run_id, log_file, progress=sys.stdout)
            run = collect_run(instance, run_id, month)
    print_summary(run, layout, out=sys.stdout if run.success else sys.stderr)
    return 0 if run.success else 1


def check_secrets(out=sys.stderr) -> None:
    """Before a run starts: the pipeline's secrets (credentials.SecretError outside demo mode when one is missing),
    and in demo mode a notice of the development values in use."""
    from dtsen import credentials, privacy

    for note in credentials.require(privacy.PSEUDONYM_KEY):
        print(f"WARNING: {credentials.DEMO_NOTICE}: {note}", file=out)


DEMO_SENSORS = ("landing_sensor", "disbursement_sensor", "reconciliation_sensor")


def desk_password() -> str:
    from dtsen.web.demo import DEMO_PASSWORD

    return DEMO_PASSWORD


def demo(persons: int, seed: int, months: int, data: str) -> int:
    """The monthly cycle end to end on the code location, as the daemon would drive it: each month's deliveries
    arrive in the landing folder, the landing sensor requests the month's pipeline, the disbursement sensor the
    payment files, the bank/PT Pos simulator answers with reconciliation files and the reconciliation sensor takes
    them in; next month's lists route the non-collectors to PT Pos."""
    from dtsen import credentials
    from dtsen.deliveries import new_landing
    from dtsen.synth import SynthConfig, synth

    os.environ[credentials.DEMO_ENV] = "1"  # the demo is a demo: synthetic data, the development keys allowed
    layout = DataLayout.resolve(data, env={})  # the demo's own data root: nothing of it is moved by a setting
    # the demo starts from a clean slate: it removes what an earlier demo wrote under its root (and nothing else)
    for owned in (layout.outbox, layout.landing, layout.disbursement, layout.published, layout.reports, layout.logs,
                  layout.exchange, layout.web):  # fmt: skip
        shutil.rmtree(owned, ignore_errors=True)
    for f in (layout.warehouse, layout.warehouse + ".wal"):
        if os.path.exists(f):
            os.remove(f)
    # a new landing folder: the sensors take its deliveries in even if an earlier demo's were equal
    new_landing(layout.landing)
    res = synth(SynthConfig(persons=persons, seed=seed, months=months), layout.outbox)
    print(
        f"demo deliveries: {layout.outbox} ({res.counts['persons']:,} persons, {res.counts['records']:,} registry "
        f"person records, months {', '.join(res.months)}), delivered month by month into {layout.landing}"
    )
    check_secrets(sys.stdout)
    code = 0
    # sensors evaluated back to back (the daemon would wait DTSEN_SENSOR_INTERVAL seconds between ticks)
    with layout_env(layout, DTSEN_SENSOR_INTERVAL="0", DTSEN_API_STATE=layout.api_state, DTSEN_WEB_DB=layout.web_db):
        instance = persistent_instance()
        with Driver(instance) as driver:
            was_on = {s: driver.is_running(s) for s in DEMO_SENSORS}
            for s in DEMO_SENSORS:
                driver.switch_on(s)
            try:
                for i, m in enumerate(res.months):
                    code = _demo_month(driver, instance, layout, m, seed)
                    if code:
                        break
                    if i + 1 < len(res.months):
                        _demo_desk(layout, res.months[i + 1], seed)
            finally:
                for s, on in was_on.items():
                    if not on:
                        driver.switch_off(s)
    print(
        f"\nresults: warehouse {layout.warehouse}\n"
        f"  schema sources:      dtks_person, regsosek_person, p3ke_person, usulan_person, regsosek_family, "
        f"usulan_family, objection, susenas, death, asn, wage, region, quarantine, ingest_log\n"
        f"  schema dtsen:        person, family, crosswalk, person_id_history, family_id_history, id_ledger, "
        f"linkage_evaluation, snapshot, links\n"
        f"  schema welfare:      family_welfare, pmt_model, targeting_evaluation\n"
        f"  schema marts:        eligibility_pkh, eligibility_sembako, eligibility_pbi, eligibility_pip, exclusions, "
        f"appeal_explanation, program_budget_by_province_desil, targeting_accuracy_by_province\n"
        f"  schema history:      appeal_explanation_history, eligibility_history, exclusions_history, "
        f"programme_changes, programme_monthly (every month built)\n"
        f"  schema disbursement: payment_row, reconciliation, absorption, dormant, review_flag\n"
        f"  payment files:       {layout.disbursement}/<YYYY-MM>/<program>/\n"
        f"  for analysts:        {layout.published} (Parquet per snapshot, analytics.duckdb)\n"
        f"  data exchange:       {layout.exchange} (registry snapshots; `make serve` answers the DCI "
        f"Social Registry API from them)\n"
        f"  caseworker desk:     {layout.web_db.removeprefix('sqlite:///')} (`make web`: Cek Bansos and the "
        f"desk; demo users petugas<regency> / supervisor<regency>, password {desk_password()})\n"
        f"  charts:              {layout.reports}\n"
        f"  run logs:            {layout.logs} (dbt's own: {os.path.join(layout.dbt_target, 'dbt.log')})"
    )
    print(
        f"Dagster run history: {os.environ.get('DAGSTER_HOME', '(temporary)')} - `make ui` to browse it "
        f"(the runs are under Jobs; the sensors' ticks under Automation)"
    )
    return code


def _demo_desk(layout: DataLayout, next_month: str, seed: int) -> None:
    """Citizens' proposals and objections on the month just published, decided at the caseworker desk and exported
    into the next month's landing folder (the landing sensor takes them in with the next month's deliveries)."""
    from dtsen.web import demo as desk

    os.makedirs(layout.web, mode=0o700, exist_ok=True)
    out = desk.simulate(layout, next_month, seed)
    print(
        f"\n  -- caseworker desk (regency {out['regency']}): tickets {', '.join(out['tickets'])} decided and "
        f"approved by {' and '.join(out['users'])}; exported {out['usulan']} proposal(s) with "
        f"{out['usulan_members']} member(s) and {out['sanggahan']} objection(s) into "
        f"{os.path.join(layout.landing, '{usulan,sanggahan}', next_month)}"
    )


def _demo_month(driver: Driver, instance: dg.DagsterInstance, layout: DataLayout, m: str, seed: int) -> int:
    import duckdb

    from dtsen.deliveries import deliver
    from dtsen.disbursement.report import month_report
    from dtsen.synth.rekon import simulate_reconciliation

    made = deliver(layout.outbox, layout.landing, m)
    print(f"\n-- {m}: delivered {', '.join(made)}")

    def sensor_runs(sensor: str) -> list[MonthRun]:
        out = []
        for run_id in driver.tick(sensor):
            r = instance.get_run_by_id(run_id)
            month = r.tags.get("dagster/partition", m)
            print(f"  {r.job_name} {month}: run {run_id}", flush=True)
            driver.execute(run_id, layout.log_file(r.job_name, month), progress=sys.stdout)
            out.append(collect_run(instance, run_id, month))
        return out

    pipeline = sensor_runs("landing_sensor")
    for run in pipeline:
        print_summary(run, layout)
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
    written = simulate_reconciliation(layout.disbursement, layout.landing, m, seed)
    rec = sensor_runs("reconciliation_sensor")
    print(
        f"  bank/PT Pos simulator          {len(written)} reconciliation files -> "
        f"{os.path.join(layout.landing, 'rekon', m)}; reconciliation runs: {len(rec)}"
    )
    for r in rec:
        print_problems(r)
    if not all(r.success for r in rec):
        return 1
    con = duckdb.connect(layout.warehouse, read_only=True)
    try:
        print(f"\n  -- disbursement {m}")
        for line in month_report(con, m):
            print(line)
    finally:
        con.close()
    return 0
