"""Helpers shared by the benchmark scripts (not a benchmark itself)."""
from __future__ import annotations

import glob
import os
import time

import duckdb


def bare_read(landing: str, month: str) -> float:
    """The floor: read every landing file of the month once into an in-memory DuckDB table, no validation."""
    files = (glob.glob(os.path.join(landing, "*", month, "*")) + glob.glob(os.path.join(landing, "susenas", "*", "*"))
             + [os.path.join(landing, "referensi", "wilayah.csv")])
    con = duckdb.connect()
    con.execute("SET threads = 2")
    t0 = time.perf_counter()
    for i, p in enumerate(files):
        if p.endswith(".parquet"):
            con.execute(f"CREATE TABLE t{i} AS SELECT * FROM read_parquet(?)", [p])
        else:
            delim = "|" if "p3ke" in p else ","
            con.execute(f"CREATE TABLE t{i} AS SELECT * FROM read_csv(?, delim='{delim}', header=true, "
                        f"all_varchar=true)", [p])
    secs = time.perf_counter() - t0
    con.close()
    return secs
