"""DTKS `dtks/<YYYY-MM>/dtks.csv`, a monthly full snapshot: CSV, comma, UTF-8, upper-case header, dates DD-MM-YYYY.
DTKS has no household id of its own: the KK is its family key."""

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
    stage,
    store_persons,
)
from ..files import read_csv_file
from ..rules import (
    BINARY,
    EDUCATION,
    HIMBARA,
    RELATIONSHIP,
    WORK,
    Rule,
    code_in,
    date_text,
    digits,
    in_reference,
    lit,
    one_of,
    required,
)

TABLE = "sources.dtks_person"
COLUMNS = [
    "ID_DTKS",
    "NIK",
    "NO_KK",
    "NAMA",
    "JNS_KEL",
    "TMP_LAHIR",
    "TGL_LAHIR",
    "HUB_KRT",
    "ALAMAT",
    "RT",
    "RW",
    "KODE_DESA",
    "DISABILITAS_BERAT",
    "HAMIL",
    "PENDIDIKAN",
    "PEKERJAAN",
    "KKS",
    "BANK",
    "TGL_UPDATE",
]


def ingest(con: duckdb.DuckDBPyConnection, landing: str, month: str) -> IngestResult:
    path = os.path.join(delivery_dir(landing, "dtks", month), "dtks.csv")
    if not os.path.exists(path):
        return absent("dtks", month, path)
    reference_tables(con, month)
    raw = read_csv_file(
        path, ",", COLUMNS, "upper", allow_empty=False, dates={"TGL_LAHIR": "%d-%m-%Y", "TGL_UPDATE": "%d-%m-%Y"}
    )
    end = month_end(month)
    rules = [
        required("ID_DTKS"),
        required("NAMA"),
        code_in("JNS_KEL", {1, 2}),
        *date_text("TGL_LAHIR", "%d-%m-%Y", end),
        code_in("HUB_KRT", RELATIONSHIP),
        digits("RT", 3),
        digits("RW", 3),
        in_reference("KODE_DESA", "_villages"),
        code_in("DISABILITAS_BERAT", BINARY),
        code_in("HAMIL", BINARY),
        code_in("PENDIDIKAN", EDUCATION),
        code_in("PEKERJAAN", WORK),
        code_in("KKS", BINARY),
        one_of("BANK", HIMBARA),
        *date_text("TGL_UPDATE", "%d-%m-%Y", end),
        Rule(
            "BANK",
            "BANK IS NOT NULL AND TRY_CAST(KKS AS DOUBLE) = 0",
            lit("BANK given while KKS = 0 (the contract: BANK empty when KKS = 0)"),
        ),
    ]
    st = stage(con, "_dtks", raw, rules, [duplicates("_dtks", "ID_DTKS", every_holder=True)])
    base = f"""SELECT ID_DTKS AS record_id, _line AS line, NIK AS _nik, NO_KK AS _kk, NAMA AS _name,
                      {int8_sql("JNS_KEL")} AS _sex, JNS_KEL AS sex_raw, TGL_LAHIR__date AS _bd,
                      TGL_LAHIR AS birth_date_raw, TMP_LAHIR AS birth_place, {int8_sql("HUB_KRT")} AS relationship,
                      ALAMAT AS address, RT AS rt, RW AS rw, {region_sql("KODE_DESA")},
                      NO_KK AS family_id_src, {int8_sql("PENDIDIKAN")} AS education, {int8_sql("PEKERJAAN")} AS work,
                      ({int8_sql("PEKERJAAN")} > 0)::TINYINT AS working, {int8_sql("DISABILITAS_BERAT")} AS disability,
                      {int8_sql("HAMIL")} AS pregnant, NULL AS school_level, NULL::TINYINT AS marital_status,
                      {int8_sql("KKS")} AS kks, BANK AS bank, NULL::TINYINT AS desil_p3ke, TGL_UPDATE__date AS updated_at
               FROM {st.accepted}"""
    # DTKS has no household id of its own: the KK is its family key (family_id_src)
    return store_persons(con, "dtks", TABLE, month, [st], base, raw.warnings)
