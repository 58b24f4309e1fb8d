"""The caseworker desk's store on SQLite and on a throw-away PostgreSQL: users and throttled logins, the case flow
with two people for every change, region scoping, append-only logs, and the monthly export's bytes."""

from __future__ import annotations

import datetime as dt
import random

import pytest
import sqlalchemy as sa

from dtsen.web.export import export_month
from dtsen.web.store import CaseError, Store
from tests.postgres import DB, PASSWORD, USER, server_binaries, throwaway_postgres

HOUSE = {
    "status_bangunan": 1,
    "jenis_lantai": 6,
    "jenis_dinding": 4,
    "jenis_atap": 6,
    "sumber_air_minum": 6,
    "fasilitas_bab": 4,
    "sumber_penerangan": 4,
    "bahan_bakar_masak": 4,
    "aset_kulkas": 0,
    "aset_motor": 0,
    "aset_mobil": 0,
    "desa_terpencil": 0,
    "luas_lantai_m2": 20,
    "aset_lahan_m2": 0,
    "aset_ternak": 2,
}
MEMBER = {
    "nama": "SUMARNI",
    "nik": None,
    "no_kk": None,
    "tanggal_lahir": "1980-01-02",
    "jenis_kelamin": "P",
    "hubungan_kk": 1,
    "pendidikan": 1,
    "pekerjaan": 1,
    "jenjang_sekolah": "none",
    "disabilitas_berat": 0,
    "hamil": 0,
}


class Clock:
    def __init__(self):
        self.t = dt.datetime(2025, 2, 3, 8, 0)
        self.step = dt.timedelta(minutes=1)

    def __call__(self):
        self.t += self.step
        return self.t


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    if request.param == "sqlite":
        s = Store.open(f"sqlite:///{tmp_path / 'desk.sqlite'}", clock=Clock(), rng=random.Random(1))
        yield s
        s.close()
        return
    if server_binaries() is None:
        pytest.skip("PostgreSQL server binaries are not installed (Debian's postgresql package)")
    with throwaway_postgres() as pg:
        s = Store.open(
            f"postgresql+psycopg2://{USER}:{PASSWORD}@{pg.host}:{pg.port}/{DB}", clock=Clock(), rng=random.Random(1)
        )
        yield s
        s.close()


def people(store: Store):
    store.add_user("worker", "a-long-password", "caseworker", "Petugas", "3201")
    store.add_user("boss", "a-long-password", "supervisor", "Supervisor", "3201")
    store.add_user("other", "a-long-password", "caseworker", "Petugas lain", "3302")
    users = {u["username"]: u for u in store.list_users()}
    return users["worker"], users["boss"], users["other"]


def test_passwords_are_hashed_and_logins_throttled(store):
    worker, boss, _ = people(store)
    assert worker["password_hash"].startswith("scrypt$") and "a-long-password" not in worker["password_hash"]
    assert store.login("worker", "a-long-password", "10.0.0.1")["username"] == "worker"
    with pytest.raises(CaseError):
        store.add_user("weak", "short", "caseworker", "Weak", "3201")
    for _ in range(5):
        assert store.login("worker", "wrong", "10.0.0.2") is None
    with pytest.raises(CaseError, match="Terlalu banyak"):  # even the right password, within the window
        store.login("worker", "a-long-password", "10.0.0.2")
    assert store.login("boss", "a-long-password", "10.0.0.2")  # a colleague behind the same address is not locked
    assert store.login("worker", "a-long-password", "10.0.0.3")  # nor the same name from another client
    store.clock.step = dt.timedelta(seconds=1)  # guessing one name from many places, quickly, locks it everywhere
    for i in range(15):
        assert store.login("worker", "wrong", f"10.0.{i + 1}.9") is None
    with pytest.raises(CaseError, match="Terlalu banyak"):
        store.login("worker", "a-long-password", "10.0.0.4")
    store.clock.t += dt.timedelta(minutes=16)
    assert store.login("worker", "a-long-password", "10.0.0.2")


