"""The served registry snapshot: the latest exported month in memory (DuckDB for expressions and predicates, hash
indexes for identifier lookups), swapped for a newer month without a restart. The queries are built in
`dtsen.api.query`, the records shaped in `dtsen.api.records`.
"""

from __future__ import annotations

import gc
import os
import threading
import time
from dataclasses import dataclass, field

import duckdb
import orjson

from dtsen.api import exchange
from dtsen.api.config import Client
from dtsen.api.query import GROUP, MEMBER, Criteria, Forbidden, QueryError, parse, region_scope
from dtsen.api.records import RECORD_COLUMNS, group_record, member_record, member_sql

__all__ = ["GROUP", "MEMBER", "Criteria", "Forbidden", "Found", "QueryError", "Registry", "Snapshot", "parse",
           "region_scope"]  # fmt: skip


@dataclass
class Found:
    """A page of records (dicts, or orjson.Fragment for pages DuckDB built), the total, and the DTSEN ids in it."""

    records: list
    total: int
    person_ids: list[str]
    family_ids: list[str]


class Snapshot:
    """One month's registry: an in-memory DuckDB for expressions and predicates, and Arrow tables with hash indexes
    (identifier -> rows) for identifier lookups, which a SQL engine answers in about a millisecond and a dict in
    microseconds (bench/api.py measures both)."""

    def __init__(self, folder: str, month: str):
        self.snapshot = month
        self.folder = os.path.join(folder, month)
        self.con = duckdb.connect()
        for table in ("person", "family", "id_event"):
            self.con.execute(
                f"CREATE TABLE {table} AS SELECT * FROM read_parquet(?)",
                [os.path.join(self.folder, f"{table}.parquet")],
            )
        # the columns records are made of, again as Arrow, for identifier lookups through the hash indexes (one
        # chunk per column: `take` costs per chunk, not per row)
        self.tables = {
            t: self.con.sql(f"SELECT {', '.join(RECORD_COLUMNS[t])} FROM {t} ORDER BY {t}_id")
            .to_arrow_table()
            .combine_chunks()
            for t in ("person", "family")
        }
        # identifier -> row (an int; a tuple where several rows share it): ints and tuples of ints are not
        # tracked by Python's garbage collector, so a million keys cost no collection pauses
        self.index: dict[tuple[str, str], dict[str, int | tuple[int, ...]]] = {}
        for table, col in (
            ("person", "nik"),
            ("person", "person_id"),
            ("person", "family_id"),
            ("person", "no_kk"),
            ("family", "family_id"),
            ("family", "no_kk"),
        ):
            idx: dict = {}
            for i, v in enumerate(self.tables[table].column(col).to_pylist()):
                if v is None:
                    continue
                seen = idx.get(v)
                idx[v] = i if seen is None else (*seen, i) if isinstance(seen, tuple) else (seen, i)
            self.index[(table, col)] = idx
        self.persons = self.tables["person"].num_rows
        self._local = threading.local()

    def positions(self, table: str, col: str, value: str) -> tuple[int, ...]:
        found = self.index[(table, col)].get(value)
        return () if found is None else found if isinstance(found, tuple) else (found,)

    def rows(self, table: str, col: str, value: str) -> list[dict]:
        found = self.positions(table, col, value)
        return self.tables[table].take(list(found)).to_pylist() if found else []

    def _lookup(self, c: Criteria, client: Client) -> Found:
        col, value = c.lookup
        persons = self.rows("person", col, value) if col != "no_kk" or c.entity == MEMBER else []
        if c.entity == MEMBER:
            hits = persons
        elif col in ("family_id", "no_kk"):
            hits = self.rows("family", col, value)
        else:  # a family found through one of its members
            hits = [
                f for fid in sorted({p["family_id"] for p in persons}) for f in self.rows("family", "family_id", fid)
            ]
        hits = [r for r in hits if client.sees_region(r.get("village_code"))]
        total = len(hits)
        start = (c.page_number - 1) * c.page_size
        page = hits[start : start + c.page_size]
        if c.entity == MEMBER:
            return Found(
                [member_record(r, client, self.snapshot) for r in page], total, [r["person_id"] for r in page], []
            )
        records = self._groups(page, client)
        return Found(
            records,
            total,
            [m["member_identifier"][0]["identifier_value"] for g in records for m in g["member_list"]],
            [f["family_id"] for f in page],
        )

    def _groups(self, families: list[dict], client: Client) -> list[dict]:
        """Group records with their members, the members fetched in one `take` through the family index."""
        positions = [i for f in families for i in self.positions("person", "family_id", f["family_id"])]
        members: dict[str, list[dict]] = {f["family_id"]: [] for f in families}
        for m in self.tables["person"].take(positions).to_pylist() if positions else []:
            members[m["family_id"]].append(m)
        return [
            group_record(
                f,
                sorted(members[f["family_id"]], key=lambda m: (not m["is_head"], m["person_id"])),
                client,
                self.snapshot,
            )
            for f in families
        ]

    def cursor(self) -> duckdb.DuckDBPyConnection:
        cur = getattr(self._local, "cur", None)
        if cur is None:
            cur = self._local.cur = self.con.cursor()
        return cur

    def search(self, c: Criteria, client: Client) -> Found:
        """One page of records (dicts, or JSON text for pages built by DuckDB), its DTSEN ids and the total."""
        if c.lookup is not None:
            return self._lookup(c, client)
        cur = self.cursor()
        table = "family" if c.entity == GROUP else "person"
        offset = (c.page_number - 1) * c.page_size
        # a top-N and a count: cheaper than one query with count(*) OVER () (which keeps every match)
        ids = [
            r[0]
            for r in cur.execute(
                f"SELECT {table}_id FROM {table} WHERE {c.where} ORDER BY {c.order} LIMIT ? OFFSET ?",
                [*c.params, c.page_size, offset],
            ).fetchall()
        ]
        total = cur.execute(f"SELECT count(*) FROM {table} WHERE {c.where}", c.params).fetchall()[0][0]
        if c.entity == MEMBER:
            members = self._member_json(cur, [self.positions("person", "person_id", i)[0] for i in ids], client)
            return Found([orjson.Fragment(m[1]) for m in members], total, ids, [])
        families = (
            self.tables["family"].take([self.positions("family", "family_id", i)[0] for i in ids]).to_pylist()
            if ids
            else []
        )
        positions = [i for f in ids for i in self.positions("person", "family_id", f)]
        by_family: dict[str, list] = {f: [] for f in ids}
        for m in self._member_json(cur, positions, client):
            by_family[m[2]].append(m)
        records, persons = [], []
        for f in families:
            members = sorted(by_family[f["family_id"]], key=lambda m: (not m[3], m[0]))
            persons += [m[0] for m in members]
            records.append(self._group(f, members, client))
        return Found(records, total, persons, ids)

    def _member_json(self, cur, positions: list[int], client: Client) -> list[tuple]:
        """(person_id, Member JSON, family_id, is_head, address JSON, identifiers JSON) for these rows, by DuckDB."""
        if not positions:
            return []
        sql = member_sql(client.fields, self.snapshot)
        cur.register("_page_persons", self.tables["person"].take(positions))
        try:
            return cur.execute(
                f"SELECT person_id, {sql['rec']}, family_id, coalesce(is_head, false), {sql['addr']}, "
                f"{sql['ids']} FROM _page_persons"
            ).fetchall()
        finally:
            cur.unregister("_page_persons")

    def _group(self, f: dict, members: list[tuple], client: Client) -> dict:
        """group_record with its members as JSON built by DuckDB (orjson embeds them as they are)."""
        rec = group_record(f, [], client, self.snapshot)
        head = next((m for m in members if m[0] == f.get("head_person_id")), None)
        rec["group_head_info"] = (
            None if head is None else {"@type": "Member", "member_identifier": orjson.Fragment(head[5])}
        )
        rec["member_list"] = [orjson.Fragment(m[1]) for m in members]
        if members:
            rec["place"] = {"@type": "Place", "address": orjson.Fragment(members[0][4])}
        return rec

    def close(self):
        self.con.close()


@dataclass
class Registry:
    """The latest exchange snapshot, swapped for a newer one without a restart (checked at most every second)."""

    folder: str
    check_every: float = 1.0
    _current: Snapshot | None = None
    _key: tuple | None = None
    _checked: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _fingerprint(self) -> tuple | None:
        month = exchange.latest(self.folder)
        if month is None:
            return None
        st = os.stat(os.path.join(self.folder, month, "person.parquet"))
        return month, st.st_ino, st.st_mtime_ns

    def current(self) -> Snapshot | None:
        now = time.monotonic()
        if self._current is not None and now - self._checked < self.check_every:
            return self._current
        with self._lock:
            if self._current is not None and time.monotonic() - self._checked < self.check_every:
                return self._current
            key = self._fingerprint()
            if key is not None and key != self._key:
                self._current = Snapshot(self.folder, key[0])  # the old one stays usable for requests in flight
                self._key = key
                gc.collect()
                gc.freeze()  # the snapshot stays for its life: keep its objects out of every later collection
            self._checked = time.monotonic()
            return self._current
