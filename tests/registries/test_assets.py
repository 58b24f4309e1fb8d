"""The registries asset group through Dagster, in-process, and the `dtsen run` command."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pytest

from assets.registries import registry_assets
from dtsen.registries.sources import INGESTED
from orchestration.lib.resources import DataResource, IngestSettings
from orchestration.operate.runner import materialize_month

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def resources(land: Path, warehouse: Path, **settings) -> dict:
    return {
        "data": DataResource(root=str(warehouse.parent), warehouse=str(warehouse), landing=str(land)),
        "ingest_settings": IngestSettings(**settings),
    }


@pytest.fixture()
def land(small_landing, tmp_path) -> Path:
    dst = tmp_path / "landing"
    shutil.copytree(small_landing, dst)
    return dst


def checks_of(result) -> dict[str, bool]:
    out = {}
    for ev in result.all_events:
        if ev.event_type_value == "ASSET_CHECK_EVALUATION":
            d = ev.event_specific_data
            out[f"{d.asset_key.path[-1]}:{d.check_name}"] = d.passed
    return out


def materialised(result) -> set[str]:
    return {
        "/".join(e.event_specific_data.materialization.asset_key.path)
        for e in result.get_asset_materialization_events()
    }


def test_definitions_validate():
    res = subprocess.run(
        [str(BIN / "dagster"), "definitions", "validate", "-w", "workspace.yaml"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    assert "Validation successful for code location dtsen" in res.stdout + res.stderr


def test_group_materializes_in_process_with_passing_checks(land, tmp_path):
    wh_path = tmp_path / "w.duckdb"
    result = dg.materialize(
        registry_assets,
        partition_key="2025-01",
        resources=resources(land, wh_path),
        instance=dg.DagsterInstance.ephemeral(),
    )
    assert result.success
    checks = checks_of(result)
    assert len(checks) == 5 * len(INGESTED) + sum(s.excludes for s in INGESTED)  # lists: list_not_shrunk
    assert all(checks.values()), {k: v for k, v in checks.items() if not v}
    mats = {
        "/".join(e.event_specific_data.materialization.asset_key.path): e.event_specific_data.materialization
        for e in result.get_asset_materialization_events()
    }
    meta = mats["sources/dtks"].metadata
    assert meta["rows_read"].value == meta["rows_accepted"].value + meta["rows_quarantined"].value > 0
    assert 0.9 < meta["nik_valid_rate"].value < 1.0
    preview = meta["preview"].value
    assert "**********" in preview  # NIK masked to its region part
    con = duckdb.connect(str(wh_path), read_only=True)
    raw_niks = con.execute("SELECT nik_raw FROM sources.dtks_person WHERE nik_raw IS NOT NULL LIMIT 50").fetchall()
    people = con.execute("SELECT name, strftime(birth_date, '%Y-%m-%d') FROM sources.dtks_person LIMIT 50").fetchall()
    con.close()
    assert not any(n[0] in preview for n in raw_niks)
    # the event log keeps metadata for ever: no full name, no birth date in the preview
    assert not any(name in preview for name, _ in people if len(name) > 3)
    assert not any(d in preview for _, d in people if d)
    assert "birth_year" in preview


def test_failed_partition_is_a_clear_run_failure_and_keeps_earlier_month(land, tmp_path):
    wh_path = tmp_path / "warehouse.duckdb"
    ok = materialize_month(str(land), "2025-01", str(tmp_path), instance=dg.DagsterInstance.ephemeral())
    assert ok.success
    p = land / "dtks" / "2025-02" / "dtks.csv"
    pd.read_csv(p, dtype=str, keep_default_na=False).drop(columns=["TGL_LAHIR"]).to_csv(p, index=False)
    bad = materialize_month(str(land), "2025-02", str(tmp_path), instance=dg.DagsterInstance.ephemeral())
    assert not bad.success
    assert any(str(p) in e and "missing required column(s) ['TGL_LAHIR']" in e for e in bad.errors), bad.errors
    con = duckdb.connect(str(wh_path), read_only=True)
    months = con.execute("SELECT DISTINCT delivery FROM sources.dtks_person").fetchall()
    con.close()
    assert months == [("2025-01",)]


def test_quarantine_ceiling_check_fails_when_too_many_rows_are_bad(land, tmp_path):
    p = land / "p3ke" / "2025-01" / "p3ke.csv"
    df = pd.read_csv(p, sep="|", dtype=str, keep_default_na=False)
    df.loc[: len(df) // 3, "jk"] = "X"
    df.to_csv(p, sep="|", index=False)
    result = dg.materialize(
        registry_assets,
        partition_key="2025-01",
        resources=resources(land, tmp_path / "w.duckdb", quarantine_fail_share=0.2),
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )
    checks = checks_of(result)
    assert checks["p3ke:quarantine_share_warn"] is False
    assert checks["p3ke:quarantine_share_max"] is False
    assert checks["p3ke:rows_reconcile"] is True
    assert checks["dtks:quarantine_share_max"] is True


def test_dtsen_run_cli_names_a_broken_delivery(land, tmp_path):
    """A month whose delivery is broken ends with exit code 1 and the file and problem on the console (a month that
    builds is run through `dtsen run` in tests/orchestration/test_operate.py)."""
    env = dict(os.environ, DAGSTER_HOME=str(tmp_path / "dh"))
    (land / "p3ke" / "2025-02").mkdir()
    (land / "p3ke" / "2025-02" / "p3ke.csv").write_bytes(b"")
    res = subprocess.run(
        [str(BIN / "dtsen"), "run", "--landing", str(land), "--month", "2025-02", "--data", str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert res.returncode == 1
    assert "p3ke/2025-02/p3ke.csv: empty file (0 bytes)" in res.stderr


DELIVERY_TABLES = [
    "sources.dtks_person",
    "sources.regsosek_person",
    "sources.p3ke_person",
    "sources.regsosek_family",
    "sources.susenas",
    "sources.death",
    "sources.asn",
    "sources.wage",
    "sources.quarantine",
    "sources.ingest_log",
]  # (the generator makes no caseworker-desk exports: usulan, sanggahan)


def _rows(path: Path, table: str) -> list[tuple]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        cols = [
            c
            for (c,) in con.execute(
                f"SELECT column_name FROM (DESCRIBE {table}) WHERE column_name <> 'ingested_at'"
            ).fetchall()
        ]
        return con.execute(f"SELECT {', '.join(cols)} FROM {table} ORDER BY ALL").fetchall()
    finally:
        con.close()


def test_deliveries_side_by_side_store_what_one_after_another_stores(land, tmp_path):
    """The month's deliveries ingested at once (three at a time, each in its thread and transaction), twice over
    (the second time replacing the month), hold the same rows, quarantine and log as ingested one after another."""
    from dtsen import warehouse as wh
    from dtsen.registries.ingest import SOURCES, ingest, ingest_concurrently

    p = land / "p3ke" / "2025-01" / "p3ke.csv"
    df = pd.read_csv(p, sep="|", dtype=str, keep_default_na=False)
    df.loc[:4, "jk"] = "X"  # five rows to quarantine
    df.to_csv(p, sep="|", index=False)
    paths = {}
    for mode in ("sequential", "concurrent"):
        paths[mode] = tmp_path / f"{mode}.duckdb"
        con = wh.connect(str(paths[mode]))
        try:
            ingest(con, str(land), "2025-01", "referensi")
            for _ in range(2):
                if mode == "sequential":
                    for s in SOURCES:
                        ingest(con, str(land), "2025-01", s)
                else:
                    results = ingest_concurrently(con, str(land), "2025-01", SOURCES)
                    assert list(results) == SOURCES
                    assert {type(r).__name__ for r in results.values()} == {"IngestResult"}, results
        finally:
            con.close()
    for table in DELIVERY_TABLES:
        a, b = _rows(paths["sequential"], table), _rows(paths["concurrent"], table)
        assert a == b and len(a) > 0, table


def test_a_broken_person_registry_fails_the_step_and_leaves_the_month_as_it_was(land, tmp_path):
    """DTKS broken: the step fails naming the file and what is wrong, and every other delivery of the month it
    wrote is put back as it was (on a new warehouse: nothing), so nothing is materialised; selected alone, P3KE is
    ingested alone."""
    p = land / "dtks" / "2025-01" / "dtks.csv"
    pd.read_csv(p, dtype=str, keep_default_na=False).drop(columns=["NIK"]).to_csv(p, index=False)
    wh_path = tmp_path / "w.duckdb"
    result = dg.materialize(
        registry_assets,
        partition_key="2025-01",
        resources=resources(land, wh_path),
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )
    assert not result.success
    failures = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert [e.step_key for e in failures] == ["sources__deliveries"]
    message = failures[0].step_failure_data.user_failure_data.description
    assert str(p) in message and "missing required column(s) ['NIK']" in message, message
    assert "p3ke 2025-01: put back as it was, because dtks could not be ingested" in message
    assert materialised(result) == {"sources/region_reference"}
    for table in ("sources.dtks_person", "sources.p3ke_person", "sources.regsosek_person", "sources.death"):
        assert _rows(wh_path, table) == [], table
    quarantine = _rows(wh_path, "sources.quarantine")
    assert {r[0] for r in quarantine} <= {"referensi"}  # no quarantine row of a delivery put back

    alone = tmp_path / "alone.duckdb"
    keys = [dg.AssetKey(["sources", "region_reference"]), dg.AssetKey(["sources", "p3ke"])]
    result = dg.materialize(
        registry_assets,
        partition_key="2025-01",
        resources=resources(land, alone),
        instance=dg.DagsterInstance.ephemeral(),
        selection=keys,
    )
    assert result.success
    assert materialised(result) == {"sources/region_reference", "sources/p3ke"}
    assert _rows(alone, "sources.regsosek_person") == [] and len(_rows(alone, "sources.p3ke_person")) > 0


def test_person_registries_go_side_by_side_only_while_they_fit_the_memory_budget(land, monkeypatch):
    """Side by side the three deliveries are in memory at once: only while three times their bytes fit in an eighth
    of the budget; a budget too small for that ingests them one after another (the same rows either way, above)."""
    from dtsen.registries.ingest import side_by_side

    registries = ["dtks", "regsosek", "p3ke"]

    size = sum(f.stat().st_size for s in registries for f in (land / s / "2025-01").iterdir())
    monkeypatch.setenv("DTSEN_MEMORY_BUDGET", str(3 * size * 8))
    assert side_by_side(str(land), "2025-01", registries)
    monkeypatch.setenv("DTSEN_MEMORY_BUDGET", str(3 * size * 8 - 8))
    assert not side_by_side(str(land), "2025-01", registries)
    monkeypatch.delenv("DTSEN_MEMORY_BUDGET")
    assert side_by_side(str(land), "2025-01", registries)  # the demo's and 1 M's deliveries under 16 GiB
