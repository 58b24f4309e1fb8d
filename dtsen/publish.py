"""Publishing the marts for analysts without locking the writer: Parquet files per snapshot plus a small DuckDB
catalogue of views over the latest ones.

    <published>/<snapshot>/<table>.parquet      one file per mart and rule seed
    <published>/analytics.duckdb                views marts.<table> and rules.<table> over the latest snapshot

The catalogue is rebuilt in a temporary file and renamed into place, so an analyst who has it open keeps a
consistent (old) view and the next open sees the new one. The restricted schema is never published.
"""
from __future__ import annotations

import os
import shutil
import tempfile

import duckdb

PUBLISHED_SCHEMAS = ("marts", "rules")


def publish(con: duckdb.DuckDBPyConnection, snapshot: str, out_dir: str) -> dict[str, int]:
    """Export every table of the published schemas; returns table -> rows."""
    tables = con.execute(f"""SELECT table_schema, table_name FROM information_schema.tables
                             WHERE table_schema IN {PUBLISHED_SCHEMAS} AND table_type = 'BASE TABLE'
                             ORDER BY 1, 2""").fetchall()
    os.makedirs(out_dir, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f".{snapshot}-", dir=out_dir)
    counts = {}
    try:
        for schema, table in tables:
            path = os.path.join(tmp, f"{schema}.{table}.parquet")
            con.execute(f"COPY {schema}.{table} TO '{path}' (FORMAT parquet, COMPRESSION zstd)")
            counts[f"{schema}.{table}"] = con.execute(f"SELECT count(*) FROM {schema}.{table}").fetchall()[0][0]
        final = os.path.join(out_dir, snapshot)
        if os.path.exists(final):
            shutil.rmtree(final)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    write_catalogue(out_dir, snapshot, [f"{s}.{t}" for s, t in tables])
    return counts


def write_catalogue(out_dir: str, snapshot: str, tables: list[str]) -> str:
    path = os.path.join(out_dir, "analytics.duckdb")
    fd, tmp = tempfile.mkstemp(prefix=".analytics-", suffix=".duckdb", dir=out_dir)
    os.close(fd)
    os.remove(tmp)
    cat = duckdb.connect(tmp)
    try:
        for schema in PUBLISHED_SCHEMAS:
            cat.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        for t in tables:
            parquet = os.path.abspath(os.path.join(out_dir, snapshot, f"{t}.parquet"))
            cat.execute(f"CREATE VIEW {t} AS SELECT * FROM read_parquet('{parquet}')")
        cat.execute("CREATE TABLE main.published AS SELECT ? AS snapshot, now() AS published_at", [snapshot])
    finally:
        cat.close()
    os.replace(tmp, path)
    return path
