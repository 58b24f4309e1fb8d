"""The administrative lists, each CSV, comma, lower-case header, dates YYYY-MM-DD, possibly empty, keyed on NIK (a
malformed NIK quarantines the row: it is the only key): Dukcapil's deaths `dukcapil/<YYYY-MM>/kematian.csv`
(`nik, tgl_meninggal`), civil servants `asn/<YYYY-MM>/asn.csv` (`nik`) and BPJS Ketenagakerjaan's wage earners
`bpjstk/<YYYY-MM>/upah.csv` (`nik, upah_bulanan, kode_prov`, the province of work)."""

from __future__ import annotations

import os
from dataclasses import dataclass

import duckdb

from ..engine import (
    IngestResult,
    absent,
    delivery_dir,
    drop_staged,
    duplicates,
    month_end,
    stage,
    stage_quarantine,
    write_delivery,
)
from ..files import read_csv_file
from ..nik import mask_nik
from ..rules import (
    date_text,
    digits,
    lit,
    non_negative,
    required,
)


@dataclass(frozen=True)
class AdminList:
    source: str  # the source's name and landing folder
    file: str
    columns: tuple[str, ...]  # required columns
    table: str


DEATHS = AdminList("dukcapil", "kematian.csv", ("nik", "tgl_meninggal"), "sources.death")
CIVIL_SERVANTS = AdminList("asn", "asn.csv", ("nik",), "sources.asn")
WAGES = AdminList("bpjstk", "upah.csv", ("nik", "upah_bulanan", "kode_prov"), "sources.wage")


def ingest_deaths(con: duckdb.DuckDBPyConnection, landing: str, month: str) -> IngestResult:
    return _ingest_list(con, landing, month, DEATHS)


def ingest_civil_servants(con: duckdb.DuckDBPyConnection, landing: str, month: str) -> IngestResult:
    return _ingest_list(con, landing, month, CIVIL_SERVANTS)


def ingest_wages(con: duckdb.DuckDBPyConnection, landing: str, month: str) -> IngestResult:
    return _ingest_list(con, landing, month, WAGES)


def _ingest_list(con: duckdb.DuckDBPyConnection, landing: str, month: str, spec: AdminList) -> IngestResult:
    source, table = spec.source, spec.table
    path = os.path.join(delivery_dir(landing, source, month), spec.file)
    if not os.path.exists(path):
        return absent(source, month, path)
    raw = read_csv_file(
        path,
        ",",
        list(spec.columns),
        "lower",
        allow_empty=True,
        dates={"tgl_meninggal": "%Y-%m-%d"} if spec is DEATHS else None,
    )
    rules = [required("nik"), digits("nik", 16)]
    columns = ""
    if spec is DEATHS:
        rules += date_text("tgl_meninggal", "%Y-%m-%d", month_end(month))
        columns = ", tgl_meninggal__date AS death_date"
    if spec is WAGES:
        rules += [required("upah_bulanan"), non_negative("upah_bulanan"), digits("kode_prov", 2)]
        columns = (
            ", coalesce(TRY_CAST(upah_bulanan AS BIGINT), round(TRY_CAST(upah_bulanan AS DOUBLE))::BIGINT) "
            "AS monthly_wage, kode_prov AS province_code"
        )
    st = stage(con, "_admin", raw, rules, [duplicates("_admin", "nik")])
    q = stage_quarantine(con, source, month, [st])
    rows = f"SELECT {lit(month)} AS delivery, nik, {lit(path)} AS file, _line AS line{columns} FROM {st.accepted}"
    files, by_reason = write_delivery(
        con, source, month, [raw], [(table, rows, "delivery = ?", month)], q, raw.warnings
    )
    drop_staged(con, [st])
    head = con.execute(f"SELECT nik FROM {table} WHERE delivery = ? ORDER BY line LIMIT 5", [month]).df()
    return IngestResult(
        source, month, True, files, by_reason, raw.warnings, preview=head.assign(nik=mask_nik(head["nik"]))
    )
