"""Approved proposals (usulan) exported monthly by the caseworker desk: `usulan/<YYYY-MM>/usulan_keluarga.csv` (the
verified household) and `usulan_anggota.csv` (its members as recorded at the home visit). CSV, comma, UTF-8,
lower-case header, dates YYYY-MM-DD; either file may hold only its header."""

from __future__ import annotations

import os

import duckdb

from ..engine import (
    IngestResult,
    absent,
    delivery_dir,
    duplicates,
    int8_sql,
    month_end,
    reference_tables,
    region_sql,
    sex_letter_sql,
    stage,
    store_persons,
)
from ..files import read_csv_file
from ..rules import (
    BINARY,
    EDUCATION,
    RELATIONSHIP,
    SCHOOL,
    WORK,
    code_in,
    date_text,
    one_of,
    positive,
    required,
)
from .regsosek import KELUARGA_COLUMNS, keluarga_rows, keluarga_rules, member_checks

TABLE = "sources.usulan_person"
FAMILY_TABLE = "sources.usulan_family"
# the caseworker desk's monthly export of approved decisions (`dtsen.web.export`): CSV, comma, lowercase header,
# dates YYYY-MM-DD; a month with no decision has no folder (or header-only files)
USULAN_FAMILY_COLUMNS = [
    "no_tiket",
    "kode_desa",
    "alamat",
    *[c for c in KELUARGA_COLUMNS if c not in ("id_keluarga", "kode_desa", "alamat")],
    "tgl_verifikasi",
    "tgl_keputusan",
]
USULAN_MEMBER_COLUMNS = [
    "no_tiket",
    "no_urut",
    "nik",
    "no_kk",
    "nama",
    "jenis_kelamin",
    "tanggal_lahir",
    "hubungan_kk",
    "pendidikan",
    "pekerjaan",
    "jenjang_sekolah",
    "disabilitas_berat",
    "hamil",
]


def ingest(con: duckdb.DuckDBPyConnection, landing: str, month: str) -> IngestResult:
    """Approved proposals: the verified family (its Regsosek-style proxies) and its members as person records, so
    linkage links a proposed person who is already registered instead of adding them twice."""
    folder = delivery_dir(landing, "usulan", month)
    fpath, mpath = os.path.join(folder, "usulan_keluarga.csv"), os.path.join(folder, "usulan_anggota.csv")
    if not os.path.isdir(folder):
        return absent("usulan", month, folder)
    reference_tables(con, month)
    end = month_end(month)
    fraw = read_csv_file(
        fpath,
        ",",
        USULAN_FAMILY_COLUMNS,
        "lower",
        allow_empty=True,
        dates={"tgl_verifikasi": "%Y-%m-%d", "tgl_keputusan": "%Y-%m-%d"},
    )
    mraw = read_csv_file(
        mpath, ",", USULAN_MEMBER_COLUMNS, "lower", allow_empty=True, dates={"tanggal_lahir": "%Y-%m-%d"}
    )
    frules = [
        *keluarga_rules(key="no_tiket"),
        required("kode_desa"),
        *date_text("tgl_verifikasi", "%Y-%m-%d", end),
        required("tgl_keputusan"),
        *date_text("tgl_keputusan", "%Y-%m-%d", end),
    ]
    fst = stage(con, "_usulan_kel", fraw, frules, [duplicates("_usulan_kel", "no_tiket", every_holder=True)])
    mrules = [
        required("no_tiket"),
        required("no_urut"),
        positive("no_urut"),
        required("nama"),
        one_of("jenis_kelamin", {"L", "P"}),
        *date_text("tanggal_lahir", "%Y-%m-%d", end),
        code_in("hubungan_kk", RELATIONSHIP),
        code_in("pendidikan", EDUCATION),
        code_in("pekerjaan", WORK),
        one_of("jenjang_sekolah", SCHOOL),
        code_in("disabilitas_berat", BINARY),
        code_in("hamil", BINARY),
    ]
    mst = stage(
        con,
        "_usulan_ang",
        mraw,
        mrules,
        member_checks("_usulan_ang", "no_tiket", fst, "proposal not in usulan_keluarga.csv"),
    )
    base = f"""SELECT a.no_tiket || '-' || a.no_urut AS record_id, a._line AS line, a.nik AS _nik, a.no_kk AS _kk,
                      a.nama AS _name, {sex_letter_sql("jenis_kelamin")} AS _sex, a.jenis_kelamin AS sex_raw,
                      a.tanggal_lahir__date AS _bd, a.tanggal_lahir AS birth_date_raw, NULL AS birth_place,
                      {int8_sql("hubungan_kk")} AS relationship, k.alamat AS address, NULL AS rt, NULL AS rw,
                      {region_sql("k.kode_desa")}, a.no_tiket AS family_id_src, {int8_sql("pendidikan")} AS education,
                      {int8_sql("pekerjaan")} AS work, ({int8_sql("pekerjaan")} > 0)::TINYINT AS working,
                      {int8_sql("disabilitas_berat")} AS disability, {int8_sql("hamil")} AS pregnant,
                      a.jenjang_sekolah AS school_level, NULL::TINYINT AS marital_status, NULL::TINYINT AS kks,
                      NULL AS bank, NULL::TINYINT AS desil_p3ke, k.tgl_verifikasi__date AS updated_at
               FROM {mst.accepted} a JOIN {fst.accepted} k USING (no_tiket)"""
    family_rows = keluarga_rows(
        fst, month, ", tgl_verifikasi__date AS verified_on, tgl_keputusan__date AS decided_on", key="no_tiket"
    )
    return store_persons(
        con,
        "usulan",
        TABLE,
        month,
        [fst, mst],
        base,
        fraw.warnings + mraw.warnings,
        extra_tables=[(FAMILY_TABLE, family_rows, "delivery = ?", month)],
    )
