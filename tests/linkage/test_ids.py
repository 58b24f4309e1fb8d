"""Stable identifiers: kept, new, merged, split."""
from __future__ import annotations

import pandas as pd

from dtsen.linkage.ids import assign_stable_ids, id_number


def frame(pairs):
    return pd.DataFrame(pairs, columns=["item", "group"])


def prev(pairs):
    return pd.DataFrame(pairs, columns=["item", "id"])


def test_first_snapshot_issues_ids_in_item_order():
    a, h = assign_stable_ids(frame([("b", "g2"), ("a", "g1"), ("c", "g2")]), prev([]), "DP", 0, width=3)
    assert dict(zip(a["group"], a["id"])) == {"g1": "DP001", "g2": "DP002"}
    assert set(h["event"]) == {"new"}


def test_ids_carry_over_and_new_people_get_new_ids():
    old = prev([("a", "DP001"), ("b", "DP001"), ("c", "DP002")])
    a, h = assign_stable_ids(frame([("a", "x"), ("b", "x"), ("c", "y"), ("d", "z")]), old, "DP", 2, width=3)
    got = dict(zip(a["group"], a["id"]))
    assert got == {"x": "DP001", "y": "DP002", "z": "DP003"}
    assert h.set_index("id").loc["DP003", "event"] == "new"


def test_merge_keeps_the_larger_id_and_records_the_other():
    old = prev([("a", "DP001"), ("b", "DP001"), ("c", "DP002")])
    a, h = assign_stable_ids(frame([("a", "x"), ("b", "x"), ("c", "x")]), old, "DP", 2, width=3)
    assert list(a["id"]) == ["DP001"]
    merged = h[h["event"] == "merged_into"]
    assert list(zip(merged["id"], merged["related_id"])) == [("DP002", "DP001")]


def test_split_keeps_the_id_with_the_larger_part():
    old = prev([("a", "DP001"), ("b", "DP001"), ("c", "DP001")])
    a, h = assign_stable_ids(frame([("a", "x"), ("b", "x"), ("c", "y")]), old, "DP", 1, width=3)
    got = dict(zip(a["group"], a["id"]))
    assert got == {"x": "DP001", "y": "DP002"}
    split = h[h["event"] == "split_from"]
    assert list(zip(split["id"], split["related_id"])) == [("DP002", "DP001")]


def test_same_inputs_same_ids():
    g = frame([(f"r{i}", f"g{i % 7}") for i in range(50)])
    assert assign_stable_ids(g, prev([]), "DP", 0)[0].equals(assign_stable_ids(g.sample(frac=1, random_state=1),
                                                                               prev([]), "DP", 0)[0]
                                                             .sort_values("group").reset_index(drop=True))


def test_id_number():
    assert id_number(pd.Series(["DP0000000007", "DP0000000012"]), "DP") == 12
    assert id_number(pd.Series([], dtype=object), "DP") == 0
