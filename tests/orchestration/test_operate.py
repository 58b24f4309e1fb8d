"""Operating the platform as README says, as a platform team would: `make run`'s demo on the code location, the
sensors switched on afterwards, earlier months re-run, and the UI opened from the clone.

The demo runs once per test session (1,000 persons, three months; the `demo` fixture of conftest, shared with
the data-exchange API's tests) in a subprocess with its own Dagster home.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from dagster._core.storage.dagster_run import RunsFilter

from tests.conftest import _env
from tests.conftest import cli as _cli

REPO = Path(__file__).resolve().parents[2]
MONTHS = ["2025-01", "2025-02", "2025-03"]
REPO_LABEL = "__repository__@dtsen"


@pytest.fixture()
def driver(demo, monkeypatch):
    """The demo's instance and code location, as `make ui` would load them (sensors ticked back to back)."""
    from orchestration.operate.driver import Driver

    home, data, _ = demo
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("DTSEN_DATA", str(data))
    monkeypatch.setenv("DTSEN_SENSOR_INTERVAL", "0")
    instance = dg.DagsterInstance.get()
    with Driver(instance) as d:
        yield d


def _crosswalk(data: Path, month: str) -> list[tuple]:
    con = duckdb.connect(str(data / "warehouse.duckdb"), read_only=True)
    try:
        return con.execute(
            """SELECT source, record_id, person_id, family_id FROM dtsen.crosswalk
                              WHERE snapshot = ? ORDER BY ALL""",
            [month],
        ).fetchall()
    finally:
        con.close()


def _payment_rows(data: Path, month: str) -> list[tuple]:
    con = duckdb.connect(str(data / "warehouse.duckdb"), read_only=True)
    try:
        return con.execute(
            """SELECT disbursement_id, channel, routing_reason, amount FROM disbursement.payment_row
                              WHERE period = ? ORDER BY ALL""",
            [month],
        ).fetchall()
    finally:
        con.close()


def _history(data: Path, month: str) -> list[tuple]:
    con = duckdb.connect(str(data / "warehouse.duckdb"), read_only=True)
    try:
        return con.execute(
            "SELECT * FROM history.appeal_explanation_history WHERE snapshot = ? ORDER BY family_id, program", [month]
        ).fetchall()
    finally:
        con.close()


def _files(data: Path) -> dict[str, str]:
    root = data / "disbursement"
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*.csv"))}


def _catalogue_month(data: Path) -> str:
    from dtsen.publish import open_catalogue

    con = open_catalogue(str(data / "published"))
    try:
        return con.execute("SELECT snapshot FROM published").fetchall()[0][0]
    finally:
        con.close()


def _marts_month(data: Path) -> tuple[str, str | None]:
    """(the month the current marts hold, the month the rebuild area holds)."""
    con = duckdb.connect(str(data / "warehouse.duckdb"), read_only=True)
    try:
        current = con.execute("SELECT DISTINCT snapshot FROM marts.eligibility_pkh").fetchall()
        rebuild = con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'rebuild_marts' AND table_name = 'eligibility_pkh'"
        ).fetchall()[0][0]
        rebuilt = (
            con.execute("SELECT DISTINCT snapshot FROM rebuild_marts.eligibility_pkh").fetchall() if rebuild else []
        )
    finally:
        con.close()
    assert len(current) == 1 and len(rebuilt) <= 1
    return current[0][0], rebuilt[0][0] if rebuilt else None


def test_demo_runs_are_runs_of_the_code_location_with_sensor_run_keys(demo, driver):
    instance = driver.instance
    for job in ("monthly_pipeline", "disbursement_job", "reconciliation_job"):
        runs = instance.get_runs(filters=RunsFilter(job_name=job, tags={".dagster/repository": REPO_LABEL}))
        assert sorted(r.tags["dagster/partition"] for r in runs) == MONTHS, job
        assert all(r.status == dg.DagsterRunStatus.SUCCESS for r in runs)
        assert all(r.remote_job_origin.location_name == "dtsen" for r in runs)
        assert all(r.tags.get("dagster/run_key") and r.tags.get("dagster/sensor_name") for r in runs)
    for name in ("landing_sensor", "disbursement_sensor", "reconciliation_sensor"):
        sensor = driver.sensor(name)
        ticks = instance.get_ticks(sensor.get_remote_origin_id(), sensor.selector_id)
        assert len(ticks) >= 3, f"{name} has no ticks in the UI"
    # what starts on and what stays off (README): the demo left the disbursement sensor as it found it
    assert driver.is_running("landing_sensor") and driver.is_running("reconciliation_sensor")
    assert not driver.is_running("disbursement_sensor")


