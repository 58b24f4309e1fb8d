"""P3KE `p3ke/<YYYY-MM>/p3ke.csv`, a snapshot of the extreme-poverty data: CSV, `|` delimiter, lower-case header,
dates YYYYMMDD, desil 1-4."""

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
    EDUCATION,
    RELATIONSHIP,
    WORK,
    code_in,
    date_text,
    in_reference,
    one_of,
    required,
)

TABLE = "sources.p3ke_person"
COLUMNS = [
    "id_keluarga_p3ke",
    "id_individu_p3ke",
    "kode_kemendagri",
    "nik",
    "no_kk",
    "nama",
    "jk",
    "tgl_lahir",
    "hubungan",
    "alamat",
    "desil_p3ke",
    "pekerjaan",
    "pendidikan",
]


def ingest(con: duckdb.DuckDBPyConnection, landing: str, month: str) -> IngestResult:
    path = os.path.join(delivery_dir(landing, "p3ke", month), "p3ke.csv")
    if not os.path.exists(path):
        return absent("p3ke", month, path)
    reference_tables(con, month)
    raw = read_csv_file(path, "|", COLUMNS, "lower", allow_empty=False, dates={"tgl_lahir": "%Y%m%d"})
    rules = [
        required("id_keluarga_p3ke"),
        required("id_individu_p3ke"),
        required("nama"),
        in_reference("kode_kemendagri", "_villages"),
        one_of("jk", {"L", "P"}),
        *date_text("tgl_lahir", "%Y%m%d", month_end(month)),
        code_in("hubungan", RELATIONSHIP),
        code_in("desil_p3ke", {1, 2, 3, 4}),
        code_in("pekerjaan", WORK),
        code_in("pendidikan", EDUCATION),
    ]
    st = stage(con, "_p3ke", raw, rules, [duplicates("_p3ke", "id_individu_p3ke", every_holder=True)])
    base = f"""SELECT id_individu_p3ke AS record_id, _line AS line, nik AS _nik, no_kk AS _kk, nama AS _name,
                      {sex_letter_sql("jk")} AS _sex, jk AS sex_raw, tgl_lahir__date AS _bd, tgl_lahir AS birth_date_raw,
                      NULL AS birth_place, {int8_sql("hubungan")} AS relationship, alamat AS address, NULL AS rt,
                      NULL AS rw, {region_sql("kode_kemendagri")}, id_keluarga_p3ke AS family_id_src,
                      {int8_sql("pendidikan")} AS education, {int8_sql("pekerjaan")} AS work,
                      ({int8_sql("pekerjaan")} > 0)::TINYINT AS working, NULL::TINYINT AS disability,
                      NULL::TINYINT AS pregnant, NULL AS school_level, NULL::TINYINT AS marital_status,
                      NULL::TINYINT AS kks, NULL AS bank, {int8_sql("desil_p3ke")} AS desil_p3ke, NULL::DATE AS updated_at
               FROM {st.accepted}"""
    return store_persons(con, "p3ke", TABLE, month, [st], base, raw.warnings)
