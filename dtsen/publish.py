"""Publishing the marts for analysts without locking the writer: Parquet files per snapshot plus a small DuckDB
catalogue of views over the latest ones.

    <published>/<snapshot>/<table>.parquet      one file per mart and rule seed
    <published>/history/<table>/snapshot=<YYYY-MM>/part.parquet
                                                the history marts (schema `history`): one Parquet dataset per
                                                table, partitioned by snapshot, each month its own partition
    <published>/analytics.duckdb                views marts.<table> and rules.<table> over the latest snapshot,
                                                history.<table> over every month published

The catalogue always shows the latest month published (not the month last rebuilt: rebuilding January after
March leaves analysts on March). It is rebuilt in a temporary file and renamed into place, so an analyst who has it
open keeps a consistent (old) view and the next open sees the new one. Its views name the Parquet files relative to
the published folder, so the folder can be copied or moved as a whole: open the catalogue from that folder, or set
DuckDB's `file_search_path` to it (`open_catalogue` does). Analysts read them under their own accounts when they are
in the group `DTSEN_ANALYST_GROUP` names (folders 0750, files 0640); without it the publication is owner-only like
everything else (`dtsen.filemodes`). The restricted schema is never published.
"""

from __future__ import annotations

import glob
import os
import re
import tempfile

import duckdb

from dtsen import builds, filemodes
from dtsen.folders import folder_in_place

PUBLISHED_SCHEMAS = ("marts", "rules")
HISTORY_SCHEMA = "history"
# history tables recomputed whole by their own asset and published by it (publish_partitioned), by this column
WHOLE_HISTORY = {"payment_history": "period"}
SNAPSHOT_RE = re.compile(r"^\d{4}-\d{2}$")
CATALOGUE = "analytics.duckdb"


def published_snapshots(out_dir: str) -> list[str]:
    if not os.path.isdir(out_dir):
        return []
    return sorted(d for d in os.listdir(out_dir) if SNAPSHOT_RE.match(d) and os.path.isdir(os.path.join(out_dir, d)))


def open_catalogue(out_dir: str) -> duckdb.DuckDBPyConnection:
    """The analysts' catalogue, read-only, with its relative Parquet paths resolved against its folder."""
    con = duckdb.connect(os.path.join(out_dir, CATALOGUE), read_only=True)
    con.execute("SET file_search_path = ?", [os.path.abspath(out_dir)])
    return con


def publish(con: duckdb.DuckDBPyConnection, month: str, out_dir: str) -> dict[str, int]:
    """Export every table of the published schemas, from the build area that holds `month` (`dtsen.builds`: a
    rebuilt earlier month is published from the rebuild area under its own month); returns table -> rows."""
    area = builds.area_of(con, month)
    in_area = {area.schema(s): s for s in PUBLISHED_SCHEMAS}
    tables = [
        (in_area[schema], table)
        for schema, table in con.execute(
            """SELECT table_schema, table_name FROM information_schema.tables
               WHERE list_contains(?, table_schema) AND table_type IN ('BASE TABLE', 'VIEW') ORDER BY 1, 2""",
            [list(in_area)],
        ).fetchall()
    ]
    counts = {}
    with folder_in_place(os.path.join(out_dir, month)) as tmp:
        for schema, table in tables:
            path = os.path.join(tmp, f"{schema}.{table}.parquet")
            source = f"{area.schema(schema)}.{table}"
            con.execute(f"COPY {source} TO '{path}' (FORMAT parquet, COMPRESSION zstd)")
            counts[f"{schema}.{table}"] = con.execute(f"SELECT count(*) FROM {source}").fetchall()[0][0]
        filemodes.publication(tmp)
    counts.update(publish_history(con, month, out_dir))
    filemodes.publication_root(out_dir)
    refresh_catalogue(out_dir)  # over the latest month published, which a rebuilt earlier month is not
    return counts


