"""The monthly export of approved decisions into the landing folder, as deliveries like any agency's:

    <landing>/usulan/<YYYY-MM>/usulan_keluarga.csv   one row per approved proposal: ticket, village, address, the
                                                     verified Regsosek-style proxies, verification and decision dates
    <landing>/usulan/<YYYY-MM>/usulan_anggota.csv    one row per member recorded at the home visit
    <landing>/sanggahan/<YYYY-MM>/sanggahan.csv      one row per approved objection: ticket, DTSEN person id, reason

CSV, comma, UTF-8, lowercase header, dates YYYY-MM-DD (the contracts: docs, Data contracts). A month takes every case approved by a
supervisor before the month ends and not exported in an earlier month; the cases are assigned to the month, so
exporting it again writes the same bytes. Files are written to a temporary folder and renamed into place: the landing
sensor never sees half a delivery.
"""

from __future__ import annotations

import csv
import io
import json
import os

from dtsen.folders import folder_in_place
from dtsen.registries.engine import month_end
from dtsen.registries.sources.sanggahan import SANGGAHAN_COLUMNS
from dtsen.registries.sources.usulan import USULAN_FAMILY_COLUMNS, USULAN_MEMBER_COLUMNS

from .store import Store


def _csv(columns: list[str], rows: list[dict]) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(columns)
    for r in rows:
        w.writerow(["" if r.get(c) is None else r.get(c) for c in columns])
    return buf.getvalue().encode("utf-8")


def _write(folder: str, files: dict[str, bytes]) -> None:
    with folder_in_place(folder) as tmp:  # (creates the parent folders)
        for name, data in files.items():
            with open(os.path.join(tmp, name), "wb") as f:
                f.write(data)


def export_month(store: Store, landing: str, month: str) -> dict[str, int]:
    """Write the month's approved proposals and objections; returns counts. A month without any writes nothing."""
    chosen = store.approved_for_export(month, month_end(month).to_pydatetime())
    families, members, objections = [], [], []
    for c in chosen:
        decided = c["approved_at"].date().isoformat()
        if c["kind"] == "usulan":
            v = json.loads(c["verification"])
            families.append(
                {
                    "no_tiket": c["ticket"],
                    "kode_desa": c["village_code"],
                    "alamat": c["proposed_address"],
                    **v["family"],
                    "jumlah_art": len(v["members"]),
                    "tgl_verifikasi": v["verified_on"],
                    "tgl_keputusan": decided,
                }
            )
            members += [{"no_tiket": c["ticket"], "no_urut": i + 1, **m} for i, m in enumerate(v["members"])]
        else:
            objections.append(
                {
                    "no_tiket": c["ticket"],
                    "id_dtsen": c["target_person_id"],
                    "alasan": c["reason"],
                    "keterangan": c["decision_reason"],
                    "kode_desa": c["village_code"],
                    "tgl_keputusan": decided,
                }
            )
    if families:
        _write(
            os.path.join(landing, "usulan", month),
            {
                "usulan_keluarga.csv": _csv(USULAN_FAMILY_COLUMNS, families),
                "usulan_anggota.csv": _csv(USULAN_MEMBER_COLUMNS, members),
            },
        )
    if objections:
        _write(os.path.join(landing, "sanggahan", month), {"sanggahan.csv": _csv(SANGGAHAN_COLUMNS, objections)})
    return {"usulan": len(families), "usulan_members": len(members), "sanggahan": len(objections)}
