"""Ingestion of the month's deliveries into the warehouse (plain functions, no Dagster): one source's delivery
(`ingest`, dispatched through the registry of sources), several side by side (`ingest_concurrently`), or the month's
deliveries as one (`ingest_month`: when one fails, those written are put back as they were).

Each source's module (`dtsen.registries.sources`) reads its contract's files, states its rules and maps its columns
onto the canonical record; the engine (`dtsen.registries.engine`) stages, quarantines and replaces exactly that
delivery's partition in one transaction.
"""

from __future__ import annotations

import glob
import os
from concurrent.futures import ThreadPoolExecutor

import duckdb

from dtsen import warehouse as wh

from .engine import IngestResult, NoRegionReference, WarehouseWriteError, delivery_dir
from .files import DeliveryFileError
from .sources import INGESTED, YEARLY, Source
from .sources import source as registered

SOURCES = [s.name for s in INGESTED if s.name != "referensi"]


def ingest(
    con: duckdb.DuckDBPyConnection, landing: str, month: str, source: str, confirmed: frozenset[str] = frozenset()
) -> IngestResult:
    """Ingest one source's delivery. A problem no check foresaw still fails with the delivery named, never with a
    bare traceback (and, like every failure, leaves the earlier data as it was: nothing is written). `confirmed`:
    the "<source>/<YYYY-MM>" deliveries an operator confirmed although they shrink a list that excludes people."""
    spec = registered(source)
    if spec.ingest is None:
        raise ValueError(f"{source} is not ingested by the registries (its domain ingests it)")
    try:
        return spec.ingest(con, landing, month, confirmed) if spec.excludes else spec.ingest(con, landing, month)
    except (DeliveryFileError, NoRegionReference, WarehouseWriteError):
        raise
    except Exception as e:  # the safety net: name the delivery, keep the cause
        where = os.path.join(landing, source) if spec.cadence != "monthly" else delivery_dir(landing, source, month)
        raise DeliveryFileError(where, f"could not be ingested ({type(e).__name__}: {e})") from e


# the month's deliveries are ingested side by side, at most three at once: the three registries, the small lists
# starting as soon as a registry is done (on two cores more at once only contend)
CONCURRENT_INGESTS = 3

# side by side, the deliveries' rows are in memory at once: about three times the files' bytes more than one after
# another (measured: bench/ingest.py, the docs' benchmark page)
SIDE_BY_SIDE_FACTOR = 3


def side_by_side(landing: str, month: str, sources: list[str]) -> bool:
    """Whether the sources' deliveries of the month may be ingested at once: while three times their bytes fit in
    an eighth of the memory budget ($DTSEN_MEMORY_BUDGET, 2 GiB of the default 16; about 5 M persons), else one
    after another (a national month stays within the budget)."""
    return SIDE_BY_SIDE_FACTOR * sum(delivery_bytes(landing, month, s) for s in sources) <= wh.memory_budget() / 8


def delivery_bytes(landing: str, month: str, source: str) -> int:
    """Bytes of a source's delivery files for the month (0 when none)."""
    files = glob.glob(os.path.join(delivery_dir(landing, source, month), "*"))
    return sum(os.path.getsize(p) for p in files if os.path.isfile(p))


def ingest_concurrently(
    con: duckdb.DuckDBPyConnection,
    landing: str,
    month: str,
    sources: list[str],
    confirmed: frozenset[str] = frozenset(),
) -> dict[str, IngestResult | Exception]:
    """Ingest several sources' deliveries at once, each in a thread with a cursor of its own (its own connection to
    the same database, so its own transaction and temporary tables). Each is `ingest` as alone: it writes its
    partition or nothing, and one source's failure leaves the others' results as they are. Returns per source its
    result, or the exception it failed with. At most CONCURRENT_INGESTS at once, the largest deliveries first (the
    small lists fill in beside the last registry: reading a file, checking its rows and compressing them do not keep
    both cores busy alone). One after another when their deliveries are too large for the memory budget
    (`side_by_side`)."""

    def one(source: str) -> IngestResult | Exception:
        cur = con.cursor()
        try:
            return ingest(cur, landing, month, source, confirmed)
        except Exception as e:  # handed back to the caller, which names the source
            return e
        finally:
            cur.close()

    if len(sources) <= 1 or not side_by_side(landing, month, sources):
        return {s: one(s) for s in sources}
    largest_first = sorted(sources, key=lambda s: -delivery_bytes(landing, month, s))
    with ThreadPoolExecutor(max_workers=min(len(sources), CONCURRENT_INGESTS), thread_name_prefix="ingest") as pool:
        done = dict(zip(largest_first, pool.map(one, largest_first)))
    return {s: done[s] for s in sources}


class RolledBack(Exception):
    """A delivery that was written and then put back as it was, because another delivery of its month failed."""


def _replaced(spec: Source, month: str) -> list[tuple[str, str, list]]:
    """What a source's delivery of the month replaces: (table, WHERE, parameters)."""
    where, params = ("true", []) if spec.cadence == YEARLY else ("delivery = ?", [month])  # the survey: any year
    own = [(t, where, params) for t in (spec.table, *spec.extra_tables)]
    logs = [
        (t, "source = ? AND delivery = ?", [spec.name, month]) for t in ("sources.quarantine", "sources.ingest_log")
    ]
    return own + logs


def _stored_columns(table: str) -> str:
    """Every stored column (a person table computes its generated ones itself)."""
    generated = wh.PERSON_GENERATED if table in wh.SOURCE_PERSON_TABLES else {}
    return f"* EXCLUDE ({', '.join(generated)})" if generated else "*"


def ingest_month(
    con: duckdb.DuckDBPyConnection,
    landing: str,
    month: str,
    sources: list[str],
    confirmed: frozenset[str] = frozenset(),
) -> dict[str, IngestResult | Exception]:
    """The month's deliveries as one: ingested side by side (`ingest_concurrently`), and when any of them fails,
    every delivery already written is put back as it was (its result becomes `RolledBack`), so a failed run leaves
    the month's deliveries as they were: a re-delivered death list written beside a broken registry does not stay.
    What a delivery replaces is kept aside first (nothing, for a month ingested for the first time)."""
    kept: dict[str, list[tuple[str, str, list, str]]] = {}
    try:
        for s in sources:
            kept[s] = []
            for i, (table, where, params) in enumerate(_replaced(registered(s), month)):
                name = f"_kept_{s}_{i}"
                con.execute(
                    f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT {_stored_columns(table)} FROM {table} "
                    f"WHERE {where}",
                    params,
                )
                kept[s].append((table, where, params, name))
        results = ingest_concurrently(con, landing, month, sources, confirmed)
        failed = sorted(s for s, r in results.items() if isinstance(r, Exception))
        if failed:
            for s, r in results.items():
                if isinstance(r, IngestResult) and r.delivered and not r.held:
                    with wh.transaction(con):
                        for table, where, params, name in kept[s]:
                            con.execute(f"DELETE FROM {table} WHERE {where}", params)
                            con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM {name}")
                    results[s] = RolledBack(
                        f"{s} {month}: put back as it was, because {', '.join(failed)} could not be ingested"
                    )
        return results
    finally:
        for items in kept.values():
            for *_, name in items:
                con.execute(f"DROP TABLE IF EXISTS {name}")


__all__ = [
    "SOURCES",
    "DeliveryFileError",
    "IngestResult",
    "NoRegionReference",
    "RolledBack",
    "WarehouseWriteError",
    "ingest",
    "ingest_concurrently",
    "ingest_month",
]
