"""Stable identifiers: the same records give the same ids, whatever the order in which months are built.

Items (source records `source:record_id` for persons, person ids for families) are grouped (clusters, families).
Identifiers are promises, so they come from an append-only ledger in the warehouse, never from "the previous
snapshot" (which depends on the order in which months were run):

- `dtsen.id_ledger` (kind, item, id, snapshot): every item's *home* id, the id its group had when the item was
  first seen. Written once per item, never changed.
- `dtsen.id_anchor` (kind, id, item, snapshot): the item that founded each id (the first item of the group that
  was issued the id). Every id ever issued has exactly one anchor.

Assignment for a snapshot (the only place the rule is written):
1. An id is a candidate when its anchor or at least one of its home items is in the snapshot.
2. A candidate id belongs to the group holding its anchor item; if the anchor is not in the snapshot, to the group
   holding most of its home items (ties: the group with the smallest first item).
3. A group owning several ids keeps the one with most home items in it (ties: the smallest id); the others are
   retired into it (a merge).
4. A group owning no id gets a new one: numbers continue the highest ever issued, in the order of each group's
   smallest item; its anchor is that smallest item.
Items without a home take the id their group got. Rebuilding a month with the same records therefore reproduces
its ids exactly, even after later months were built (their ledger rows concern other items, or ids whose home items
are absent); rebuilding with changed records keeps the id of everyone whose records did not change.

History (`dtsen.person_id_history`, `dtsen.family_id_history`) compares a snapshot with the month before it:
`new`, `split_from` (the items carried an id that lives on elsewhere), `merged_into`, `gone` (no record left).
"""

from __future__ import annotations

import duckdb

# No PRIMARY KEY: DuckDB keeps a key's ART index in memory, beyond its spilling, and must hold a transaction's whole
# index delta when it commits: a national population's first month could not commit it within DuckDB's memory limit
# (docs: Decisions, "Identifiers from a ledger"). The keys hold by
# construction (plan_ids appends only items not yet in the ledger, and ids above the highest issued) and
# commit_ids checks both before it appends.
LEDGER_KEYS = {"id_ledger": ("item", "id"), "id_anchor": ("id", "item")}
LEDGER_DDL = ["CREATE SCHEMA IF NOT EXISTS dtsen"] + [
    f"CREATE TABLE IF NOT EXISTS dtsen.{table} (kind VARCHAR NOT NULL, {key} VARCHAR NOT NULL, "
    f"{value} VARCHAR NOT NULL, snapshot VARCHAR NOT NULL)"
    for table, (key, value) in LEDGER_KEYS.items()
]


def ensure_ledger(con: duckdb.DuckDBPyConnection) -> None:
    for stmt in LEDGER_DDL:
        con.execute(stmt)
    keyed = [
        t
        for (t,) in con.execute(
            """SELECT DISTINCT table_name FROM duckdb_constraints()
        WHERE schema_name = 'dtsen' AND table_name IN (SELECT unnest(?)) AND constraint_type = 'PRIMARY KEY'""",
            [list(LEDGER_KEYS)],
        ).fetchall()
    ]
    for table in keyed:  # a warehouse from before: the same rows, without the in-memory index
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(f"CREATE TABLE dtsen._{table}_unkeyed AS SELECT * FROM dtsen.{table}")
            con.execute(f"DROP TABLE dtsen.{table}")
            con.execute(f"ALTER TABLE dtsen._{table}_unkeyed RENAME TO {table}")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        con.execute("COMMIT")


