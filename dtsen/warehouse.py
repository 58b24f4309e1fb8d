"""The embedded DuckDB warehouse: connection, table layout and atomic partition replacement."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import duckdb
import pandas as pd
import pyarrow as pa

from dtsen.layout import DataLayout

PERSON_SCHEMA: list[tuple[str, str]] = [
    ("source", "VARCHAR NOT NULL"),
    ("delivery", "VARCHAR NOT NULL"),
    ("record_id", "VARCHAR NOT NULL"),
    ("file", "VARCHAR"),
    ("line", "BIGINT"),
    ("nik", "VARCHAR"),
    ("nik_raw", "VARCHAR"),
    ("nik_flag", "VARCHAR"),
    ("nik_date_mismatch", "BOOLEAN"),
    ("nik_sex_mismatch", "BOOLEAN"),
    ("no_kk", "VARCHAR"),
    ("no_kk_raw", "VARCHAR"),
    ("no_kk_flag", "VARCHAR"),
    ("name", "VARCHAR NOT NULL"),
    ("name_raw", "VARCHAR NOT NULL"),
    ("sex", "TINYINT"),
    ("sex_raw", "VARCHAR"),
    ("birth_date", "DATE"),
    ("birth_date_raw", "VARCHAR"),
    ("birth_place", "VARCHAR"),
    ("relationship", "TINYINT"),
    ("address", "VARCHAR"),
    ("rt", "VARCHAR"),
    ("rw", "VARCHAR"),
    ("village_code", "VARCHAR"),
    ("district_code", "VARCHAR"),
    ("regency_code", "VARCHAR"),
    ("province_code", "VARCHAR"),
    ("family_id_src", "VARCHAR"),
    ("education", "TINYINT"),
    ("work", "TINYINT"),
    ("working", "TINYINT"),
    ("disability", "TINYINT"),
    ("pregnant", "TINYINT"),
    ("school_level", "VARCHAR"),
    ("marital_status", "TINYINT"),
    ("kks", "TINYINT"),
    ("bank", "VARCHAR"),
    ("desil_p3ke", "TINYINT"),
    ("updated_at", "DATE"),
]
PERSON_COLUMN_NAMES = [c for c, _ in PERSON_SCHEMA]
PERSON_COLUMNS = ", ".join(f"{c} {t}" for c, t in PERSON_SCHEMA)
# Columns of the registries' person tables that are computed when read (DuckDB generated columns), not stored: each
# is a function of stored columns, so storing it only cost its compression (docs: Decisions, "Generated identity
# columns").
PERSON_GENERATED = {
    "nik": "CASE WHEN nik_flag IS NULL THEN nik_raw END",
    "no_kk": "CASE WHEN no_kk_flag IS NULL THEN no_kk_raw END",
    "district_code": "left(village_code, 6)",
    "regency_code": "left(village_code, 4)",
    "province_code": "left(village_code, 2)",
}
SOURCE_PERSON_COLUMNS = ", ".join(
    f"{c} VARCHAR GENERATED ALWAYS AS ({PERSON_GENERATED[c]}) VIRTUAL" if c in PERSON_GENERATED else f"{c} {t}"
    for c, t in PERSON_SCHEMA
)
SOURCE_PERSON_TABLES = [
    "sources.dtks_person",
    "sources.regsosek_person",
    "sources.p3ke_person",
    "sources.usulan_person",
]

FAMILY_PROXY_COLUMNS = """
    status_bangunan TINYINT, luas_lantai_m2 INTEGER, jenis_lantai TINYINT, jenis_dinding TINYINT, jenis_atap TINYINT,
    sumber_air_minum TINYINT, fasilitas_bab TINYINT, sumber_penerangan TINYINT, bahan_bakar_masak TINYINT,
    aset_kulkas TINYINT, aset_motor TINYINT, aset_mobil TINYINT, aset_lahan_m2 BIGINT, aset_ternak INTEGER,
    jumlah_art INTEGER, desa_terpencil TINYINT
