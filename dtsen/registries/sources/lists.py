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
    full: bool  # a full list each month (civil servants, wage earners), not the month's events (deaths)


# A list that excludes people from aid and shrinks to less than this share of what it held (or to nothing) is held,
# not ingested: an emptied death list makes the dead payable again. An operator who has checked it confirms it
# (`confirmed`, the run's `ingest_settings.confirmed_shrinks`: "<source>/<YYYY-MM>").
SHRINK_FLOOR = 0.5


DEATHS = AdminList("dukcapil", "kematian.csv", ("nik", "tgl_meninggal"), "sources.death", full=False)
CIVIL_SERVANTS = AdminList("asn", "asn.csv", ("nik",), "sources.asn", full=True)
WAGES = AdminList("bpjstk", "upah.csv", ("nik", "upah_bulanan", "kode_prov"), "sources.wage", full=True)


def ingest_deaths(con, landing: str, month: str, confirmed: frozenset[str] = frozenset()) -> IngestResult:
    return _ingest_list(con, landing, month, DEATHS, confirmed)


def ingest_civil_servants(con, landing: str, month: str, confirmed: frozenset[str] = frozenset()) -> IngestResult:
    return _ingest_list(con, landing, month, CIVIL_SERVANTS, confirmed)


def ingest_wages(con, landing: str, month: str, confirmed: frozenset[str] = frozenset()) -> IngestResult:
    return _ingest_list(con, landing, month, WAGES, confirmed)


def previous_rows(con: duckdb.DuckDBPyConnection, spec: AdminList, month: str) -> tuple[str | None, int]:
    """What the list held before this delivery: the month's own earlier delivery, else (a full list) the latest
    earlier month's; (None, 0) when there is nothing to compare with."""
    row = con.execute(f"SELECT count(*) FROM {spec.table} WHERE delivery = ?", [month]).fetchall()[0][0]
    if row or not spec.full:
        return (month, int(row)) if row else (None, 0)
    earlier = con.execute(
        f"SELECT delivery, count(*) FROM {spec.table} WHERE delivery < ? GROUP BY 1 ORDER BY 1 DESC LIMIT 1", [month]
    ).fetchall()
    return (earlier[0][0], int(earlier[0][1])) if earlier else (None, 0)


def shrunk(previous: int, now: int) -> bool:
    return previous > 0 and now < previous * SHRINK_FLOOR


def _ingest_list(
    con: duckdb.DuckDBPyConnection, landing: str, month: str, spec: AdminList, confirmed: frozenset[str]
) -> IngestResult:
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
    (accepted,) = con.execute(f"SELECT count(*) FROM {st.accepted}").fetchall()[0]
    before, previous = previous_rows(con, spec, month)
    if shrunk(previous, accepted) and f"{source}/{month}" not in confirmed:
        drop_staged(con, [st])
        held = (
            f"{path}: {accepted:,} accepted rows where the list held {previous:,} ({before}): a list that excludes "
            f"people from aid shrank to less than {SHRINK_FLOOR:.0%} of what it held, so it is held and the "
            f"earlier rows stay; once checked, confirm it with ingest_settings.confirmed_shrinks: ['{source}/{month}']"
        )
        return IngestResult(source, month, True, [], {}, raw.warnings, note=held, held=held)
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
