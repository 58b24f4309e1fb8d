"""The region reference `referensi/wilayah.csv` (`kode, nama, tingkat, kode_induk`: the Kemendagri code list), a
standing delivery: the latest file is valid for every month from its delivery on. Every other source's village codes
are checked against it."""

from __future__ import annotations

import os

import duckdb

from ..engine import (
    IngestResult,
    absent,
    drop_staged,
    duplicates,
    stage,
    stage_quarantine,
    write_delivery,
)
from ..files import DeliveryFileError, read_csv_file
from ..rules import (
    Rule,
    lit,
    one_of,
    required,
)

TABLE = "sources.region"
COLUMNS = ["kode", "nama", "tingkat", "kode_induk"]
LEVEL_LENGTH = {"provinsi": 2, "kabupaten": 4, "kecamatan": 6, "desa": 10}


def ingest(con: duckdb.DuckDBPyConnection, landing: str, month: str) -> IngestResult:
    path = os.path.join(landing, "referensi", "wilayah.csv")
    if not os.path.exists(path):
        return absent("referensi", month, path)
    raw = read_csv_file(path, ",", COLUMNS, "lower", allow_empty=False)
    # the reference is authoritative: one code with two meanings makes it ambiguous, so the file is refused (the
    # previous reference stays); a row repeated word for word is only a duplicate (quarantined)
    con.register("_region_raw", raw.table)
    codes = [
        r[0]
        for r in con.execute(
            "SELECT kode FROM (SELECT DISTINCT kode, nama, tingkat, kode_induk FROM _region_raw) WHERE kode IS NOT NULL "
            "GROUP BY kode HAVING count(*) > 1 ORDER BY kode"
        ).fetchall()
    ]
    con.unregister("_region_raw")
    if codes:
        raise DeliveryFileError(
            path,
            f"region code(s) with two meanings {codes[:5]}{' ...' if len(codes) > 5 else ''}:"
            f" the reference is ambiguous",
        )
    length = "CASE tingkat " + " ".join(f"WHEN {lit(k)} THEN {n}" for k, n in LEVEL_LENGTH.items()) + " END"
    rules = [
        required("kode"),
        required("nama"),
        required("tingkat"),
        one_of("tingkat", set(LEVEL_LENGTH)),
        Rule(
            "kode",
            f"kode IS NOT NULL AND coalesce(NOT (regexp_full_match(kode, '[0-9]+') AND length(kode) = {length}), true)",
            lit("kode length does not match tingkat"),
        ),
    ]
    st = stage(con, "_region", raw, rules, [duplicates("_region", "kode")])
    q = stage_quarantine(con, "referensi", month, [st])
    rows = (
        f"SELECT kode, nama, tingkat, coalesce(kode_induk, '') AS kode_induk, _line AS line, "
        f"{lit(month)} AS delivery, {lit(path)} AS file FROM {st.accepted}"
    )
    files, by_reason = write_delivery(
        con, "referensi", month, [raw], [("sources.region", rows, "delivery = ?", month)], q, raw.warnings
    )
    drop_staged(con, [st])
    preview = con.execute(
        "SELECT kode, nama, tingkat, kode_induk FROM sources.region WHERE delivery = ? ORDER BY line LIMIT 5", [month]
    ).df()
    return IngestResult("referensi", month, True, files, by_reason, raw.warnings, preview=preview)
