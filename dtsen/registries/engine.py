"""The ingestion engine every source shares (plain functions, no Dagster): stage a file's rows in DuckDB and evaluate
the source's rules on them, collect reader rejects and rule failures into quarantine rows, map accepted rows onto the
canonical person record, and replace exactly one delivery's partition (tables, quarantine rows, ingest log) in one
transaction. Nothing is dropped silently: every record of every file is either stored or quarantined with its line,
field, value and reason, and the counts are checked against the file itself before anything is written.

What each source delivers and how its columns map is in `dtsen.registries.sources` (one module per source).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import duckdb
import pandas as pd
import pyarrow as pa

from dtsen import warehouse as wh
from dtsen.privacy import mask_name
from dtsen.textops import upper_single_spaced

from .files import DeliveryFileError, RawFile
from .nik import identity_sql, mask_nik, nik_flag_sql
from .rules import EDUCATION, RELATIONSHIP, WORK, Rule, duplicates_sql, failures_sql, ident, lit, max_length


class NoRegionReference(Exception):
    pass


class WarehouseWriteError(RuntimeError):
    """Writing to the warehouse failed (disk, lock): the platform's problem, not the delivery's. Rolled back."""


@dataclass
class FileReport:
    file: str
    rows_read: int
    rows_accepted: int
    rows_quarantined: int


@dataclass
class IngestResult:
    source: str
    delivery: str
    delivered: bool
    files: list[FileReport] = field(default_factory=list)
    quarantine_by_reason: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    nik_valid_rate: float | None = None
    preview: pd.DataFrame | None = None
    note: str = ""
    refused: dict[str, str] = field(default_factory=dict)  # file -> why it was not used (the delivery still was)
    held: str = ""  # why the delivery was held: its partition left as it was until an operator confirms it

    @property
    def rows_read(self) -> int:
        return sum(f.rows_read for f in self.files)

    @property
    def rows_accepted(self) -> int:
        return sum(f.rows_accepted for f in self.files)

    @property
    def rows_quarantined(self) -> int:
        return sum(f.rows_quarantined for f in self.files)

    @property
    def quarantine_share(self) -> float:
        return self.rows_quarantined / self.rows_read if self.rows_read else 0.0


def month_end(month: str) -> pd.Timestamp:
    return (pd.Period(month, "M") + 1).to_timestamp()


def delivery_dir(landing: str, folder: str, month: str) -> str:
    return os.path.join(landing, folder, month)


# ------------------------------------------------------------------ shared steps (all in DuckDB)
_I8 = "TRY_CAST(TRY_CAST({} AS DOUBLE) AS TINYINT)"


def int8_sql(col: str) -> str:
    return _I8.format(ident(col))


def sex_letter_sql(col: str) -> str:
    return f"CASE {ident(col)} WHEN 'L' THEN 1 WHEN 'P' THEN 2 END::TINYINT"


def clean_name(s: pd.Series) -> pd.Series:
    """Upper case, single spaces, no surrounding spaces (for frames; `clean_name_sql` is the same in SQL)."""
    return upper_single_spaced(s)


def clean_name_sql(col: str) -> str:
    # most names need no collapsing: only a name with white space or a Unicode space (which trim() removes) at
    # either end, two white spaces together or white space other than the space is rewritten (the test is a
    # third of the rewrite's cost)
    return (
        f"CASE WHEN regexp_matches({col}, '^[\\s\\p{{Zs}}]|[\\s\\p{{Zs}}]$|\\s\\s|[\\t\\n\\f\\r]') "
        f"THEN {collapse_name_sql(col)} ELSE upper({col}) END"
    )


def collapse_name_sql(col: str) -> str:
    """Upper case with every run of white space one space, none at either end (`clean_name_sql` does it only where
    it changes something)."""
    return f"trim(regexp_replace(upper({col}), '\\s+', ' ', 'g'))"


def region_sql(village: str) -> str:
    return (
        f"{village} AS village_code, left({village}, 6) AS district_code, left({village}, 4) AS regency_code, "
        f"left({village}, 2) AS province_code"
    )


def reference_codes(con: duckdb.DuckDBPyConnection, month: str) -> tuple[set[str], set[str]]:
    """Village and district codes of the latest region reference delivered up to `month`."""
    delivery = _reference_delivery(con, month)
    ref = con.execute("SELECT kode, tingkat FROM sources.region WHERE delivery = ?", [delivery]).df()
    return set(ref.loc[ref["tingkat"] == "desa", "kode"]), set(ref.loc[ref["tingkat"] == "kecamatan", "kode"])


def _reference_delivery(con: duckdb.DuckDBPyConnection, month: str) -> str:
    row = con.execute("SELECT max(delivery) FROM sources.region WHERE delivery <= ?", [month]).fetchall()[0]
    if row is None or row[0] is None:
        raise NoRegionReference(
            f"no region reference ingested for {month} or earlier: deliver "
            "referensi/wilayah.csv and materialise region_reference first"
        )
    return row[0]


def reference_tables(con: duckdb.DuckDBPyConnection, month: str) -> None:
    """TEMP tables _villages and _districts (column kode) from the latest region reference up to the month."""
    delivery = _reference_delivery(con, month)
    for name, level in (("_villages", "desa"), ("_districts", "kecamatan")):
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT DISTINCT kode FROM sources.region "
            f"WHERE delivery = ? AND tingkat = ?",
            [delivery, level],
        )


def text_columns(raw: RawFile) -> list[str]:
    return [f.name for f in raw.table.schema if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)]


@dataclass
class Staged:
    """A file's rows registered in DuckDB (`name`) with its failures (`name`_fail: line, field, value, reason)."""

    raw: RawFile
    name: str

    @property
    def fail(self) -> str:
        return self.name + "_fail"

    @property
    def accepted(self) -> str:
        """The rows that broke no rule."""
        return f"(SELECT * FROM {self.name} WHERE _line NOT IN (SELECT line FROM {self.fail}))"


