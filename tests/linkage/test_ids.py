"""Stable identifiers: kept, new, merged, split, and the same ids whatever the order in which months are built."""

from __future__ import annotations

import duckdb
import pandas as pd
import pytest

from dtsen.linkage.ids import bootstrap_ledger, commit_ids, id_history, plan_ids


class Months:
    """Builds 'snapshots' of items grouped into clusters, remembering each snapshot's assignment (a crosswalk)."""

    def __init__(self, width: int = 3):
        self.con = duckdb.connect()
        self.con.execute("CREATE SCHEMA dtsen")
        self.width = width
        self.built: dict[str, dict[str, str]] = {}  # month -> item -> id

    def build(self, month: str, pairs: list[tuple[str, str]]) -> tuple[dict[str, str], pd.DataFrame]:
        self.con.register("_pairs", pd.DataFrame(pairs, columns=["item", "grp"]))
        plan_ids(self.con, "person", "_pairs", "DP", self.width)
        prev = max((m for m in self.built if m < month), default=None)
        if prev:
            self.con.register("_prev", pd.DataFrame(list(self.built[prev].items()), columns=["item", "id"]))
        hist = self.con.execute(f"SELECT * FROM {id_history(self.con, 'person', '_prev' if prev else None)}").df()
        commit_ids(self.con, "person", month)
        ids = dict(self.con.execute("SELECT grp, id FROM _ids_person").fetchall())
        self.built[month] = {item: ids[g] for item, g in pairs}
        return ids, hist


def events(hist: pd.DataFrame) -> set[tuple]:
    return {(r.id, r.event, r.related_id) for r in hist.itertuples()}


def test_first_snapshot_issues_ids_in_item_order():
    m = Months()
    ids, hist = m.build("2025-01", [("b", "g2"), ("a", "g1"), ("c", "g2")])
    assert ids == {"g1": "DP001", "g2": "DP002"}
    assert hist.empty  # the first snapshot: every id simply exists


def test_ids_carry_over_and_new_people_get_new_ids():
    m = Months()
    m.build("2025-01", [("a", "x"), ("b", "x"), ("c", "y")])
    ids, hist = m.build("2025-02", [("a", "p"), ("b", "p"), ("c", "q"), ("d", "r")])
    assert ids == {"p": "DP001", "q": "DP002", "r": "DP003"}
    assert events(hist) == {("DP003", "new", None)}


def test_merge_keeps_the_id_with_most_records_and_records_the_other():
    m = Months()
    m.build("2025-01", [("a", "x"), ("b", "x"), ("c", "y")])
    ids, hist = m.build("2025-02", [("a", "z"), ("b", "z"), ("c", "z")])
    assert ids == {"z": "DP001"}
    assert events(hist) == {("DP002", "merged_into", "DP001")}


def test_split_keeps_the_id_with_its_founding_record():
    m = Months()
    m.build("2025-01", [("a", "x"), ("b", "x"), ("c", "x")])
    # the founding record 'a' stays with the id even when the other part is larger
    ids, hist = m.build("2025-02", [("a", "x"), ("b", "y"), ("c", "y")])
    assert ids == {"x": "DP001", "y": "DP002"}
    assert events(hist) == {("DP002", "split_from", "DP001")}


def test_a_person_whose_founding_record_disappeared_keeps_the_id():
    m = Months()
    m.build("2025-01", [("a", "x"), ("b", "x"), ("c", "x")])
    ids, hist = m.build("2025-02", [("b", "x"), ("c", "x")])
    assert ids == {"x": "DP001"} and hist.empty


def test_rebuilding_an_earlier_month_after_later_ones_reproduces_its_ids_and_history():
    m = Months()
    jan = [("a", "g1"), ("b", "g1"), ("c", "g2"), ("d", "g3"), ("e", "g3")]
    ids_jan, hist_jan = m.build("2025-01", jan)
    feb = [("a", "g1"), ("b", "g1"), ("c", "g1"), ("d", "g3"), ("e", "g4"), ("f", "g5")]  # merge, split, new
    ids_feb, hist_feb = m.build("2025-02", feb)
    mar = [("a", "g1"), ("b", "g6"), ("c", "g1"), ("d", "g3"), ("e", "g4"), ("f", "g5"), ("g", "g7")]
    ids_mar, hist_mar = m.build("2025-03", mar)
    jan_first = dict(m.built["2025-01"])
    # January again, after February and March: the same ids for the same records, the same (empty) history
    again, hist_again = m.build("2025-01", jan)
    assert m.built["2025-01"] == jan_first and again == ids_jan and hist_again.empty
    # then March again, and February: same ids, same history
    feb_first, mar_first = dict(m.built["2025-02"]), dict(m.built["2025-03"])
    _, hist_mar2 = m.build("2025-03", mar)
    _, hist_feb2 = m.build("2025-02", feb)
    assert m.built["2025-03"] == mar_first and m.built["2025-02"] == feb_first
    assert events(hist_mar2) == events(hist_mar) and events(hist_feb2) == events(hist_feb)
    # no id was issued twice and none was re-issued by the reruns
    anchors = m.con.execute("SELECT id, count(*) FROM dtsen.id_anchor GROUP BY 1 HAVING count(*) > 1").fetchall()
    assert anchors == []
    assert m.con.execute("SELECT count(*) FROM dtsen.id_anchor").fetchall()[0][0] == len(
        set(jan_first.values()) | set(feb_first.values()) | set(mar_first.values())
    )


