"""The monthly cycle on a Dagster instance backed by PostgreSQL (deploy/dagster.yaml), as a production deployment
runs it: a throw-away PostgreSQL server on loopback (its own data folder, stopped afterwards), `dtsen demo` for one
month through the sensors with the daemon's tick code path, and the runs, ticks and events found in PostgreSQL."""
from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from tests.conftest import REPO, _env
from tests.postgres import server_binaries, throwaway_postgres

pytestmark = pytest.mark.skipif(server_binaries() is None, reason="no PostgreSQL server installed "
                                "(/usr/lib/postgresql/*/bin): the Debian package postgresql provides it")


def test_one_month_on_a_postgres_backed_instance(tmp_path):
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "deploy" / "dagster.yaml", home / "dagster.yaml")
    with throwaway_postgres() as pg:
        env = {**_env(home), **pg.env()}
        proc = subprocess.run([sys.executable, "-m", "dtsen.cli", "demo", "--persons", "400", "--months", "1",
                               "--data", str(tmp_path / "data")], cwd=REPO, env=env, capture_output=True, text=True,
                              timeout=900)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        con = pg.connect()
        try:
            cur = con.cursor()
            cur.execute("SELECT pipeline_name, status FROM runs ORDER BY create_timestamp")
            runs = cur.fetchall()
            cur.execute("SELECT count(*) FROM job_ticks WHERE status = 'SUCCESS'")
            ticks = cur.fetchone()[0]
            cur.execute("SELECT count(*) FROM event_logs WHERE dagster_event_type = 'ASSET_MATERIALIZATION'")
            materialisations = cur.fetchone()[0]
            cur.execute("SELECT count(*) FROM instigators")
            instigators = cur.fetchone()[0]
        finally:
            con.close()
    # the landing sensor's month, the disbursement sensor's payment files, the reconciliation sensor's bank files
    assert [r[0] for r in runs] == ["monthly_pipeline", "disbursement_job", "reconciliation_job"], runs
    assert {r[1] for r in runs} == {"SUCCESS"}, runs
    assert ticks >= 3 and instigators >= 3  # sensor ticks and states live in PostgreSQL, not in SQLite files
    assert materialisations > 20
    assert not list(home.glob("**/*.db")), "an SQLite storage was created beside the PostgreSQL one"
