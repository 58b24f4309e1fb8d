"""Schedule and sensors with Dagster's test contexts, and the monthly cycle driven by them end to end."""

import shutil
from datetime import UTC, datetime

import dagster as dg

from dtsen.deliveries import scan
from orchestration.definitions import defs
from orchestration.lib.resources import DataResource


def tick(name, landing, cursor=None, instance=None):
    sensor = defs.resolve_sensor_def(name)
    ctx = dg.build_sensor_context(
        instance=instance or dg.DagsterInstance.ephemeral(),
        cursor=cursor,
        definitions=defs,
        resources={"data": DataResource(root=str(landing), landing=str(landing))},
    )
    data = sensor.evaluate_tick(ctx)
    return data.run_requests or [], data.cursor


def test_jobs_schedules_and_sensors_are_defined():
    assert {j.name for j in defs.resolve_all_job_defs()} >= {
        "monthly_pipeline",
        "ingest_job",
        "disbursement_job",
        "reconciliation_job",
        "casework_export_job",
    }
    assert {s.name for s in defs.sensors} == {"landing_sensor", "disbursement_sensor", "reconciliation_sensor"}
    assert all(s.description for s in defs.sensors)
    assert sorted(s.name for s in defs.schedules) == ["casework_export_schedule", "monthly_schedule"]


def test_monthly_schedule_runs_the_month_that_ended():
    sched = defs.resolve_schedule_def("monthly_schedule")
    ctx = dg.build_schedule_context(scheduled_execution_time=datetime(2025, 3, 1, 2, 0, tzinfo=UTC))
    reqs = sched.evaluate_tick(ctx).run_requests
    assert len(reqs) == 1 and reqs[0].partition_key == "2025-02"
    assert defs.resolve_job_def(sched.job_name).name == "monthly_pipeline"
    assert sched.default_status == dg.DefaultScheduleStatus.STOPPED


def test_months_are_partitions_from_the_first_month_to_the_last_that_ended():
    from orchestration.lib.partitions import month_problem, valid_months

    now = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    months = valid_months(now)
    assert months[0] == "2025-01" and months[-1] == "2026-11" and len(months) == 23
    assert month_problem("2025-03", now) is None
    assert "has not ended yet" in month_problem("2026-12", now) and "2025-01 .. 2026-11" in month_problem(
        "2026-12", now
    )
    assert "before the first month 2025-01" in month_problem("2019-12", now)
    assert "not a month" in month_problem("2025-13", now)


def test_descriptions_keep_their_placeholders_and_every_check_has_one():
    """Descriptions are rendered as Markdown: a `<YYYY-MM>` outside backticks would vanish as an HTML tag."""
    import re

    graph = defs.resolve_asset_graph()
    texts = [(k.to_user_string(), graph.get(k).description or "") for k in graph.get_all_asset_keys()]
    texts += [(s.name, s.description or "") for s in [*defs.sensors, *defs.schedules]]
    texts += [(j.name, j.description or "") for j in defs.resolve_all_job_defs()]
    for name, text in texts:
        outside = re.sub(r"`[^`]*`", "", text)
        assert not re.search(r"<[A-Za-z_-]+>", outside), f"{name}: {text}"
    for key in graph.asset_check_keys:
        spec = graph.get_check_spec(key)
        assert spec.description, key.to_user_string()
        assert spec.partitions_def is not None, key.to_user_string()


def test_automation_defaults():
    status = {s.name: s.default_status for s in defs.sensors}
    assert status == {
        "landing_sensor": dg.DefaultSensorStatus.RUNNING,
        "reconciliation_sensor": dg.DefaultSensorStatus.RUNNING,
        "disbursement_sensor": dg.DefaultSensorStatus.STOPPED,
    }