def test_a_month_rebuilt_with_changed_records_keeps_everyone_else():
    m = Months()
    m.build("2025-01", [("a", "g1"), ("b", "g2"), ("c", "g3")])
    before = dict(m.built["2025-01"])
    m.build("2025-01", [("a", "g1"), ("b", "g2"), ("c", "g3"), ("x", "g4")])  # a corrected delivery adds one
    after = m.built["2025-01"]
    assert all(after[k] == v for k, v in before.items()) and after["x"] == "DP004"


@pytest.mark.parametrize("seed", [1, 2])
def test_same_inputs_same_ids_in_any_row_order(seed):
    pairs = [(f"r{i:02d}", f"g{i % 7}") for i in range(50)]
    shuffled = pd.DataFrame(pairs).sample(frac=1, random_state=seed).itertuples(index=False)
    a, b = Months(width=10), Months(width=10)
    assert a.build("2025-01", pairs)[0] == b.build("2025-01", [tuple(p) for p in shuffled])[0]


def test_bootstrap_from_a_crosswalk_built_before_the_ledger():
    con = duckdb.connect()
    con.execute("CREATE SCHEMA dtsen")
    con.execute("""CREATE TABLE dtsen.crosswalk AS SELECT * FROM (VALUES
        ('2025-01', 'dtks', '2025-01', '1', 'DP0000000001', 'DF0000000001', 'dtks:1'),
        ('2025-02', 'dtks', '2025-02', '1', 'DP0000000001', 'DF0000000001', 'dtks:1'),
        ('2025-02', 'dtks', '2025-02', '2', 'DP0000000002', 'DF0000000001', 'dtks:2'))
        t(snapshot, source, delivery, record_id, person_id, family_id, cluster)""")
    bootstrap_ledger(con)
    assert con.execute(
        "SELECT item, id, snapshot FROM dtsen.id_ledger WHERE kind = 'person' ORDER BY 1"
    ).fetchall() == [("dtks:1", "DP0000000001", "2025-01"), ("dtks:2", "DP0000000002", "2025-02")]
    assert con.execute("SELECT id, item FROM dtsen.id_anchor WHERE kind = 'family'").fetchall() == [
        ("DF0000000001", "DP0000000001")
    ]


def test_the_ledger_keys_are_checked_before_anything_is_appended():
    """The ledger has no PRIMARY KEY (DuckDB holds a key's index in memory; at 10 M persons the first month could not
    commit it), so commit_ids checks the keys itself: an item recorded twice is refused, the ledger unchanged."""
    m = Months()
    m.build("2025-01", [("a", "g1"), ("b", "g2")])
    m.con.register("_pairs", pd.DataFrame([("a", "g1"), ("c", "g3")], columns=["item", "grp"]))
    plan_ids(m.con, "person", "_pairs", "DP", 3)
    m.con.execute("INSERT INTO dtsen.id_ledger VALUES ('person', 'c', 'DP009', '2025-01')")  # a writer in between
    before = m.con.execute("SELECT count(*) FROM dtsen.id_ledger").fetchall()[0][0]
    with pytest.raises(RuntimeError, match="item c would be recorded twice"):
        commit_ids(m.con, "person", "2025-02")
    assert m.con.execute("SELECT count(*) FROM dtsen.id_ledger").fetchall()[0][0] == before
    m.con.execute("INSERT INTO dtsen.id_anchor VALUES ('person', 'DP003', 'z', '2025-01')")
    m.con.execute("DELETE FROM dtsen.id_ledger WHERE item = 'c'")
    with pytest.raises(RuntimeError, match="id DP003 would be recorded twice"):
        commit_ids(m.con, "person", "2025-02")


def test_a_ledger_keyed_before_is_migrated_with_its_rows():
    con = duckdb.connect()
    con.execute("CREATE SCHEMA dtsen")
    con.execute("""CREATE TABLE dtsen.id_ledger (kind VARCHAR NOT NULL, item VARCHAR NOT NULL, id VARCHAR NOT NULL,
        snapshot VARCHAR NOT NULL, PRIMARY KEY (kind, item))""")
    con.execute("INSERT INTO dtsen.id_ledger VALUES ('person', 'a', 'DP001', '2025-01')")
    con.register("_pairs", pd.DataFrame([("a", "g1"), ("b", "g1")], columns=["item", "grp"]))
    plan_ids(con, "person", "_pairs", "DP", 3)
    assert (
        con.execute(
            "SELECT count(*) FROM duckdb_constraints() WHERE schema_name = 'dtsen' AND constraint_type = 'PRIMARY KEY'"
        ).fetchall()[0][0]
        == 0
    )
    assert con.execute("SELECT * FROM dtsen.id_ledger").fetchall() == [("person", "a", "DP001", "2025-01")]
    commit_ids(con, "person", "2025-02")
    assert con.execute("SELECT item, id FROM dtsen.id_ledger ORDER BY 1").fetchall() == [("a", "DP001"), ("b", "DP001")]