def test_switching_the_sensors_on_after_the_demo_requests_nothing(demo, driver):
    for name in ("landing_sensor", "disbursement_sensor", "reconciliation_sensor"):
        driver.switch_on(name)
        assert driver.tick(name) == [], f"{name} requested runs for work already done"
    assert driver.queued() == []


def test_february_routes_januarys_non_collectors_to_pt_pos(demo):
    """The demo's cycle: January's payment files, the bank/PT Pos reconciliation files taken in by the sensor, and
    February's lists send exactly the families that collected nothing at a bank in January to PT Pos."""
    _, data, _ = demo
    con = duckdb.connect(str(data / "warehouse.duckdb"), read_only=True)
    try:
        rows = con.execute("SELECT * FROM disbursement.payment_row WHERE period = '2025-02'").df()
        missed = set(
            con.execute("""SELECT p.family_id FROM disbursement.payment_row p
            JOIN disbursement.reconciliation r USING (disbursement_id)
            WHERE p.period = '2025-01' AND p.channel IN ('BRI','BNI','MANDIRI','BTN','BSI')
            GROUP BY p.family_id HAVING NOT bool_or(r.status = 'DIAMBIL')""").df()["family_id"]
        )
    finally:
        con.close()
    assert set(rows["program"]) == {"PBI", "SEMBAKO"}  # no PKH tranche in February
    moved = rows[rows["routing_reason"].str.contains("previous_not_collected")]
    assert len(moved) > 0 and (moved["channel"] == "POS").all()
    assert set(moved["family_id"]) == missed & set(rows["family_id"])
    files = sorted(p.name for p in (data / "disbursement" / "2025-02").rglob("*.csv"))
    assert "sembako_pos.v1.csv" in files and not any(f.startswith("pkh_") for f in files)


def _steps(instance: dg.DagsterInstance, run_id: str, event: str) -> set[str]:
    return {
        e.dagster_event.step_key
        for e in instance.all_logs(run_id)
        if e.dagster_event is not None and e.dagster_event.event_type_value == event
    }


def _rerun_disbursement(driver, data: Path, month: str, rows_before, files_before) -> None:
    """After a rebuilt month whose files were issued: the disbursement sensor requests nothing (a rebuild of an earlier
    month never pays; an issued month with the same rows needs nothing); disbursement_job launched by hand gives the
    same payment rows and writes no file."""
    driver.switch_on("disbursement_sensor")
    assert driver.tick("disbursement_sensor") == [], f"{month}: a rebuilt, issued month requested a payment run"
    driver.switch_off("disbursement_sensor")
    run = driver.launch("disbursement_job", month)
    assert driver.execute(run).status == dg.DagsterRunStatus.SUCCESS
    assert _payment_rows(data, month) == rows_before[month], f"{month}: payment rows changed on a rerun"
    assert _files(data) == files_before, f"{month}: payment files were rewritten or versioned"
    assert not list((data / "disbursement").rglob("*.v2.csv"))


