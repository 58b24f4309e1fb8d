"""The two deliveries the caseworker desk exports (usulan, sanggahan) against their contracts: bad rows quarantined
with file, line, field and reason, counts reconciling; the landing sensor takes a month that holds only them."""

from __future__ import annotations

import shutil
from datetime import UTC

import duckdb
import pytest

from dtsen import warehouse as wh
from dtsen.registries.ingest import ingest
from tests.orchestration.test_sensors import tick

M = "2025-01"
FAMILY_HEADER = (
    "no_tiket,kode_desa,alamat,status_bangunan,luas_lantai_m2,jenis_lantai,jenis_dinding,jenis_atap,"
    "sumber_air_minum,fasilitas_bab,sumber_penerangan,bahan_bakar_masak,aset_kulkas,aset_motor,aset_mobil,"
    "aset_lahan_m2,aset_ternak,jumlah_art,desa_terpencil,tgl_verifikasi,tgl_keputusan\n"
)
MEMBER_HEADER = (
    "no_tiket,no_urut,nik,no_kk,nama,jenis_kelamin,tanggal_lahir,hubungan_kk,pendidikan,pekerjaan,"
    "jenjang_sekolah,disabilitas_berat,hamil\n"
)


@pytest.fixture()
def land(small_landing, tmp_path):
    dst = tmp_path / "landing"
    shutil.copytree(small_landing, dst, ignore=shutil.ignore_patterns("truth"))
    return dst


@pytest.fixture()
def village(land):
    return duckdb.sql(
        f"SELECT kode FROM read_csv('{land}/referensi/wilayah.csv', all_varchar=true) "
        f"WHERE tingkat = 'desa' ORDER BY kode LIMIT 1"
    ).fetchall()[0][0]


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def test_bad_proposal_and_objection_rows_are_quarantined_and_counts_reconcile(land, village, tmp_path):
    d = land / "usulan" / M
    write(
        d / "usulan_keluarga.csv",
        FAMILY_HEADER
        + f"USL-1,{village},JL A,3,18,6,4,6,6,4,4,4,0,0,0,0,0,2,0,2025-01-05,2025-01-09\n"
        + "USL-2,9999999999,JL B,3,18,6,4,6,6,4,4,4,0,0,0,0,0,1,0,2025-01-05,2025-01-09\n"  # unknown village
        + f"USL-3,{village},JL C,9,18,6,4,6,6,4,4,4,0,0,0,0,0,1,0,2025-01-05,2025-03-09\n",
    )  # code, future
    write(
        d / "usulan_anggota.csv",
        MEMBER_HEADER
        + "USL-1,1,,,SUMARNI,P,1980-01-02,1,1,1,none,0,0\n"
        + "USL-1,2,,,RINA,X,2015-01-02,3,1,0,SD,0,0\n"  # sex not L/P
        + "USL-1,2,,,RINA,P,2015-01-02,3,1,0,SD,0,0\n"  # duplicate member number
        + "USL-2,1,,,ORPHAN,L,1970-01-01,1,1,1,none,0,0\n",
    )  # its family row is quarantined
    write(
        land / "sanggahan" / M / "sanggahan.csv",
        "no_tiket,id_dtsen,alasan,keterangan,kode_desa,tgl_keputusan\n"
        + f"SGH-1,DP0000000001,tidak_miskin,rumah besar,{village},2025-01-10\n"
        + f"SGH-2,1234,tidak_miskin,,{village},2025-01-10\n"
        + f"SGH-3,DP0000000002,bosan,,{village},2025-01-10\n",
    )
    con = wh.connect(str(tmp_path / "w.duckdb"))
    ingest(con, str(land), M, "referensi")
    res = ingest(con, str(land), M, "usulan")
    assert res.rows_read == 7 and res.rows_accepted + res.rows_quarantined == 7
    q = con.execute(
        "SELECT split_part(file, '/', -1), line, field, reason FROM sources.quarantine "
        "WHERE source = 'usulan' ORDER BY ALL"
    ).fetchall()
    assert ("usulan_keluarga.csv", 3, "kode_desa", "kode_desa not in the region reference") in q
    assert ("usulan_keluarga.csv", 4, "status_bangunan", "status_bangunan outside code list 1-5") in q
    assert ("usulan_keluarga.csv", 4, "tgl_keputusan", "tgl_keputusan after the delivery month") in q
    assert ("usulan_anggota.csv", 3, "jenis_kelamin", "jenis_kelamin not one of ['L', 'P']") in q
    assert any(r[:3] == ("usulan_anggota.csv", 4, "no_tiket-no_urut") for r in q)
    assert any(r[:3] == ("usulan_anggota.csv", 5, "no_tiket") and "proposal not in" in r[3] for r in q)
    persons = con.execute("SELECT record_id, source, family_id_src, village_code FROM sources.usulan_person").fetchall()
    assert persons == [("USL-1-1", "usulan", "USL-1", village)]
    assert con.execute("SELECT no_tiket, jumlah_art FROM sources.usulan_family").fetchall() == [("USL-1", 2)]
    res = ingest(con, str(land), M, "sanggahan")
    assert (res.rows_read, res.rows_accepted, res.rows_quarantined) == (3, 1, 2)
    assert con.execute("SELECT no_tiket, person_id, reason FROM sources.objection").fetchall() == [
        ("SGH-1", "DP0000000001", "tidak_miskin")
    ]
    reasons = {r[0] for r in con.execute("SELECT reason FROM sources.quarantine WHERE source = 'sanggahan'").fetchall()}
    assert reasons == {
        "id_dtsen not a DTSEN person id",
        "alasan not one of ['asn', 'ganda', 'lainnya', 'meninggal', 'pindah', 'tidak_miskin']",
    }
    con.close()