def test_landing_sensor_new_same_and_corrected_delivery(small_landing, tmp_path):
    land = tmp_path / "landing"
    shutil.copytree(small_landing, land, ignore=shutil.ignore_patterns("truth"))
    deliveries = scan(str(land))
    reqs, cursor = tick("landing_sensor", land)
    # one run per month, covering every source delivered for it (the survey and reference go with the latest)
    assert [r.partition_key for r in reqs] == ["2025-01", "2025-02"]
    delivered = {d.name for d in deliveries}
    assert set(",".join(r.tags["dtsen/deliveries"] for r in reqs).split(",")) == delivered
    jan = reqs[0]
    keys = {k.to_user_string() for k in jan.asset_selection}
    assert {"sources/dtks", "sources/regsosek", "sources/p3ke", "sources/asn_list"} <= keys
    # the survey's delivery goes with the latest month's run; every month's run records the sources that have no
    # delivery of their own for it (the survey, the reference, lists not delivered), so each month is built whole
    assert jan.tags["dtsen/deliveries"].count("susenas") == 0 and "susenas" in reqs[1].tags["dtsen/deliveries"]
    assert {"sources/susenas", "sources/region_reference", "sources/usulan"} <= keys
    assert {"dtsen/person", "welfare/family_welfare", "marts/eligibility_pkh", "analytics/published_marts"} <= keys
    # the same files again (even touched): nothing
    again, cursor = tick("landing_sensor", land, cursor)
    assert again == []
    f = land / "asn" / "2025-01" / "asn.csv"
    f.touch()
    assert tick("landing_sensor", land, cursor)[0] == []
    # a corrected file: one new run for that source's month, with a new run key, only that source re-ingested
    f.write_text(f.read_text() + "3201010101900001\n")
    fixed, cursor = tick("landing_sensor", land, cursor)
    assert len(fixed) == 1 and fixed[0].tags["dtsen/deliveries"] == "asn/2025-01"
    assert fixed[0].run_key != jan.run_key and fixed[0].partition_key == "2025-01"
    fixed_keys = {k.to_user_string() for k in fixed[0].asset_selection}
    assert "sources/asn_list" in fixed_keys and "sources/dtks" not in fixed_keys and "marts/exclusions" in fixed_keys
    assert "sources/susenas" in fixed_keys  # no delivery of its own for January: recorded as "the earlier holds"
    # a new month's folder: one run for it
    shutil.copytree(land / "asn" / "2025-01", land / "asn" / "2025-03")
    new, cursor = tick("landing_sensor", land, cursor)
    assert [r.partition_key for r in new] == ["2025-03"]
    # a delivery for a month that has not ended waits (and is requested once the month is a partition)
    future = datetime.now(UTC).strftime("%Y-%m")
    shutil.copytree(land / "asn" / "2025-01", land / "asn" / future)
    waiting, cursor2 = tick("landing_sensor", land, cursor)
    assert waiting == [] and f"asn/{future}" not in __import__("json").loads(cursor2)["seen"]


def test_reconciliation_sensor_new_same_and_corrected(tmp_path):
    folder = tmp_path / "rekon" / "2025-01"
    folder.mkdir(parents=True)
    (folder / "sembako_bri.csv").write_text("disbursement_id,status,amount,status_date\n")
    reqs, cursor = tick("reconciliation_sensor", tmp_path)
    assert len(reqs) == 1 and reqs[0].partition_key == "2025-01" and reqs[0].job_name in (None, "reconciliation_job")
    assert tick("reconciliation_sensor", tmp_path, cursor)[0] == []
    (folder / "sembako_pos.csv").write_text("disbursement_id,status,amount,status_date\n")
    more, _ = tick("reconciliation_sensor", tmp_path, cursor)
    assert len(more) == 1 and more[0].run_key != reqs[0].run_key


