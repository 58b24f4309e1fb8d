"""Helpers shared by the benchmark scripts (not a benchmark itself)."""

from __future__ import annotations

import glob
import os
import tempfile

# benches run on synthetic data: demo mode (the public development keys allowed)
os.environ.setdefault("DTSEN_DEMO", "1")
import time

import duckdb


def month_files(landing: str, month: str) -> list[str]:
    return (
        glob.glob(os.path.join(landing, "*", month, "*"))
        + glob.glob(os.path.join(landing, "susenas", "*", "*"))
        + [os.path.join(landing, "referensi", "wilayah.csv")]
    )


def _load(con: duckdb.DuckDBPyConnection, files: list[str]) -> None:
    for i, p in enumerate(files):
        if p.endswith(".parquet"):
            con.execute(f"CREATE TABLE t{i} AS SELECT * FROM read_parquet(?)", [p])
        else:
            delim = "|" if "p3ke" in p else ","
            # quote and escape named: the sniffer reads the first rows only, and at 10 M persons the first
            # quoted value (a name with a comma) comes later
            con.execute(
                f"CREATE TABLE t{i} AS SELECT * FROM read_csv(?, delim='{delim}', header=true, "
                f"quote='\"', escape='\"', all_varchar=true)",
                [p],
            )


def bare_read(landing: str, month: str, repeat: int = 3) -> float:
    """The floor: read every landing file of the month once into an in-memory DuckDB table, no validation. The best
    of `repeat` reads (the first is often slower: files not yet in the page cache, DuckDB's first use), so that the
    floor does not flatter the ratio."""
    files = month_files(landing, month)
    best = float("inf")
    for _ in range(repeat):
        con = duckdb.connect()
        con.execute("SET threads = 2")
        t0 = time.perf_counter()
        _load(con, files)
        best = min(best, time.perf_counter() - t0)
        con.close()
    return best


def read_and_store(landing: str, month: str, repeat: int = 3) -> float:
    """A second reference, not the floor: the same reads stored as they are in a new DuckDB file, checkpointed (its
    columns compressed and written, as a warehouse's are), no validation and no mapping. What any ingestion into a
    DuckDB warehouse pays before it checks a row. Best of `repeat`."""
    files = month_files(landing, month)
    best = float("inf")
    for _ in range(repeat):
        with tempfile.TemporaryDirectory(prefix="bench_store_") as tmp:
            con = duckdb.connect(os.path.join(tmp, "store.duckdb"))
            con.execute("SET threads = 2")
            t0 = time.perf_counter()
            _load(con, files)
            con.execute("CHECKPOINT")
            best = min(best, time.perf_counter() - t0)
            con.close()
    return best


def run_seconds(instance) -> float:
    """Seconds from the first step's start to the last step's end, over the instance's runs."""
    first, last = None, None
    for rec in instance.get_run_records():
        for ev in instance.all_logs(rec.dagster_run.run_id):
            de = ev.dagster_event
            if de is None or de.step_key is None:
                continue
            if de.event_type_value == "STEP_START":
                first = ev.timestamp if first is None else min(first, ev.timestamp)
            elif de.event_type_value in ("STEP_SUCCESS", "STEP_FAILURE"):
                last = ev.timestamp if last is None else max(last, ev.timestamp)
    return (last - first) if first is not None else 0.0