def test_a_month_with_only_the_desk_deliveries_is_requested_by_the_landing_sensor(land, village):
    reqs, cursor = tick("landing_sensor", land)
    write(
        land / "sanggahan" / "2025-03" / "sanggahan.csv",
        f"no_tiket,id_dtsen,alasan,keterangan,kode_desa,tgl_keputusan\nSGH-1,DP0000000001,asn,,{village},2025-03-10\n",
    )
    new, _ = tick("landing_sensor", land, cursor)
    assert [r.partition_key for r in new] == ["2025-03"] and new[0].tags["dtsen/deliveries"] == "sanggahan/2025-03"
    keys = {k.to_user_string() for k in new[0].asset_selection}
    assert {"sources/sanggahan", "marts/exclusions", "marts/appeal_explanation"} <= keys


def test_the_monthly_export_job_and_its_schedule(tmp_path, monkeypatch):
    import random
    from datetime import datetime

    import dagster as dg

    from dtsen.layout import DataLayout
    from dtsen.web.store import Store
    from orchestration.definitions import defs
    from orchestration.lib.resources import DataResource
    from tests.web.test_store import HOUSE, MEMBER, Clock

    monkeypatch.delenv("DTSEN_WEB_DB", raising=False)
    data = tmp_path / "data"
    (data / "web").mkdir(parents=True)
    store = Store.open(DataLayout.resolve(str(data)).web_db, clock=Clock(), rng=random.Random(3))
    store.add_user("worker", "a-long-password", "caseworker", "Petugas", "3201")
    store.add_user("boss", "a-long-password", "supervisor", "Supervisor", "3201")
    worker, boss = sorted(store.list_users(), key=lambda u: u["role"])
    t = store.submit(
        "usulan",
        village_code="3201010001",
        submitter_name="KADER",
        submitter_contact="kader@x.id",
        description="keluarga miskin",
        proposed_head_name="SUMARNI",
        proposed_members=1,
    )
    c = store.case_by_ticket(t)
    store.verify(c["id"], worker, HOUSE, [MEMBER])
    store.decide(c["id"], worker, "approve", "layak")
    store.approve(c["id"], boss, True)
    store.close()
    sched = defs.resolve_schedule_def("casework_export_schedule")
    reqs = sched.evaluate_tick(
        dg.build_schedule_context(scheduled_execution_time=datetime(2025, 3, 1, 0, 30, tzinfo=UTC))
    ).run_requests
    assert [r.partition_key for r in reqs] == ["2025-02"] and sched.default_status == dg.DefaultScheduleStatus.STOPPED
    job = defs.resolve_job_def("casework_export_job")
    landing = tmp_path / "landing"
    result = job.execute_in_process(
        partition_key="2025-02",
        resources={"data": DataResource(root=str(data), landing=str(landing))},
    )
    assert result.success and result.output_for_node("export_approved_decisions")["usulan"] == 1
    assert (landing / "usulan" / "2025-02" / "usulan_anggota.csv").read_text().count(t) == 1