def test_disbursement_sensor_pays_the_month_being_released_once_and_never_a_rebuild(tmp_path):
    """The sensor reads the monthly runs' payment previews: it requests the current marts' month while it has no
    payment files, once; never a rebuild of an earlier month (a backfill), never an issued month again (unchanged:
    nothing to do; changed: an operator's approval), never a month superseded by a later one, never a build whose
    checks failed."""
    from assets.disbursement import PAYMENT_FILES, PAYMENT_PREVIEW

    instance = dg.DagsterInstance.ephemeral()

    def preview(month, area="main", fp="10:1000:00000000000000aa"):
        instance.report_runless_asset_event(
            dg.AssetMaterialization(
                asset_key=PAYMENT_PREVIEW, partition=month, metadata={"dtsen/area": area, "fingerprint": fp}
            )
        )

    def issue(month, fp="10:1000:00000000000000aa"):
        instance.report_runless_asset_event(
            dg.AssetMaterialization(asset_key=PAYMENT_FILES, partition=month, metadata={"rows_fingerprint": fp})
        )

    assert tick("disbursement_sensor", tmp_path, instance=instance)[0] == []  # nothing built yet
    preview("2025-01")
    reqs, cursor = tick("disbursement_sensor", tmp_path, instance=instance)
    assert [r.partition_key for r in reqs] == ["2025-01"]
    assert tick("disbursement_sensor", tmp_path, cursor, instance)[0] == []  # once per preview
    issue("2025-01")
    preview("2025-02")
    reqs, cursor = tick("disbursement_sensor", tmp_path, cursor, instance)
    assert [r.partition_key for r in reqs] == ["2025-02"]
    issue("2025-02")
    preview("2025-01", area="rebuild")  # a backfill of January, as history
    assert tick("disbursement_sensor", tmp_path, cursor, instance)[0] == []
    preview("2025-02")  # February rebuilt with the same rows: issued, nothing to do
    reqs, cursor = tick("disbursement_sensor", tmp_path, cursor, instance)
    assert reqs == []
    preview("2025-02", fp="11:1200:00000000000000bb")  # changed rows of an issued month: an operator approves
    reqs, cursor = tick("disbursement_sensor", tmp_path, cursor, instance)
    assert reqs == []
    preview("2025-03")  # the sensor was off for two months: only the month being released
    preview("2025-04")
    reqs, cursor = tick("disbursement_sensor", tmp_path, cursor, instance)
    assert [r.partition_key for r in reqs] == ["2025-04"]
    preview("2025-01")  # a later "main" preview of an earlier month cannot happen, and would not pay either
    assert tick("disbursement_sensor", tmp_path, cursor, instance)[0] == []
    instance.report_runless_asset_event(
        dg.AssetCheckEvaluation(asset_key=PAYMENT_PREVIEW, check_name="assert_quota_respected", passed=False)
    )
    preview("2025-05")  # its build's rule test failed: the sensor waits
    assert tick("disbursement_sensor", tmp_path, cursor, instance)[0] == []


def test_a_new_landing_folder_with_the_same_bytes_is_taken_in_again(small_landing, tmp_path):
    """`make run` twice: the demo empties data/ and delivers the same bytes into a new landing folder, on the same
    Dagster instance. The sensor's cursor and run keys belong to the landing folder, so the second landing is
    processed (with run keys Dagster has not seen), while the same landing re-scanned requests nothing."""
    from dtsen.deliveries import landing_id, new_landing

    land = tmp_path / "landing"
    first = new_landing(str(land))
    shutil.copytree(small_landing, land, ignore=shutil.ignore_patterns("truth"), dirs_exist_ok=True)
    reqs, cursor = tick("landing_sensor", land)
    assert [r.partition_key for r in reqs] == ["2025-01", "2025-02"]
    assert all(r.run_key.startswith(f"{first}:") for r in reqs)
    assert tick("landing_sensor", land, cursor)[0] == []
    shutil.rmtree(land)  # the clean slate
    second = new_landing(str(land))
    shutil.copytree(small_landing, land, ignore=shutil.ignore_patterns("truth"), dirs_exist_ok=True)
    assert landing_id(str(land)) == second != first
    again, cursor = tick("landing_sensor", land, cursor)
    assert [r.partition_key for r in again] == ["2025-01", "2025-02"]
    assert {r.run_key for r in again}.isdisjoint({r.run_key for r in reqs})
    assert [r.tags["dtsen/fingerprint"] for r in again] == [r.tags["dtsen/fingerprint"] for r in reqs]
    assert tick("landing_sensor", land, cursor)[0] == []