def plan_ids(con: duckdb.DuckDBPyConnection, kind: str, groups: str, prefix: str, width: int = 10) -> str:
    """groups: a relation with columns item, grp (every item once). Plans the ids without writing the ledger.

    Creates temp tables `_ids_<kind>` (grp, id, is_new), `_ledger_new_<kind>` (item, id) and `_anchor_new_<kind>`
    (id, item); returns the name of the first. `commit_ids` writes the other two into the ledger."""
    ensure_ledger(con)
    t = f"_ids_{kind}"
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _g_{kind} AS SELECT item::VARCHAR AS item, grp::VARCHAR AS grp FROM {groups}"
    )
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _gfirst_{kind} AS SELECT grp, min(item) AS first_item "
        f"FROM _g_{kind} GROUP BY grp"
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _cand_{kind} AS
                    SELECT l.id, g.grp, count(*) AS n FROM _g_{kind} g
                    JOIN dtsen.id_ledger l ON l.kind = ? AND l.item = g.item GROUP BY ALL""",
        [kind],
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _keep_{kind} AS
        WITH majority AS (
            SELECT c.id, first(c.grp ORDER BY c.n DESC, f.first_item) AS grp
            FROM _cand_{kind} c JOIN _gfirst_{kind} f USING (grp) GROUP BY c.id
        ),
        anchored AS (
            SELECT a.id, g.grp FROM dtsen.id_anchor a JOIN _g_{kind} g ON g.item = a.item WHERE a.kind = ?
        ),
        owner AS (SELECT id, coalesce(a.grp, m.grp) AS grp FROM majority m FULL JOIN anchored a USING (id))
        SELECT o.grp, first(o.id ORDER BY coalesce(c.n, 0) DESC, o.id) AS id,
               list(o.id ORDER BY o.id) AS owned
        FROM owner o LEFT JOIN _cand_{kind} c USING (id, grp) GROUP BY o.grp""",
        [kind],
    )
    base = con.execute(
        "SELECT coalesce(max(CAST(substr(id, ?) AS BIGINT)), 0) FROM dtsen.id_anchor WHERE kind = ?",
        [len(prefix) + 1, kind],
    ).fetchall()[0][0]
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE {t} AS
        SELECT grp, id, false AS is_new FROM _keep_{kind}
        UNION ALL
        SELECT grp, ? || lpad(CAST(? + row_number() OVER (ORDER BY first_item) AS VARCHAR), ?, '0'), true
        FROM _gfirst_{kind} ANTI JOIN _keep_{kind} USING (grp)""",
        [prefix, int(base), width],
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _ledger_new_{kind} AS
                    SELECT g.item, i.id FROM _g_{kind} g JOIN {t} i USING (grp)
                    WHERE NOT EXISTS (SELECT 1 FROM dtsen.id_ledger l WHERE l.kind = ? AND l.item = g.item)""",
        [kind],
    )
    con.execute(f"""CREATE OR REPLACE TEMP TABLE _anchor_new_{kind} AS
                    SELECT i.id, f.first_item AS item FROM {t} i JOIN _gfirst_{kind} f USING (grp) WHERE i.is_new""")
    return t


def commit_ids(con: duckdb.DuckDBPyConnection, kind: str, month: str) -> None:
    """Append the planned ledger and anchor rows (call inside the snapshot's write transaction), after checking the
    ledger's keys: every item once, every id anchored once."""
    clash = con.execute(
        f"""
        SELECT 'item ' || item FROM (SELECT item FROM _ledger_new_{kind} GROUP BY item HAVING count(*) > 1)
        UNION ALL SELECT 'item ' || n.item FROM _ledger_new_{kind} n
                  SEMI JOIN dtsen.id_ledger o ON o.kind = ? AND o.item = n.item
        UNION ALL SELECT 'id ' || id FROM (SELECT id FROM _anchor_new_{kind} GROUP BY id HAVING count(*) > 1)
        UNION ALL SELECT 'id ' || a.id FROM _anchor_new_{kind} a
                  SEMI JOIN dtsen.id_anchor o ON o.kind = ? AND o.id = a.id
        LIMIT 1""",
        [kind, kind],
    ).fetchall()
    if clash:
        raise RuntimeError(f"id ledger ({kind}): {clash[0][0]} would be recorded twice; nothing was written")
    con.execute(f"INSERT INTO dtsen.id_ledger SELECT ?, item, id, ? FROM _ledger_new_{kind}", [kind, month])
    con.execute(f"INSERT INTO dtsen.id_anchor SELECT ?, id, item, ? FROM _anchor_new_{kind}", [kind, month])