"""

PERSON_RECORD_VIEW = """CREATE OR REPLACE VIEW sources.person_record AS
        SELECT * FROM sources.dtks_person UNION ALL SELECT * FROM sources.regsosek_person
        UNION ALL SELECT * FROM sources.p3ke_person UNION ALL SELECT * FROM sources.usulan_person"""

MARTS_SNAPSHOT_DDL = "CREATE TABLE IF NOT EXISTS dtsen.marts_snapshot (snapshot VARCHAR NOT NULL)"
MARTS_AREA_DDL = """CREATE TABLE IF NOT EXISTS dtsen.marts_area (area VARCHAR PRIMARY KEY, month VARCHAR NOT NULL,
    state VARCHAR NOT NULL, changed_at TIMESTAMP NOT NULL)"""

DDL = [
    "CREATE SCHEMA IF NOT EXISTS sources",
    f"CREATE TABLE IF NOT EXISTS sources.dtks_person ({SOURCE_PERSON_COLUMNS})",
    f"CREATE TABLE IF NOT EXISTS sources.regsosek_person ({SOURCE_PERSON_COLUMNS})",
    f"CREATE TABLE IF NOT EXISTS sources.p3ke_person ({SOURCE_PERSON_COLUMNS})",
    # approved proposals (usulan) from the caseworker desk: each delivery adds families; all deliveries up to a month
    # stay in the registry (PROPOSAL_SOURCES)
    f"CREATE TABLE IF NOT EXISTS sources.usulan_person ({SOURCE_PERSON_COLUMNS})",
    f"""CREATE TABLE IF NOT EXISTS sources.usulan_family (delivery VARCHAR NOT NULL, no_tiket VARCHAR NOT NULL,
        file VARCHAR, line BIGINT, village_code VARCHAR, address VARCHAR, {FAMILY_PROXY_COLUMNS},
        verified_on DATE, decided_on DATE)""",
    # approved objections (sanggahan): a DTSEN person who should not receive, with the reason and case number
    """CREATE TABLE IF NOT EXISTS sources.objection (delivery VARCHAR NOT NULL, no_tiket VARCHAR NOT NULL,
        person_id VARCHAR NOT NULL, reason VARCHAR NOT NULL, note VARCHAR, village_code VARCHAR, decided_on DATE,
        file VARCHAR, line BIGINT)""",
    f"""CREATE TABLE IF NOT EXISTS sources.regsosek_family (delivery VARCHAR NOT NULL, id_keluarga VARCHAR NOT NULL,
        file VARCHAR, line BIGINT, village_code VARCHAR, address VARCHAR, {FAMILY_PROXY_COLUMNS})""",
    f"""CREATE TABLE IF NOT EXISTS sources.susenas (delivery VARCHAR NOT NULL, survey_year VARCHAR NOT NULL,
        id_keluarga VARCHAR NOT NULL, file VARCHAR, line BIGINT, village_code VARCHAR, address VARCHAR,
        {FAMILY_PROXY_COLUMNS}, pengeluaran_per_kapita BIGINT)""",
    """CREATE TABLE IF NOT EXISTS sources.death (delivery VARCHAR NOT NULL, nik VARCHAR NOT NULL,
        death_date DATE, file VARCHAR, line BIGINT)""",
    """CREATE TABLE IF NOT EXISTS sources.asn (delivery VARCHAR NOT NULL, nik VARCHAR NOT NULL, file VARCHAR,
        line BIGINT)""",
    """CREATE TABLE IF NOT EXISTS sources.wage (delivery VARCHAR NOT NULL, nik VARCHAR NOT NULL,
        monthly_wage BIGINT, province_code VARCHAR, file VARCHAR, line BIGINT)""",
    """CREATE TABLE IF NOT EXISTS sources.region (delivery VARCHAR NOT NULL, kode VARCHAR NOT NULL, nama VARCHAR,
        tingkat VARCHAR, kode_induk VARCHAR, file VARCHAR, line BIGINT)""",
    """CREATE TABLE IF NOT EXISTS sources.quarantine (source VARCHAR NOT NULL, delivery VARCHAR NOT NULL,
        file VARCHAR NOT NULL, line BIGINT, field VARCHAR, value VARCHAR, reason VARCHAR NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS sources.ingest_log (source VARCHAR NOT NULL, delivery VARCHAR NOT NULL,
        file VARCHAR NOT NULL, rows_read BIGINT, rows_accepted BIGINT, rows_quarantined BIGINT,
        warnings VARCHAR, ingested_at TIMESTAMP)""",
    "CREATE SCHEMA IF NOT EXISTS dtsen",
    # the month the dbt marts are (being) built for: written just before `dbt build`, read by the models
    MARTS_SNAPSHOT_DDL,
    # which month each build area holds (dtsen.builds)
    MARTS_AREA_DDL,
    PERSON_RECORD_VIEW,
]


MEMORY_BUDGET_ENV = "DTSEN_MEMORY_BUDGET"
DEFAULT_MEMORY_BUDGET = "16GiB"
_UNITS = {
    "": 1,
    "b": 1,
    "k": 2**10,
    "kb": 10**3,
    "kib": 2**10,
    "m": 2**20,
    "mb": 10**6,
    "mib": 2**20,
    "g": 2**30,
    "gb": 10**9,
    "gib": 2**30,
    "t": 2**40,
    "tb": 10**12,
    "tib": 2**40,
}


def parse_bytes(text: str) -> int:
    """'16GiB', '4GB', '512m' -> bytes."""
    import re

    m = re.fullmatch(r"\s*([0-9.]+)\s*([a-zA-Z]*)\s*", text or "")
    if not m or m.group(2).lower() not in _UNITS:
        raise ValueError(f"not a memory size: {text!r} (e.g. 16GiB, 4GB, 512MiB)")
    return int(float(m.group(1)) * _UNITS[m.group(2).lower()])


def memory_budget() -> int:
    """The whole monthly run's memory budget in bytes, the one setting every engine's limit derives from:
    $DTSEN_MEMORY_BUDGET, default 16 GiB."""
    return parse_bytes(os.environ.get(MEMORY_BUDGET_ENV) or DEFAULT_MEMORY_BUDGET)


def budget_quarter_mib() -> int:
    """A quarter of the budget in MiB: the share of DuckDB in this process, of dbt's DuckDB process and of the Spark
    driver (`spark.SparkConfig`); the rest is for the Python process around them (Arrow batches, the clustering's
    arrays)."""
    return memory_budget() // 4 // 2**20


def duckdb_memory_limit() -> str:
    """DuckDB's share of the budget: a quarter (4 GiB of 16); DuckDB spills to disk beyond it."""
    return f"{budget_quarter_mib()}MiB"


def connect(
    path: str | None = None, read_only: bool = False, threads: int | None = None, memory_limit: str | None = None
) -> duckdb.DuckDBPyConnection:
    p = path or DataLayout.resolve().warehouse
    if not read_only:
        os.makedirs(os.path.dirname(os.path.abspath(p)), exist_ok=True)
    con = duckdb.connect(p, read_only=read_only)
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    if memory_limit:
        con.execute(f"SET memory_limit = '{memory_limit}'")
    if not read_only:
        for f in (p, p + ".wal"):  # raw identifiers: owner-only, whatever the umask it was first made under
            if os.path.exists(f):
                os.chmod(f, 0o600)
        ensure_schema(con)
    return con


def ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    for stmt in DDL:
        con.execute(stmt)
    # a warehouse from before PERSON_GENERATED stored those columns: one query finds the tables to rebuild
    stored = [
        t
        for (t,) in con.execute(
            "SELECT DISTINCT schema_name || '.' || table_name AS t FROM duckdb_columns() "
            "WHERE database_name = current_database() AND list_contains(?, t) AND list_contains(?, column_name) "
            "AND column_default IS NULL ORDER BY t",
            [SOURCE_PERSON_TABLES, list(PERSON_GENERATED)],
        ).fetchall()
    ]
    for table in stored:
        _generate_person_columns(con, table)
    if stored:
        con.execute(PERSON_RECORD_VIEW)  # bound again to the rebuilt tables


def _generate_person_columns(con: duckdb.DuckDBPyConnection, table: str) -> None:
    """Rebuild a person table that stores the PERSON_GENERATED columns with them generated, in one transaction,
    after checking that every stored value is the one its expression gives (else nothing changes and the table is
    named)."""
    schema, name = table.split(".")
    differ = " OR ".join(f"{c} IS DISTINCT FROM ({e})" for c, e in PERSON_GENERATED.items())
    (n,) = con.execute(f"SELECT count(*) FROM {table} WHERE {differ}").fetchall()[0]
    if n:
        raise RuntimeError(
            f"{table}: {n:,} row(s) whose {sorted(PERSON_GENERATED)} are not the values their "
            f"expressions give: not migrated to generated columns"
        )
    keep = ", ".join(c for c in PERSON_COLUMN_NAMES if c not in PERSON_GENERATED)
    with transaction(con):
        con.execute(f"CREATE TABLE {schema}._{name}_generated ({SOURCE_PERSON_COLUMNS})")
        con.execute(f"INSERT INTO {schema}._{name}_generated ({keep}) SELECT {keep} FROM {table}")
        con.execute(f"DROP TABLE {table}")
        con.execute(f"ALTER TABLE {schema}._{name}_generated RENAME TO {name}")


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """All or nothing: an exception rolls back, so a failed partition never leaves half-written rows."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield con
    except BaseException:
        con.execute("ROLLBACK")
        raise
    else:
        con.execute("COMMIT")


def insert_frame(con: duckdb.DuckDBPyConnection, table: str, df: pd.DataFrame) -> None:
    """Insert a DataFrame by column name (columns missing from df become NULL)."""
    if df is None or len(df) == 0:
        return
    name = f"_frame_{abs(hash(table))}"
    con.register(name, pa.Table.from_pandas(df, preserve_index=False))
    try:
        cols = ", ".join(f'"{c}"' for c in df.columns)
        con.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM {name}")
    finally:
        con.unregister(name)