def stage(
    con: duckdb.DuckDBPyConnection, name: str, raw: RawFile, rules: list[Rule], extra: list[str] | None = None
) -> Staged:
    """Register the file's rows and evaluate every rule on them (plus the too-long rule on each text column and any
    extra failure queries over `name`, e.g. duplicate ids)."""
    con.register(name, raw.table)
    parts = [failures_sql(name, rules + max_length(text_columns(raw)))] + (extra or [])
    con.execute(f"CREATE OR REPLACE TEMP TABLE {name}_fail AS " + " UNION ALL ".join(f"({p})" for p in parts))
    return Staged(raw, name)


def stage_quarantine(con: duckdb.DuckDBPyConnection, source: str, delivery: str, staged: list[Staged]) -> str:
    """TEMP table _quarantine: reader rejects and rule failures of the delivery's files, in file and line order."""
    parts = []
    for st in staged:
        parts.append(f"SELECT {lit(st.raw.path)} AS file, line, field, value, reason FROM {st.fail}")
        if len(st.raw.rejects):
            con.register(st.name + "_rejects", st.raw.rejects)
            parts.append(
                f"SELECT {lit(st.raw.path)} AS file, line::BIGINT AS line, field::VARCHAR AS field, "
                f"value::VARCHAR AS value, reason::VARCHAR AS reason FROM {st.name}_rejects"
            )
    con.execute(f"""CREATE OR REPLACE TEMP TABLE _quarantine AS
        SELECT {lit(source)} AS source, {lit(delivery)} AS delivery, file, line, field, value, reason
        FROM ({" UNION ALL ".join(parts)}) ORDER BY file, line, field""")
    return "SELECT * FROM _quarantine"


def duplicates(table: str, column: str, every_holder: bool = False) -> str:
    return duplicates_sql(table, ident(column), column, every_holder)


# the canonical person record: a failure here is a bug in the mapping, not bad input
_GUARD = {
    "delivery": "NOT regexp_full_match(delivery, '[0-9]{4}-[0-9]{2}')",
    "line": "line IS NULL OR line < 1",
    "nik": "NOT regexp_full_match(nik, '[0-9]{16}')",
    "nik_flag": "nik_flag NOT IN ('missing', 'bad_format', 'bad_date', 'unknown_district')",
    "no_kk": "NOT regexp_full_match(no_kk, '[0-9]{16}')",
    "name": "name IS NULL OR name = ''",
    "sex": "sex NOT IN (1, 2)",
    "relationship": f"relationship NOT IN ({', '.join(map(str, sorted(RELATIONSHIP)))})",
    "village_code": "NOT regexp_full_match(village_code, '[0-9]{10}')",
    "education": f"education NOT IN ({', '.join(map(str, sorted(EDUCATION)))})",
    "work": f"work NOT IN ({', '.join(map(str, sorted(WORK)))})",
    "desil_p3ke": "desil_p3ke NOT IN (1, 2, 3, 4)",
}


