"""The monthly cycle on a Dagster instance backed by PostgreSQL (deploy/dagster.yaml), as a production deployment
runs it: a throw-away PostgreSQL server on loopback (its own data folder, stopped afterwards); the month's
pipeline requested by `monthly_schedule` through the scheduler daemon's own tick code (on a simulated clock: the
tick of 1 February 02:00 that builds January), the payment files by the disbursement sensor and the banks' files
by the reconciliation sensor through the sensor daemon's tick code; the runs executed; then the runs, ticks,
schedule and sensor states and the events found in PostgreSQL, and no SQLite storage beside it."""

from __future__ import annotations

import logging
import os
import shutil
from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest

from tests.conftest import REPO
from tests.postgres import server_binaries, throwaway_postgres

pytestmark = pytest.mark.skipif(
    server_binaries() is None,
    reason="no PostgreSQL server installed (/usr/lib/postgresql/*/bin): the Debian package postgresql provides it",
)

MONTH = "2025-01"
TICK = datetime(2025, 2, 1, 2, 0, tzinfo=UTC)  # monthly_schedule: the 1st at 02:00 builds the month before


def tick_schedule(driver, name: str, at: datetime) -> list[str]:
    """Switch the schedule on before `at` and let the scheduler daemon's iteration run up to `at`, with Dagster's
    clock set to those times; returns the ids of the runs the tick submitted."""
    from dagster._core.scheduler.instigation import InstigatorType
    from dagster._core.test_utils import freeze_time
    from dagster._scheduler.scheduler import launch_scheduled_runs_for_schedule_iterator
    from dagster._utils.error import SerializableErrorInfo

    schedule = driver.repository().get_schedule(name)
    instance = driver.instance
    with freeze_time(at - timedelta(hours=1)):
        instance.start_schedule(schedule)
    with freeze_time(at + timedelta(seconds=30)):
        state = instance.get_instigator_state(schedule.get_remote_origin_id(), schedule.selector_id)
        errors = [
            e
            for e in launch_scheduled_runs_for_schedule_iterator(
                driver._ctx,
                logging.getLogger("test.scheduler"),
                schedule,
                state,
                at + timedelta(seconds=30),
                max_catchup_runs=1,
                max_tick_retries=0,
                tick_retention_settings=instance.get_tick_retention_settings(InstigatorType.SCHEDULE),
                schedule_debug_crash_flags=None,
                submit_threadpool_executor=None,
                in_memory_last_iteration_timestamp=None,
            )
            if isinstance(e, SerializableErrorInfo)
        ]
    assert not errors, errors[0].to_string()
    ticks = instance.get_ticks(schedule.get_remote_origin_id(), schedule.selector_id, limit=1)
    assert ticks and ticks[0].status.value == "SUCCESS", ticks
    return list(ticks[0].run_ids)


def test_one_month_on_a_postgres_backed_instance(tmp_path, monkeypatch):
    from dtsen.synth import SynthConfig, synth
    from dtsen.synth.rekon import simulate_reconciliation
    from orchestration.operate.driver import Driver

    home, data = tmp_path / "dagster_home", tmp_path / "data"
    home.mkdir()
    shutil.copy(REPO / "deploy" / "dagster.yaml", home / "dagster.yaml")
    landing = data / "landing"
    synth(SynthConfig(persons=400, seed=3, months=1), str(landing))
    for k in [k for k in os.environ if k.startswith("DTSEN_")]:
        monkeypatch.delenv(k)
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("DTSEN_DATA", str(data))
    monkeypatch.setenv("DTSEN_DEMO", "1")
    monkeypatch.setenv("DTSEN_SENSOR_INTERVAL", "0")
    with throwaway_postgres() as pg:
        for k, v in pg.env().items():
            monkeypatch.setenv(k, v)
        instance = dg.DagsterInstance.get()
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        with Driver(instance) as driver:
            scheduled = tick_schedule(driver, "monthly_schedule", TICK)
            assert len(scheduled) == 1
            assert instance.get_run_by_id(scheduled[0]).tags["dagster/partition"] == MONTH
            assert driver.execute(scheduled[0]).status == dg.DagsterRunStatus.SUCCESS
            for sensor in ("disbursement_sensor", "reconciliation_sensor"):
                driver.switch_on(sensor)
            paid = driver.tick("disbursement_sensor")
            assert len(paid) == 1 and driver.execute(paid[0]).status == dg.DagsterRunStatus.SUCCESS
            assert simulate_reconciliation(str(data / "disbursement"), str(landing), MONTH, 3)
            reconciled = driver.tick("reconciliation_sensor")
            assert len(reconciled) == 1 and driver.execute(reconciled[0]).status == dg.DagsterRunStatus.SUCCESS
        instance.dispose()
        con = pg.connect()
        try:
            cur = con.cursor()
            cur.execute("SELECT pipeline_name, status FROM runs ORDER BY create_timestamp")
            runs = cur.fetchall()
            cur.execute("SELECT count(*) FROM job_ticks WHERE status = 'SUCCESS'")
            ticks = cur.fetchone()[0]
            cur.execute("SELECT count(*) FROM event_logs WHERE dagster_event_type = 'ASSET_MATERIALIZATION'")
            materialisations = cur.fetchone()[0]
            cur.execute("SELECT instigator_type, status FROM instigators")
            instigators = cur.fetchall()
        finally:
            con.close()
    assert runs == [
        ("monthly_pipeline", "SUCCESS"),
        ("disbursement_job", "SUCCESS"),
        ("reconciliation_job", "SUCCESS"),
    ], runs
    assert ticks >= 3  # the schedule's tick and the sensors' ticks
    assert ("SCHEDULE", "RUNNING") in instigators and ("SENSOR", "RUNNING") in instigators, instigators
    assert materialisations > 20
    assert not list(home.glob("**/*.db")), "an SQLite storage was created beside the PostgreSQL one"
