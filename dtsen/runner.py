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
    """The persistent instance under DAGSTER_HOME when set (runs show in the UI), else an ephemeral one."""
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


def execute(defs: dg.Definitions, job_name: str, month: str, warehouse: str | None,
            instance: dg.DagsterInstance | None = None, run_config: dict | None = None,
            asset_selection: list[dg.AssetKey] | None = None, tags: dict | None = None) -> MonthRun:
    """Run one job for one month partition in-process and collect materialisations, check results and errors."""
    job = defs.resolve_job_def(job_name)
    # dbt's own log (which dagster-dbt re-emits on stdout) goes to a file beside the warehouse, not the console
    log_dir = os.path.join(os.path.dirname(os.path.abspath(wh.warehouse_path(warehouse))), "logs")
    os.makedirs(log_dir, exist_ok=True)
    with open(os.path.join(log_dir, f"{job_name}-{month}.log"), "w") as log, contextlib.redirect_stdout(log):
        result = job.execute_in_process(partition_key=month, instance=instance or instance_for_run(),
                                        raise_on_error=False, run_config={**QUIET, **(run_config or {})},
                                        asset_selection=asset_selection, tags=tags)
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


def materialize_month(landing: str, month: str, warehouse: str | None = None,
                      instance: dg.DagsterInstance | None = None, job_name: str = "monthly_pipeline",
                      run_config: dict | None = None) -> MonthRun:
    return execute(_definitions(landing, warehouse), job_name, month, warehouse, instance, run_config)


def tick(defs: dg.Definitions, sensor_name: str, instance: dg.DagsterInstance, cursors: dict[str, str | None],
         warehouse: str | None) -> list[MonthRun]:
    """One evaluation of a sensor, as the daemon would do it, with its run requests executed in-process.
    cursors: sensor name -> cursor, kept by the caller between ticks."""
    sensor = defs.resolve_sensor_def(sensor_name)
    ctx = dg.build_sensor_context(instance=instance, cursor=cursors.get(sensor_name), definitions=defs,
                                  resources=dict(defs.resources or {}))
    data = sensor.evaluate_tick(ctx)
    cursors[sensor_name] = data.cursor
    runs = []
    for req in data.run_requests or []:
        runs.append(execute(defs, req.job_name or sensor.job_name, req.partition_key, warehouse, instance,
                            asset_selection=req.asset_selection, tags=req.tags))
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
            print(f"  {key:28s} {meta.get('persons', 0):,} persons from {meta.get('records', 0):,} records "
                  f"(largest cluster {meta.get('largest_cluster')}; id events {meta.get('id_events')})", file=out)
            continue
        if key == "dtsen/family":
            print(f"  {key:28s} {meta.get('families', 0):,} families", file=out)
            continue
        if key in ("dtsen/crosswalk", "welfare/targeting_evaluation") or key.split("/")[0] in DBT_GROUP_KEYS:
            continue
        if key == "welfare/family_welfare":
            errs = (f"; bottom-40% exclusion error {meta['exclusion_error']:.1%}, inclusion error "
                    f"{meta['inclusion_error']:.1%}" if "exclusion_error" in meta else "")
            print(f"  {key:28s} {meta.get('families', 0):,} families ranked; PMT R^2 out of sample "
                  f"{meta.get('r2_out_of_sample', float('nan')):.3f} on {meta.get('survey_families', 0):,} survey "
                  f"families{errs}", file=out)
            continue
        if key == "analytics/published_marts":
            print(f"  {key:28s} {meta.get('folder')}", file=out)
            continue
        if key == "analytics/program_report":
            print(f"  {key:28s} rules {meta.get('rule_version')}", file=out)
            for program, v in (meta.get("program_summary") or {}).items():
                print(f"      {program:8s} eligible {v['eligible']:>8,}  recipients {v['recipients']:>8,}  "
                      f"cut by quota {v['cut_by_quota']:>7,}  annual budget Rp {v['annual_budget']:>16,}", file=out)
            continue
        if key == "dtsen/linkage_evaluation":
            if meta.get("evaluated"):
                line = ", ".join(f"{m} {meta[m + '_f1']:.4f}" for m in ("dtsen_model", "generic_splink", "nik_only")
                                 if m + "_f1" in meta)
                print(f"  {key:28s} pairwise F1: {line}", file=out)
            else:
                print(f"  {key:28s} {meta.get('note', '')}", file=out)
            continue
        if meta.get("delivered") is False:
            print(f"  {key:28s} no delivery: {meta.get('note', '')}", file=out)
        else:
            nik = f", NIK valid {meta['nik_valid_rate']:.1%}" if "nik_valid_rate" in meta else ""
            print(f"  {key:28s} read {meta.get('rows_read', 0):>9,}  accepted {meta.get('rows_accepted', 0):>9,}  "
                  f"quarantined {meta.get('rows_quarantined', 0):>6,}{nik}", file=out)
    print_problems(run, out)
    print(f"  warehouse: {os.path.abspath(wh.warehouse_path(warehouse))}", file=out)