def _guard_persons(con: duckdb.DuckDBPyConnection, table: str, source: str, delivery: str) -> None:
    guard = {"source": f"source <> {lit(source)}", **_GUARD}
    counts = ", ".join(f"count(*) FILTER (WHERE coalesce({bad}, false))" for bad in guard.values())
    row = con.execute(
        f"SELECT {counts}, count(*) - count(DISTINCT record_id) FROM {table} WHERE delivery = ?", [delivery]
    ).fetchall()[0]
    broken = {c: n for c, n in zip([*guard, "record_id (unique)"], row) if n}
    if broken:
        raise AssertionError(f"canonical person records of {table} {delivery} break their schema: {broken}")


def write_delivery(
    con: duckdb.DuckDBPyConnection,
    source: str,
    delivery: str,
    raws: list[RawFile],
    tables: list[tuple[str, str | pd.DataFrame, str, str]],
    quarantine: str | pd.DataFrame,
    warnings: list[str],
    guard: bool = False,
    refused: dict[str, str] | None = None,
) -> tuple[list[FileReport], dict[str, int]]:
    """Replace exactly this delivery's partition (all tables, quarantine, log) in one transaction.

    refused: files of the delivery that were not used (file -> why, e.g. an unusable survey year), each logged with
    no rows and the reason, so the ingest log names every file that arrived.
    tables: (table, rows as a SQL query or a frame, WHERE clause selecting the partition, value bound to its ?).
    quarantine: a relation or frame with source, delivery, file, line, field, value, reason.
    Every file's records (counted from the file itself) must equal its rows stored plus its quarantined lines, and
    the stored person records must pass their guard; otherwise nothing is written and the file is named.
    Returns the per-file reports and the quarantined lines by reason.
    """
    registered = []

    def relation(rows: str | pd.DataFrame, name: str) -> str:
        if isinstance(rows, str):
            return f"({rows})"
        con.register(name, rows)
        registered.append(name)
        return f"(SELECT * FROM {name})"

    try:
        q = relation(quarantine, "_quarantine_frame")
        with wh.transaction(con):
            try:
                for i, (table, rows, where, key) in enumerate(tables):
                    con.execute(f"DELETE FROM {table} WHERE {where}", [key])
                    if not (isinstance(rows, pd.DataFrame) and rows.empty):
                        con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM {relation(rows, f'_rows_{i}')}")
                con.execute("DELETE FROM sources.quarantine WHERE source = ? AND delivery = ?", [source, delivery])
                con.execute(
                    f"INSERT INTO sources.quarantine BY NAME SELECT source, delivery, file, line, field, "
                    f"value, reason FROM {q}"
                )
            except duckdb.Error as e:
                raise WarehouseWriteError(
                    f"writing {source} {delivery} to the warehouse failed (nothing was "
                    f"changed): {type(e).__name__}: {e}"
                ) from e
            stored_sql = " UNION ALL ".join(
                f"SELECT file, count(*) AS n FROM {t} WHERE {w} GROUP BY file" for t, _, w, _ in tables
            )
            stored = dict(con.execute(stored_sql, [k for _, _, _, k in tables]).fetchall())
            quarantined = dict(con.execute(f"SELECT file, count(DISTINCT line) FROM {q} GROUP BY file").fetchall())
            files = [
                FileReport(r.path, r.rows_read, int(stored.get(r.path, 0)), int(quarantined.get(r.path, 0)))
                for r in raws
            ]
            for f in files:
                if f.rows_accepted + f.rows_quarantined != f.rows_read:
                    raise DeliveryFileError(
                        f.file,
                        f"cannot account for every record: {f.rows_read:,} in the file, "
                        f"{f.rows_accepted:,} to store and {f.rows_quarantined:,} "
                        f"quarantined",
                    )
            if guard:
                _guard_persons(con, tables[0][0], source, delivery)
            by_reason = {
                str(r): int(n)
                for r, n in con.execute(
                    f"SELECT reason, count(DISTINCT line) AS n FROM {q} GROUP BY reason ORDER BY n DESC, reason"
                ).fetchall()
            }
            con.execute("DELETE FROM sources.ingest_log WHERE source = ? AND delivery = ?", [source, delivery])
            now = pd.Timestamp.now()
            for f in files:
                con.execute(
                    "INSERT INTO sources.ingest_log VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        source,
                        delivery,
                        f.file,
                        f.rows_read,
                        f.rows_accepted,
                        f.rows_quarantined,
                        "\n".join(w for w in warnings if f.file in w) or None,
                        now,
                    ],
                )
            for path, why in (refused or {}).items():
                con.execute(
                    "INSERT INTO sources.ingest_log VALUES (?, ?, ?, 0, 0, 0, ?, ?)",
                    [source, delivery, path, f"refused: {why}", now],
                )
    finally:
        for name in registered:
            con.unregister(name)
    return files, by_reason