def test_rerunning_january_then_march_changes_no_id_file_or_routing(demo, driver):
    """January again with `dtsen run`; then March from the launchpad, where the run fails at its last step and is
    re-executed from the failure (only what failed runs again) and the month's rebuild replaces that month only."""
    home, data, _ = demo
    before = {m: _crosswalk(data, m) for m in MONTHS}
    rows_before = {m: _payment_rows(data, m) for m in MONTHS}
    files_before = _files(data)
    history_before = {m: _history(data, m) for m in MONTHS}
    assert all(history_before.values())
    assert _catalogue_month(data) == "2025-03"
    rerouted = sum("previous_not_collected" in (r[2] or "") for r in rows_before["2025-03"])
    assert rerouted > 0  # January's and February's non-collectors went to PT Pos in March

    proc = _cli(
        home,
        "run",
        "--landing",
        str(data / "landing"),
        "--month",
        "2025-01",
        "--data",
        str(data),
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    # what the command tells its user: each source's counts, where the warehouse is, the key warning
    assert "sources/dtks" in proc.stdout and "quarantined" in proc.stdout
    assert str(data / "warehouse.duckdb") in proc.stdout
    assert "DEMO MODE" in proc.stderr and "DTSEN_PSEUDONYM_KEY" in proc.stderr  # on the console, not only in dbt's log
    # progress while it runs: each step as it starts and ends, with its time and what it built
    assert re.search(r"\] start  \S+", proc.stdout) and re.search(r"\] done   \S+ \(\d+\.\d s\)", proc.stdout)
    assert re.search(r"sources/dtks \(rows_accepted [\d,]+\)", proc.stdout), proc.stdout[-2000:]
    assert _crosswalk(data, "2025-01") == before["2025-01"], "2025-01: ids changed on a rerun"
    assert _catalogue_month(data) == "2025-03"  # analysts stay on the latest month while a rerun runs
    assert _marts_month(data) == ("2025-03", "2025-01")  # January went to the rebuild area, the marts hold March
    _rerun_disbursement(driver, data, "2025-01", rows_before, files_before)

    # March: a marker row in January's and March's history shows which months a build of March replaces
    warehouse = str(data / "warehouse.duckdb")
    marker = (
        "INSERT INTO history.appeal_explanation_history SELECT * REPLACE ('MARKER' AS family_id) "
        "FROM history.appeal_explanation_history WHERE snapshot = ? LIMIT 1"
    )
    history_dir, aside = data / "published" / "history", data / "published" / "history.aside"
    con = duckdb.connect(warehouse)
    try:
        for m in ("2025-01", "2025-03"):
            con.execute(marker, [m])
    finally:
        con.close()
    try:
        history_dir.rename(aside)
        history_dir.write_text("not a folder")  # the publishing step cannot write the month's history partitions
        failed = driver.launch("monthly_pipeline", "2025-03")
        assert driver.execute(failed).status == dg.DagsterRunStatus.FAILURE
        assert _steps(driver.instance, failed, "STEP_FAILURE") == {"analytics__published_marts"}
        history_dir.unlink()
        aside.rename(history_dir)
        retry = driver.reexecute_from_failure(failed)
        assert driver.execute(retry).status == dg.DagsterRunStatus.SUCCESS
        done = _steps(driver.instance, failed, "STEP_SUCCESS")
        again = _steps(driver.instance, retry, "STEP_START")
        assert "analytics__published_marts" in again and {"sources__deliveries", "dtsen_dbt_models"} <= done
        assert not again & done, f"re-executed steps that had succeeded: {sorted(again & done)}"
        con = duckdb.connect(warehouse, read_only=True)
        try:
            markers = con.execute(
                "SELECT snapshot FROM history.appeal_explanation_history WHERE family_id = 'MARKER'"
            ).fetchall()
        finally:
            con.close()
        assert markers == [("2025-01",)], "a build of March must replace March's history rows, and only those"
    finally:
        if history_dir.is_file():
            history_dir.unlink()
        if aside.exists():
            aside.rename(history_dir)
        con = duckdb.connect(warehouse)
        try:
            con.execute("DELETE FROM history.appeal_explanation_history WHERE family_id = 'MARKER'")
        finally:
            con.close()
    assert _crosswalk(data, "2025-03") == before["2025-03"], "2025-03: ids changed on a rerun"
    assert _catalogue_month(data) == "2025-03"
    _rerun_disbursement(driver, data, "2025-03", rows_before, files_before)
    for m in MONTHS:  # nothing else moved; a rebuilt month replaced its own history rows with the same rows
        assert _crosswalk(data, m) == before[m]
        assert _history(data, m) == history_before[m], f"{m}: history changed on a rerun"


def test_check_results_name_their_month(demo, driver):
    instance = driver.instance
    run = instance.get_runs(filters=RunsFilter(job_name="monthly_pipeline", tags={"dagster/partition": "2025-02"}))[0]
    evaluations = [
        e.dagster_event.event_specific_data
        for e in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION)
    ]
    assert len(evaluations) > 100  # our checks and every dbt test
    assert {e.partition for e in evaluations} == {"2025-02"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _graphql(port: int, query: str) -> dict:
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())["data"]