def run_month(landing: str, month: str, warehouse: str | None = None) -> int:
    if not os.path.isdir(landing):
        print(f"error: landing folder {landing} does not exist", file=sys.stderr)
        return 2
    run = materialize_month(landing, month, warehouse)
    print_summary(run, warehouse, out=sys.stdout if run.success else sys.stderr)
    return 0 if run.success else 1


def demo(persons: int, seed: int, months: int, data: str) -> int:
    """The monthly cycle end to end through Dagster: for each month the pipeline, then the disbursement sensor's
    run (lists + files), then the bank/PT Pos simulator's reconciliation files and the reconciliation sensor's run;
    next month's lists route the non-collectors to PT Pos."""
    import duckdb

    from dtsen.disbursement.report import month_report
    from dtsen.synth import SynthConfig, synth
    from dtsen.synth.rekon import simulate_reconciliation

    landing = os.path.join(data, "landing")
    warehouse = os.path.join(data, "warehouse.duckdb")
    disbursement = os.path.join(data, "disbursement")
    # the demo starts from a clean slate: it removes what an earlier demo wrote under `data` (and nothing else)
    for owned in ("landing", "disbursement", "published", "reports", "logs"):
        shutil.rmtree(os.path.join(data, owned), ignore_errors=True)
    for f in ("warehouse.duckdb", "warehouse.duckdb.wal"):
        if os.path.exists(os.path.join(data, f)):
            os.remove(os.path.join(data, f))
    res = synth(SynthConfig(persons=persons, seed=seed, months=months), landing)
    print(f"demo deliveries: {os.path.abspath(landing)} ({res.counts['persons']:,} persons, "
          f"{res.counts['records']:,} registry person records, months {', '.join(res.months)})")
    defs = _definitions(landing, warehouse)
    instance = instance_for_run()
    cursors: dict[str, str | None] = {}
    code = 0
    for m in res.months:
        run = execute(defs, "monthly_pipeline", m, warehouse, instance)
        print_summary(run, warehouse)
        runs = tick(defs, "disbursement_sensor", instance, cursors, warehouse)
        for r in runs:
            print_problems(r)
        if not run.success or not runs or not all(r.success for r in runs):
            print("  the month did not complete: stopping", file=sys.stderr)
            code = 1
            break
        files = runs[-1].materialized.get("disbursement/payment_files", {})
        print(f"  disbursement/payment_files     {files.get('written', 0)} files written, "
              f"{files.get('unchanged', 0)} unchanged, in {files.get('folder')}")
        written = simulate_reconciliation(disbursement, landing, m, seed)
        rec = tick(defs, "reconciliation_sensor", instance, cursors, warehouse)
        if not all(r.success for r in rec):
            code = 1
        print(f"  bank/PT Pos simulator          {len(written)} reconciliation files -> "
              f"{os.path.abspath(os.path.join(landing, 'rekon', m))}; reconciliation runs: {len(rec)}")
        con = duckdb.connect(warehouse, read_only=True)
        try:
            print(f"\n  -- disbursement {m}")
            for line in month_report(con, m):
                print(line)
        finally:
            con.close()
    print(f"\nresults: warehouse {os.path.abspath(warehouse)}\n"
          f"  schema sources:      dtks_person, regsosek_person, p3ke_person, regsosek_family, susenas, death, asn, "
          f"wage, region, quarantine, ingest_log\n"
          f"  schema dtsen:        person, family, crosswalk, person_id_history, family_id_history, "
          f"linkage_evaluation, snapshot, links\n"
          f"  schema welfare:      family_welfare, pmt_model, targeting_evaluation\n"
          f"  schema marts:        eligibility_pkh, eligibility_sembako, eligibility_pbi, eligibility_pip, exclusions, "
          f"appeal_explanation, program_budget_by_province_desil, targeting_accuracy_by_province\n"
          f"  schema disbursement: payment_row, reconciliation, absorption, dormant, review_flag\n"
          f"  payment files:       {os.path.abspath(disbursement)}/<YYYY-MM>/<program>/\n"
          f"  for analysts:        {os.path.abspath(os.path.join(data, 'published'))} (Parquet per snapshot, "
          f"analytics.duckdb)\n"
          f"  charts:              {os.path.abspath(os.path.join(data, 'reports'))}")
    print(f"Dagster run history: {os.environ.get('DAGSTER_HOME', '(ephemeral)')} - `make ui` to browse it")
    return code