def id_history(con: duckdb.DuckDBPyConnection, kind: str, previous: str | None) -> str:
    """Events of this snapshot's ids against the previous snapshot's assignment `previous` (item, id).

    Creates temp table `_hist_<kind>` (id, event, related_id) and returns its name. Without a previous snapshot
    (the first month) nothing is recorded: every id is simply there."""
    t = f"_hist_{kind}"
    if previous is None:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {t} (id VARCHAR, event VARCHAR, related_id VARCHAR)")
        return t
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE {t} AS
        WITH cur AS (SELECT g.item, i.id FROM _g_{kind} g JOIN _ids_{kind} i USING (grp)),
        prev AS (SELECT item::VARCHAR AS item, id::VARCHAR AS id FROM {previous}),
        appeared AS (SELECT DISTINCT id FROM cur WHERE id NOT IN (SELECT id FROM prev)),
        disappeared AS (SELECT DISTINCT id FROM prev WHERE id NOT IN (SELECT id FROM cur)),
        came_from AS (  -- for an appeared id: the previous id most of its items carried
            SELECT id, first(pid ORDER BY n DESC, pid) AS src FROM (
                SELECT c.id, p.id AS pid, count(*) AS n FROM cur c JOIN prev p USING (item)
                WHERE c.id IN (SELECT id FROM appeared) GROUP BY ALL) GROUP BY id
        ),
        went_to AS (  -- for a disappeared id: the current id most of its items carry now
            SELECT id, first(cid ORDER BY n DESC, cid) AS dst FROM (
                SELECT p.id, c.id AS cid, count(*) AS n FROM prev p JOIN cur c USING (item)
                WHERE p.id IN (SELECT id FROM disappeared) GROUP BY ALL) GROUP BY id
        )
        SELECT a.id, CASE WHEN f.src IS NOT NULL AND f.src IN (SELECT id FROM cur) THEN 'split_from' ELSE 'new' END
                   AS event,
               CASE WHEN f.src IN (SELECT id FROM cur) THEN f.src END AS related_id
        FROM appeared a LEFT JOIN came_from f USING (id)
        UNION ALL
        SELECT d.id, CASE WHEN w.dst IS NULL THEN 'gone' ELSE 'merged_into' END, w.dst
        FROM disappeared d LEFT JOIN went_to w USING (id)
        ORDER BY 1, 2""")
    return t


def bootstrap_ledger(con: duckdb.DuckDBPyConnection) -> None:
    """A warehouse built before the ledger existed: take every item's and id's first appearance in the crosswalk."""
    ensure_ledger(con)
    if con.execute("SELECT count(*) FROM dtsen.id_ledger").fetchall()[0][0]:
        return
    exists = con.execute("""SELECT count(*) FROM information_schema.tables WHERE table_schema = 'dtsen'
                            AND table_name = 'crosswalk'""").fetchall()[0][0]
    if not exists or not con.execute("SELECT count(*) FROM dtsen.crosswalk").fetchall()[0][0]:
        return
    for kind, item, col in (
        ("person", "source || ':' || record_id", "person_id"),
        ("family", "person_id", "family_id"),
    ):
        con.execute(
            f"""INSERT INTO dtsen.id_ledger
                        SELECT ?, item, first(id ORDER BY snapshot), min(snapshot) FROM
                        (SELECT DISTINCT {item} AS item, {col} AS id, snapshot FROM dtsen.crosswalk) GROUP BY item""",
            [kind],
        )
        con.execute(
            f"""INSERT INTO dtsen.id_anchor
                        SELECT ?, id, first(item ORDER BY snapshot, item), min(snapshot) FROM
                        (SELECT DISTINCT {item} AS item, {col} AS id, snapshot FROM dtsen.crosswalk) GROUP BY id""",
            [kind],
        )