@pytest.fixture(scope="module")
def dagster_dev(demo, tmp_path_factory):
    """`make ui` as a user runs it, on the demo: `dagster dev` (webserver and daemon) with a PATH that does not hold
    the environment's bin folder (its code server must still find dbt), sensors evaluated every second. Yields its
    port once the code location has loaded (or says why not)."""
    home, data, _ = demo
    port = _free_port()
    env = _env(home)
    env["PATH"] = "/usr/local/bin:/usr/bin:/bin"
    env["DTSEN_DATA"] = str(data)
    env["DTSEN_SENSOR_INTERVAL"] = "1"
    logs = tmp_path_factory.mktemp("dagster_dev")
    log = open(logs / "dagster_dev.log", "w")  # noqa: SIM115 - open while dagster dev runs
    proc = subprocess.Popen(
        [str(REPO / ".venv" / "bin" / "dagster"), "dev", "-w", "workspace.yaml", "--port", str(port)],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 240
        status = None
        while time.monotonic() < deadline:
            try:
                ws = _graphql(
                    port,
                    """{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus
                    locationOrLoadError { __typename ... on PythonError { message } } } } } }""",
                )
                entries = ws["workspaceOrError"]["locationEntries"]
                status = entries[0] if entries else None
                if status and status["loadStatus"] == "LOADED":
                    break
            except OSError:
                pass
            time.sleep(2)
        assert status is not None, (logs / "dagster_dev.log").read_text()[-3000:]
        assert status["locationOrLoadError"]["__typename"] == "RepositoryLocation", status
        yield port
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()


def test_the_ui_opens_from_the_clone_without_path_help(demo, dagster_dev):
    """The location loads, and the demo's runs and ticks are where the UI looks; every month the demo built is built
    in every asset (a source that delivered once does not make the other months missing)."""
    port = dagster_dev
    job = _graphql(
        port,
        """{ pipelineOrError(params: {repositoryLocationName: "dtsen",
        repositoryName: "__repository__", pipelineName: "monthly_pipeline"}) {
        ... on Pipeline { runs(limit: 10) { runId } } } }""",
    )
    assert len(job["pipelineOrError"]["runs"]) >= 3  # the demo's months (and any `dtsen run` since)
    sensor = _graphql(
        port,
        """{ sensorOrError(sensorSelector: {repositoryLocationName: "dtsen",
        repositoryName: "__repository__", sensorName: "landing_sensor"}) {
        ... on Sensor { sensorState { status ticks(limit: 5) { status } } } } }""",
    )
    assert sensor["sensorOrError"]["sensorState"]["ticks"], "the landing sensor says it never ran"
    stats = _graphql(
        port,
        """{ assetNodes(assetKeys: [{path: ["sources", "dtks"]}, {path: ["sources", "region_reference"]},
        {path: ["sources", "susenas"]}, {path: ["sources", "usulan"]}]) {
        assetKey { path } partitionStats { numMaterialized numPartitions } description } }""",
    )["assetNodes"]
    by = {"/".join(n["assetKey"]["path"]): n for n in stats}
    for name, node in by.items():  # the one-off, yearly and sometimes-delivered sources hold every built month too
        assert node["partitionStats"]["numMaterialized"] == 3, (name, node["partitionStats"])
        assert node["partitionStats"]["numPartitions"] < 40  # from 2025-01, not 2020-01
    assert "`dtks/<YYYY-MM>/dtks.csv`" in by["sources/dtks"]["description"]


SENSOR = '{repositoryLocationName: "dtsen", repositoryName: "__repository__", sensorName: "disbursement_sensor"}'


def _runs(port: int, job: str) -> list[dict]:
    found = _graphql(
        port,
        f"""{{ runsOrError(filter: {{pipelineName: "{job}"}}) {{ ... on Runs {{ results {{ runId status
        tags {{ key value }} }} }} }} }}""",
    )
    return found["runsOrError"]["results"]


def test_a_backfill_of_an_earlier_month_moves_neither_the_current_marts_nor_money(demo, dagster_dev):
    """With the disbursement sensor on, the team backfills January from the job's Partitions tab (Dagster's
    launchPartitionBackfill, run by the daemon): January is rebuilt, as history, into the rebuild area; the current
    marts, the analysts' catalogue and the API's latest snapshot stay on March; no payment run is requested; `dtsen
    status` says which area holds which month."""
    home, data, _ = demo
    port = dagster_dev
    before = _marts_month(data)[0]
    payments_before = {r["runId"] for r in _runs(port, "disbursement_job")}
    started = _graphql(
        port, f"mutation {{ startSensor(sensorSelector: {SENSOR}) {{ __typename ... on Sensor {{ id }} }} }}"
    )
    assert started["startSensor"]["__typename"] == "Sensor", started
    try:
        launched = _graphql(
            port,
            """mutation { launchPartitionBackfill(backfillParams: {selector: {partitionSetName:
            "monthly_pipeline_partition_set", repositorySelector: {repositoryLocationName: "dtsen",
            repositoryName: "__repository__"}}, partitionNames: ["2025-01"]}) {
            __typename ... on LaunchBackfillSuccess { backfillId } ... on PythonError { message } } }""",
        )["launchPartitionBackfill"]
        assert launched["__typename"] == "LaunchBackfillSuccess", launched
        backfill = launched["backfillId"]
        deadline, runs = time.monotonic() + 600, []
        while time.monotonic() < deadline:
            runs = [
                r
                for r in _runs(port, "monthly_pipeline")
                if {"key": "dagster/backfill", "value": backfill} in r["tags"]
            ]
            if runs and all(r["status"] in ("SUCCESS", "FAILURE", "CANCELED") for r in runs):
                break
            time.sleep(3)
        assert [r["status"] for r in runs] == ["SUCCESS"], runs
        finished = time.time()
        deadline, ticks = time.monotonic() + 180, []
        while time.monotonic() < deadline:  # the sensor daemon evaluates the sensor after the backfill's run
            ticks = _graphql(
                port,
                f"""{{ sensorOrError(sensorSelector: {SENSOR}) {{ ... on Sensor {{ sensorState {{
                ticks(limit: 10) {{ timestamp status runIds }} }} }} }} }}""",
            )["sensorOrError"]["sensorState"]["ticks"]
            if any(t["timestamp"] > finished + 1 and t["status"] in ("SKIPPED", "SUCCESS") for t in ticks):
                break
            time.sleep(2)
        assert any(t["timestamp"] > finished + 1 for t in ticks), ticks
        assert not any(t["runIds"] for t in ticks), ticks
    finally:
        _graphql(port, f'mutation {{ stopSensor(id: "{started["startSensor"]["id"]}") {{ __typename }} }}')
    assert {r["runId"] for r in _runs(port, "disbursement_job")} == payments_before, "a backfill requested a payment"
    assert _marts_month(data) == (before, "2025-01") and before == "2025-03"
    assert _catalogue_month(data) == "2025-03"
    from dtsen.api import exchange

    assert exchange.latest(str(data / "exchange")) == "2025-03"
    shown = _cli(home, "status", "--data", str(data))
    assert shown.returncode == 0, shown.stderr
    lines = {line.split()[0]: line for line in shown.stdout.splitlines() if line[:4] == "2025"}
    assert "built" in lines["2025-01"] and "rebuilt (history)" in lines["2025-01"], shown.stdout
    assert "built" in lines["2025-03"] and "current" in lines["2025-03"], shown.stdout
    assert "3 built, 0 partial" in shown.stdout


def test_a_broken_registry_delivery_re_executed_from_the_failure(demo, driver):
    """March's DTKS delivery broken: the ingestion run fails at the deliveries' step with the file named, and every
    other delivery of March is left as it was (nothing materialised, the warehouse's March rows unchanged); once the
    file is mended, "re-execute from failure" runs that step again, every delivery of the month, and nothing
    else."""
    from dtsen.registries.sources import DELIVERIES

    deliveries = {f"sources/{s.asset}" for s in DELIVERIES}
    _, data, _ = demo
    path = data / "landing" / "dtks" / "2025-03" / "dtks.csv"
    good = path.read_bytes()
    before = {
        t: _table(data, t, "2025-03") for t in ("sources.p3ke_person", "sources.death", "sources.regsosek_family")
    }
    try:
        path.write_bytes(good.replace(b"NO_KK", b"NO_KX", 1))
        failed = driver.launch("ingest_job", "2025-03")
        assert driver.execute(failed).status == dg.DagsterRunStatus.FAILURE
        assert _steps(driver.instance, failed, "STEP_FAILURE") == {"sources__deliveries"}
        failure = next(
            e
            for e in driver.instance.all_logs(failed)
            if e.dagster_event is not None and e.dagster_event.event_type_value == "STEP_FAILURE"
        )
        assert str(path) in failure.dagster_event.step_failure_data.user_failure_data.description
        assert _materialised(driver.instance, failed) == {"sources/region_reference"}
        assert {t: _table(data, t, "2025-03") for t in before} == before
    finally:
        path.write_bytes(good)
    retry = driver.reexecute_from_failure(failed)
    assert driver.execute(retry).status == dg.DagsterRunStatus.SUCCESS
    assert _materialised(driver.instance, retry) == deliveries
    assert _steps(driver.instance, retry, "STEP_START") == {"sources__deliveries"}


def _table(data: Path, table: str, month: str) -> list[tuple]:
    con = duckdb.connect(str(data / "warehouse.duckdb"), read_only=True)
    try:
        return con.execute(f"SELECT * FROM {table} WHERE delivery = ? ORDER BY ALL", [month]).fetchall()
    finally:
        con.close()


def _materialised(instance: dg.DagsterInstance, run_id: str) -> set[str]:
    return {
        "/".join(e.dagster_event.event_specific_data.materialization.asset_key.path)
        for e in instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION)
    }