def publish_history(con: duckdb.DuckDBPyConnection, month: str, out_dir: str) -> dict[str, int]:
    """Each history table's rows of `month` as its partition `history/<table>/snapshot=<month>/`, replacing
    that partition only (written aside and renamed into place)."""
    tables = [
        r[0]
        for r in con.execute(
            """SELECT table_name FROM information_schema.tables
                                           WHERE table_schema = ? AND table_type = 'BASE TABLE' ORDER BY 1""",
            [HISTORY_SCHEMA],
        ).fetchall()
        if r[0] not in WHOLE_HISTORY
    ]
    counts = {}
    for table in tables:
        with folder_in_place(os.path.join(out_dir, HISTORY_SCHEMA, table, f"snapshot={month}")) as tmp:
            con.execute(
                f"COPY (SELECT * EXCLUDE (snapshot) FROM {HISTORY_SCHEMA}.{table} WHERE snapshot = ?) "
                f"TO '{os.path.join(tmp, 'part.parquet')}' (FORMAT parquet, COMPRESSION zstd)",
                [month],
            )
            filemodes.publication(tmp)
        counts[f"{HISTORY_SCHEMA}.{table}"] = con.execute(
            f"SELECT count(*) FROM {HISTORY_SCHEMA}.{table} WHERE snapshot = ?", [month]
        ).fetchall()[0][0]
    if tables:
        filemodes.publication(os.path.join(out_dir, HISTORY_SCHEMA))
    return counts


def publish_partitioned(con: duckdb.DuckDBPyConnection, table: str, column: str, out_dir: str) -> int:
    """A whole history table as `history/<table>/<column>=<value>/part.parquet`, every partition rewritten (for
    tables recomputed whole, such as history.payment_history), then the catalogue refreshed; returns rows."""
    with folder_in_place(os.path.join(out_dir, HISTORY_SCHEMA, table)) as tmp:
        for (value,) in con.execute(f"SELECT DISTINCT {column} FROM {HISTORY_SCHEMA}.{table} ORDER BY 1").fetchall():
            part = os.path.join(tmp, f"{column}={value}")
            os.makedirs(part)
            con.execute(
                f"COPY (SELECT * EXCLUDE ({column}) FROM {HISTORY_SCHEMA}.{table} WHERE {column} = ?) "
                f"TO '{os.path.join(part, 'part.parquet')}' (FORMAT parquet, COMPRESSION zstd)",
                [value],
            )
        filemodes.publication(tmp)
    refresh_catalogue(out_dir)
    return con.execute(f"SELECT count(*) FROM {HISTORY_SCHEMA}.{table}").fetchall()[0][0]


def refresh_catalogue(out_dir: str) -> None:
    """Rewrite the catalogue over what is published (the latest month's tables and every history dataset)."""
    months = published_snapshots(out_dir)
    if months:
        tables = sorted(
            f[: -len(".parquet")] for f in os.listdir(os.path.join(out_dir, months[-1])) if f.endswith(".parquet")
        )
        write_catalogue(out_dir, months[-1], tables)


def write_catalogue(out_dir: str, month: str, tables: list[str]) -> str:
    """Views over `<snapshot>/<table>.parquet` (paths relative to out_dir), renamed into place."""
    path = os.path.join(out_dir, CATALOGUE)
    fd, tmp = tempfile.mkstemp(prefix=".analytics-", suffix=".duckdb", dir=out_dir)
    os.close(fd)
    os.remove(tmp)
    cat = duckdb.connect(tmp)
    try:
        cat.execute("SET file_search_path = ?", [os.path.abspath(out_dir)])
        for schema in PUBLISHED_SCHEMAS:
            cat.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        for t in tables:
            if os.path.exists(os.path.join(out_dir, month, f"{t}.parquet")):
                cat.execute(f"CREATE VIEW {t} AS SELECT * FROM read_parquet('{month}/{t}.parquet')")
        history = os.path.join(out_dir, HISTORY_SCHEMA)
        if os.path.isdir(history):
            cat.execute(f"CREATE SCHEMA IF NOT EXISTS {HISTORY_SCHEMA}")
            for table in sorted(os.listdir(history)):
                if glob.glob(os.path.join(history, table, "*=*", "*.parquet")):
                    cat.execute(
                        f"CREATE VIEW {HISTORY_SCHEMA}.{table} AS SELECT * FROM read_parquet("
                        f"'{HISTORY_SCHEMA}/{table}/*=*/*.parquet', hive_partitioning = true, "
                        f"hive_types_autocast = false, union_by_name = true)"
                    )
        cat.execute(
            "CREATE TABLE main.published AS SELECT ? AS snapshot, now() AS published_at, "
            "'paths are relative to this folder: open the catalogue from it, or SET file_search_path' "
            "AS note",
            [month],
        )
    finally:
        cat.close()
    filemodes.publication(tmp)
    os.replace(tmp, path)
    return path