def drop_staged(con: duckdb.DuckDBPyConnection, staged: list[Staged]) -> None:
    for st in staged:
        con.unregister(st.name)
        if len(st.raw.rejects):
            con.unregister(st.name + "_rejects")
        con.execute(f"DROP TABLE IF EXISTS {st.fail}")
    con.execute("DROP TABLE IF EXISTS _quarantine")


def absent(source: str, month: str, path: str) -> IngestResult:
    return IngestResult(
        source=source,
        delivery=month,
        delivered=False,
        note=f"no {source} delivery for {month} ({path} not found): nothing changed",
    )


def _person_select(source: str, month: str, path: str, base: str) -> str:
    """The canonical person record from `base`, a query giving the source's columns under canonical names plus
    _nik, _kk, _sex (TINYINT), _bd (DATE), _name (raw name) and line."""
    fixed = {
        "nik",
        "nik_raw",
        "nik_flag",
        "nik_date_mismatch",
        "nik_sex_mismatch",
        "no_kk",
        "no_kk_raw",
        "no_kk_flag",
        "name",
        "name_raw",
        "sex",
        "birth_date",
        "source",
        "delivery",
        "file",
    }
    rest = [c for c in wh.PERSON_COLUMN_NAMES if c not in fixed]
    # the table computes its generated columns (wh.PERSON_GENERATED) itself: they are not inserted
    return f"""SELECT * EXCLUDE ({", ".join(wh.PERSON_GENERATED)}) FROM (
               SELECT {lit(source)} AS source, {lit(month)} AS delivery, {lit(path)} AS file,
                      {identity_sql("_nik", "_kk", "_sex", "_bd")},
                      {clean_name_sql("_name")} AS name, _name AS name_raw, _sex AS sex, _bd AS birth_date,
                      {", ".join(rest)}
               FROM (SELECT *, {nik_flag_sql("_nik", "_districts")} AS nik_flag FROM ({base})))"""


def store_persons(
    con: duckdb.DuckDBPyConnection,
    source: str,
    table: str,
    month: str,
    staged: list[Staged],
    base: str,
    warnings: list[str],
    extra_tables: list | None = None,
) -> IngestResult:
    """Canonical mapping into `table`, partition replacement (with the guard) and the result of a person source's
    delivery."""
    path = staged[-1].raw.path
    q = stage_quarantine(con, source, month, staged)
    files, by_reason = write_delivery(
        con,
        source,
        month,
        [st.raw for st in staged],
        [(table, _person_select(source, month, path, base), "delivery = ?", month)] + (extra_tables or []),
        q,
        warnings,
        guard=True,
    )
    drop_staged(con, staged)
    (rate,) = con.execute(f"SELECT avg((nik_flag IS NULL)::INT) FROM {table} WHERE delivery = ?", [month]).fetchall()[0]
    head = con.execute(
        f"SELECT record_id, nik_raw, nik_flag, name, sex, birth_date, village_code "
        f"FROM {table} WHERE delivery = ? ORDER BY line LIMIT 5",
        [month],
    ).df()
    return IngestResult(
        source,
        month,
        True,
        files,
        by_reason,
        warnings,
        nik_valid_rate=float(rate) if rate is not None else None,
        preview=_person_preview(head),
    )


def _person_preview(head: pd.DataFrame) -> pd.DataFrame:
    """Five rows for the UI, identity masked: NIK to its region part, name to initials, birth date to the year."""
    return pd.DataFrame(
        {
            "record_id": head["record_id"],
            "nik": mask_nik(head["nik_raw"]),
            "nik_flag": head["nik_flag"].fillna(""),
            "name": head["name"].map(mask_name),
            "sex": head["sex"].astype("Int8"),
            "birth_year": pd.to_datetime(head["birth_date"]).dt.year.astype("Int64"),
            "village_code": head["village_code"],
        }
    )