def test_two_people_for_every_change_and_region_scoping(store):
    worker, boss, other = people(store)
    t = store.submit(
        "sanggahan",
        village_code="3201010001",
        submitter_name="WARGA",
        submitter_contact="0812345",
        description="sudah pindah",
        reason="pindah",
        target_person_id="DP0000000001",
        target_snapshot="2025-01",
    )
    assert t.startswith("SGH-2025-")
    case = store.case_by_ticket(t)
    with pytest.raises(CaseError, match="wilayah"):  # a caseworker of another regency sees nothing
        store.case(case["id"], other)
    assert store.queue(other)["open"] == [] and [c["ticket"] for c in store.queue(worker)["open"]] == [t]
    with pytest.raises(CaseError, match="wilayah"):
        store.decide(case["id"], other, "approve", "x")
    with pytest.raises(CaseError, match="Peran"):  # a caseworker cannot approve
        store.approve(case["id"], worker, True)
    store.decide(case["id"], boss, "approve", "benar pindah")
    with pytest.raises(CaseError, match="sendiri"):  # nor a supervisor their own decision
        store.approve(case["id"], boss, True)
    u = store.submit(
        "usulan",
        village_code="3201010001",
        submitter_name="KADER",
        submitter_contact="kader@x.id",
        description="keluarga miskin",
        proposed_head_name="SUMARNI",
        proposed_members=1,
    )
    ucase = store.case_by_ticket(u)
    with pytest.raises(CaseError, match="diverifikasi"):  # no approval without the home visit
        store.decide(ucase["id"], worker, "approve", "layak")
    store.verify(ucase["id"], worker, HOUSE, [MEMBER])
    store.decide(ucase["id"], worker, "approve", "layak")
    store.approve(ucase["id"], boss, False, "lengkapi foto")  # returned: the caseworker decides again
    assert store.case(ucase["id"], worker)["status"] == "dikembalikan"
    store.decide(ucase["id"], worker, "approve", "layak, foto ada")
    store.approve(ucase["id"], boss, True)
    assert store.case(ucase["id"], worker)["status"] == "disetujui"
    actions = [e["action"] for e in store.events(ucase["id"])]
    assert actions == [
        "diajukan",
        "diverifikasi",
        "diputuskan_approve",
        "dikembalikan",
        "diputuskan_approve",
        "disetujui_atasan",
    ]


def test_logs_are_append_only(store):
    worker, _, _ = people(store)
    store.log_view(worker, "view_family", "DF0000000001")
    store.log_search("3201010001", 2)
    for table in ("audit", "search_log"):
        with pytest.raises(sa.exc.DBAPIError), store.engine.begin() as c:
            c.exec_driver_sql(f"UPDATE {table} SET at = at")
        with pytest.raises(sa.exc.DBAPIError), store.engine.begin() as c:
            c.exec_driver_sql(f"DELETE FROM {table}")
    assert len(store.audit_rows()) == 1
    cols = {c["name"] for c in sa.inspect(store.engine).get_columns("search_log")}
    assert cols == {"id", "at", "village_code", "results"}  # who searched, and for whom, is never stored


def test_export_is_repeatable_and_each_case_goes_out_once(store, tmp_path):
    worker, boss, _ = people(store)
    tickets = []
    for i in range(2):
        u = store.submit(
            "usulan",
            village_code="3201010001",
            submitter_name="KADER",
            submitter_contact="kader@x.id",
            description="keluarga miskin",
            proposed_head_name=f"KEPALA {i}",
            proposed_members=1,
        )
        c = store.case_by_ticket(u)
        store.verify(c["id"], worker, HOUSE, [MEMBER])
        store.decide(c["id"], worker, "approve", "layak")
        store.approve(c["id"], boss, True)
        tickets.append(u)
    landing = tmp_path / "landing"
    first = export_month(store, str(landing), "2025-02")
    assert first == {"usulan": 2, "usulan_members": 2, "sanggahan": 0}
    files = {p.name: p.read_bytes() for p in (landing / "usulan" / "2025-02").iterdir()}
    assert export_month(store, str(landing), "2025-02") == first  # the same month again: the same bytes
    assert {p.name: p.read_bytes() for p in (landing / "usulan" / "2025-02").iterdir()} == files
    assert export_month(store, str(landing), "2025-03")["usulan"] == 0  # already delivered with February
    assert not (landing / "sanggahan").exists()
    header = files["usulan_keluarga.csv"].decode().splitlines()[0]
    assert header.startswith("no_tiket,kode_desa,alamat,status_bangunan")
    assert sorted(line.split(",")[0] for line in files["usulan_keluarga.csv"].decode().splitlines()[1:]) == sorted(
        tickets
    )
