"""The demo's caseworker desk: after a month is published, a few citizens file proposals and objections, a
caseworker verifies and decides, a supervisor approves, and the approved decisions are exported into the next
month's landing folder (what `make run` shows flowing through). Deterministic: tickets from a seeded generator,
times on a clock inside the next month, cases chosen from the snapshot in id order.
"""

from __future__ import annotations

import datetime as dt
import random

from dtsen.layout import DataLayout

from .data import Registry
from .export import export_month
from .store import Store

DEMO_PASSWORD = "demo-password-only"  # the demo's users only: printed by `make run`, never for real use
# a verified home visit of a poor household (the code lists of the docs, Data contracts)
POOR_HOUSE = {
    "status_bangunan": 3,
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
    "luas_lantai_m2": 18,
    "aset_lahan_m2": 0,
    "aset_ternak": 0,
}


MOTHERS = ["SUMARNI", "WARSIH", "NURHAYATI", "SITI MARYAM", "YULIANA", "MARLINA", "TUMINAH", "RATNASARI"]
CHILDREN = ["RINA", "DEWI", "AYU", "PUTRI", "INDAH", "LESTARI"]
FAMILY_NAMES = ["WIJAYANTI", "HANDAYANI", "SUGIARTI", "RAHAYU", "PURNAMASARI", "SETIAWATI"]


class _Clock:
    def __init__(self, start: dt.datetime):
        self.t = start

    def __call__(self) -> dt.datetime:
        self.t += dt.timedelta(minutes=7)
        return self.t


def demo_users(store: Store, regency: str) -> tuple[dict, dict]:
    names = {"caseworker": f"petugas{regency}", "supervisor": f"supervisor{regency}"}
    have = {u["username"] for u in store.list_users()}
    for role, username in names.items():
        if username not in have:
            store.add_user(username, DEMO_PASSWORD, role, f"Demo {role} {regency}", regency)
    users = {u["username"]: u for u in store.list_users()}
    return users[names["caseworker"]], users[names["supervisor"]]


def simulate(layout: DataLayout, next_month: str, seed: int) -> dict:
    """File, verify, decide and approve a few cases on the latest snapshot; export them into `next_month` of the
    layout's landing folder."""
    registry = Registry(layout.exchange, layout.published)
    db_url, landing = layout.web_db, layout.landing
    cur = registry.cursor()
    clock = _Clock(dt.datetime.fromisoformat(f"{next_month}-01T08:00"))
    store = Store.open(db_url, clock=clock, rng=random.Random(f"{seed}-{next_month}"))
    try:
        # the regency with the most PKH recipients: its desk gets the cases
        regency = cur.execute(
            "SELECT regency_code FROM person WHERE pkh_recipient AND is_head GROUP BY 1 "
            "ORDER BY count(*) DESC, 1 LIMIT 1"
        ).fetchone()[0]
        worker, boss = demo_users(store, regency)
        recipients = cur.execute(
            """SELECT person_id, village_code FROM person WHERE regency_code = ? AND is_head
                                    AND pkh_recipient AND NOT is_deceased ORDER BY person_id""",
            [regency],
        ).fetchall()
        known = cur.execute(
            """SELECT person_id, name, nik, no_kk, sex, birth_date, village_code FROM person
                               WHERE regency_code = ? AND NOT pkh_recipient AND NOT is_deceased AND age >= 25
                               ORDER BY person_id""",
            [regency],
        ).fetchall()
        rng = random.Random(f"{seed}-{next_month}-cases")
        done = []

        def objection(person_id: str, village: str, reason: str, approve: bool) -> str:
            t = store.submit(
                "sanggahan",
                village_code=village,
                submitter_name="WARGA DEMO",
                submitter_contact="0812-0000-0000",
                reason=reason,
                target_person_id=person_id,
                target_snapshot=registry.snapshot,
                description="Menurut warga, keluarga ini tidak layak menerima bantuan.",
            )
            case = store.case_by_ticket(t)
            store.decide(
                case["id"],
                worker,
                "approve" if approve else "reject",
                "Kunjungan lapangan membenarkan sanggahan." if approve else "Sanggahan tidak terbukti.",
            )
            store.approve(case["id"], boss, True, "Sesuai hasil kunjungan.")
            return t

        def proposal(village: str, members: list[dict], head: str) -> str:
            t = store.submit(
                "usulan",
                village_code=village,
                submitter_name="KADER DESA DEMO",
                submitter_contact="kader@desa.example",
                proposed_head_name=head,
                proposed_address="DUSUN DEMO RT 001 RW 002",
                proposed_members=len(members),
                description="Keluarga miskin yang belum pernah didata.",
            )
            case = store.case_by_ticket(t)
            store.verify(case["id"], worker, dict(POOR_HOUSE), members)
            store.decide(case["id"], worker, "approve", "Hasil kunjungan rumah: layak diusulkan.")
            store.approve(case["id"], boss, True, "")
            return t

        if len(recipients) >= 2:
            p = recipients[rng.randrange(len(recipients))]
            done.append(objection(p[0], p[1], "tidak_miskin", approve=True))
            q = recipients[(recipients.index(p) + 1) % len(recipients)]
            done.append(objection(q[0], q[1], "pindah", approve=False))
        village = recipients[0][1] if recipients else known[0][6]
        mother = f"{rng.choice(MOTHERS)} {rng.choice(FAMILY_NAMES)}"
        child = f"{rng.choice(CHILDREN)} {mother.split()[-1]}"
        born = dt.date(1970 + rng.randrange(20), 1 + rng.randrange(12), 1 + rng.randrange(28))
        done.append(
            proposal(
                village,
                [
                    {
                        "nama": mother,
                        "nik": None,
                        "no_kk": None,
                        "tanggal_lahir": born.isoformat(),
                        "jenis_kelamin": "P",
                        "hubungan_kk": 1,
                        "pendidikan": 1,
                        "pekerjaan": 1,
                        "jenjang_sekolah": "none",
                        "disabilitas_berat": 0,
                        "hamil": 0,
                    },
                    {
                        "nama": child,
                        "nik": None,
                        "no_kk": None,
                        "tanggal_lahir": born.replace(year=2012 + rng.randrange(6)).isoformat(),
                        "jenis_kelamin": "P",
                        "hubungan_kk": 3,
                        "pendidikan": 1,
                        "pekerjaan": 0,
                        "jenjang_sekolah": "SD",
                        "disabilitas_berat": 0,
                        "hamil": 0,
                    },
                ],
                mother,
            )
        )
        if known:  # a proposed person who is already registered: linkage links them instead of adding a duplicate
            k = known[rng.randrange(len(known))]
            done.append(
                proposal(
                    k[6],
                    [
                        {
                            "nama": k[1],
                            "nik": k[2],
                            "no_kk": k[3],
                            "tanggal_lahir": k[5].isoformat(),
                            "jenis_kelamin": "L" if k[4] == 1 else "P",
                            "hubungan_kk": 1,
                            "pendidikan": 1,
                            "pekerjaan": 1,
                            "jenjang_sekolah": "none",
                            "disabilitas_berat": 0,
                            "hamil": 0,
                        }
                    ],
                    k[1],
                )
            )
        counts = export_month(store, landing, next_month)
        return {"regency": regency, "tickets": done, "users": [worker["username"], boss["username"]], **counts}
    finally:
        store.close()
