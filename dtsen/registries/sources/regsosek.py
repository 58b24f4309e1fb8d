"""Regsosek `regsosek/<YYYY-MM>/keluarga.parquet` + `individu.parquet`, a snapshot: families with their housing and
asset proxies, persons (NIK and KK nullable). The keluarga table's shape and rules are shared by the consumption
survey and the caseworker desk's verified proposals."""

from __future__ import annotations

import os

import duckdb

from ..engine import (
    IngestResult,
    Staged,
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
    text_columns,
)
from ..files import read_parquet_file
from ..rules import (
    BINARY,
    EDUCATION,
    MARITAL,
    NON_NEGATIVE,
    PROXY_CODES,
    RELATIONSHIP,
    SCHOOL,
    WORK,
    Rule,
    code_in,
    date_not_after,
    duplicates_sql,
    in_reference,
    lit,
    non_negative,
    one_of,
    positive,
    required,
)

TABLE = "sources.regsosek_person"
FAMILY_TABLE = "sources.regsosek_family"
KELUARGA_COLUMNS = {
    "id_keluarga": "str",
    "kode_desa": "str",
    "alamat": "str",
    **{
        c: "int"
        for c in [
            "status_bangunan",
            "luas_lantai_m2",
            "jenis_lantai",
            "jenis_dinding",
            "jenis_atap",
            "sumber_air_minum",
            "fasilitas_bab",
            "sumber_penerangan",
            "bahan_bakar_masak",
            "aset_kulkas",
            "aset_motor",
            "aset_mobil",
            "aset_lahan_m2",
            "aset_ternak",
            "jumlah_art",
            "desa_terpencil",
        ]
    },
}
INDIVIDU_COLUMNS = {
    "id_keluarga": "str",
    "no_urut": "int",
    "nik": "str",
    "no_kk": "str",
    "nama": "str",
    "jenis_kelamin": "str",
    "tanggal_lahir": "date",
    "hubungan_kk": "int",
    "status_kawin": "int",
    "pendidikan": "int",
    "jenjang_sekolah": "str",
    "bekerja": "int",
    "lapangan_usaha": "int",
    "disabilitas_berat": "int",
    "hamil": "int",
}


def keluarga_rules(with_consumption: bool = False, key: str = "id_keluarga") -> list[Rule]:
    """The household table's rules (Regsosek keluarga, the survey, a proposal's verified household)."""
    rules = [required(key), in_reference("kode_desa", "_villages")]
    rules += [code_in(c, allowed) for c, allowed in PROXY_CODES.items()] + [non_negative(c) for c in NON_NEGATIVE]
    if with_consumption:
        rules += [required("pengeluaran_per_kapita", text=False), positive("pengeluaran_per_kapita")]
    return rules


def keluarga_rows(st: Staged, month: str, extra: str = "", key: str = "id_keluarga") -> str:
    """Accepted household rows; proxies delivered as text (CSV) are read as numbers the way the rules judged them."""
    text = set(text_columns(st.raw))
    proxies = ", ".join(
        f"TRY_CAST(TRY_CAST({c} AS DOUBLE) AS BIGINT) AS {c}" if c in text else c
        for c in KELUARGA_COLUMNS
        if c not in ("id_keluarga", "kode_desa", "alamat")
    )
    return (
        f"SELECT {lit(month)} AS delivery, {key}, {lit(st.raw.path)} AS file, _line AS line, "
        f"kode_desa AS village_code, alamat AS address, {proxies}{extra} FROM {st.accepted}"
    )


def member_checks(table: str, family_col: str, families: Staged, missing: str) -> list[str]:
    """Failure queries for a member table: a (family, no_urut) twice, and members whose family row is absent or
    quarantined (`missing` names where it should have been)."""
    key = f"CASE WHEN {family_col} IS NOT NULL AND no_urut IS NOT NULL THEN {family_col} || '-' || no_urut END"
    orphans = (
        f"SELECT _line AS line, {lit(family_col)} AS field, left({family_col}, 200) AS value, "
        f"{lit(missing + ' (or its family row was quarantined)')} AS reason FROM {table} "
        f"WHERE {family_col} IS NOT NULL AND {family_col} NOT IN (SELECT {family_col} FROM {families.accepted})"
    )
    return [duplicates_sql(table, key, f"{family_col}-no_urut", every_holder=True), orphans]


def ingest(con: duckdb.DuckDBPyConnection, landing: str, month: str) -> IngestResult:
    folder = delivery_dir(landing, "regsosek", month)
    kpath, ipath = os.path.join(folder, "keluarga.parquet"), os.path.join(folder, "individu.parquet")
    if not os.path.isdir(folder):
        return absent("regsosek", month, folder)
    reference_tables(con, month)
    kraw = read_parquet_file(kpath, KELUARGA_COLUMNS)
    iraw = read_parquet_file(ipath, INDIVIDU_COLUMNS)
    kst = stage(con, "_keluarga", kraw, keluarga_rules(), [duplicates("_keluarga", "id_keluarga", every_holder=True)])
    rules = [
        required("id_keluarga"),
        required("no_urut", text=False),
        required("nama"),
        one_of("jenis_kelamin", {"L", "P"}),
        date_not_after("tanggal_lahir", month_end(month)),
        code_in("hubungan_kk", RELATIONSHIP),
        code_in("status_kawin", MARITAL),
        code_in("pendidikan", EDUCATION),
        one_of("jenjang_sekolah", SCHOOL),
        code_in("bekerja", BINARY),
        code_in("lapangan_usaha", WORK),
        code_in("disabilitas_berat", BINARY),
        code_in("hamil", BINARY),
    ]
    ist = stage(
        con, "_individu", iraw, rules, member_checks("_individu", "id_keluarga", kst, "family not in keluarga.parquet")
    )
    base = f"""SELECT i.id_keluarga || '-' || i.no_urut AS record_id, i._line AS line, i.nik AS _nik, i.no_kk AS _kk,
                      i.nama AS _name, {sex_letter_sql("jenis_kelamin")} AS _sex, i.jenis_kelamin AS sex_raw,
                      i.tanggal_lahir::DATE AS _bd, strftime(i.tanggal_lahir::DATE, '%Y-%m-%d') AS birth_date_raw,
                      NULL AS birth_place, {int8_sql("hubungan_kk")} AS relationship, k.alamat AS address, NULL AS rt,
                      NULL AS rw, {region_sql("k.kode_desa")}, i.id_keluarga AS family_id_src,
                      {int8_sql("pendidikan")} AS education, {int8_sql("lapangan_usaha")} AS work,
                      {int8_sql("bekerja")} AS working, {int8_sql("disabilitas_berat")} AS disability,
                      {int8_sql("hamil")} AS pregnant, i.jenjang_sekolah AS school_level,
                      {int8_sql("status_kawin")} AS marital_status, NULL::TINYINT AS kks, NULL AS bank,
                      NULL::TINYINT AS desil_p3ke, NULL::DATE AS updated_at
               FROM {ist.accepted} i LEFT JOIN {kst.accepted} k USING (id_keluarga)"""
    return store_persons(
        con,
        "regsosek",
        TABLE,
        month,
        [kst, ist],
        base,
        kraw.warnings + iraw.warnings,
        extra_tables=[(FAMILY_TABLE, keluarga_rows(kst, month), "delivery = ?", month)],
    )
