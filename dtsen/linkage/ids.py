"""Stable identifiers across snapshots (persons and families share the rule).

Items (source records for persons, persons for families) are grouped (clusters, families). Each group inherits
the previous identifier most of its items carried:
- a group whose items carried no identifier gets a new one;
- a group whose items carried one identifier keeps it (`kept`);
- a group whose items carried several keeps the one carried by most items (ties: the smallest id) and the others
  are retired as `merged_into` it;
- an identifier whose items now sit in several groups stays with the group holding most of them (ties: the group
  with the smallest first item); the other groups get new identifiers recorded as `split_from` it.
New identifiers continue the highest number ever issued, in the order of each group's smallest item, so the same
inputs always give the same identifiers.
"""
from __future__ import annotations

import pandas as pd


def assign_stable_ids(groups: pd.DataFrame, previous: pd.DataFrame, prefix: str, issued_max: int,
                      width: int = 10) -> tuple[pd.DataFrame, pd.DataFrame]:
    """groups: columns item, group. previous: columns item, id (the previous snapshot's assignment).

    Returns (assignment: group -> id, history: id, event, related_id)."""
    g = groups[["item", "group"]].copy()
    g["item"] = g["item"].astype(str)
    # smallest item per group (sort + first: a string groupby-min would run per group in Python)
    first_item = g.sort_values(["item"]).drop_duplicates("group").set_index("group")["item"].rename("first_item")
    prev = previous[["item", "id"]].copy() if len(previous) else pd.DataFrame(columns=["item", "id"])
    prev["item"] = prev["item"].astype(str)
    carried = g.merge(prev, on="item", how="inner")
    counts = carried.groupby(["group", "id"]).size().rename("n").reset_index()
    counts = counts.merge(first_item.reset_index(), on="group")

    # 1. each previous id goes to the group holding most of its items
    owner = counts.sort_values(["id", "n", "first_item"], ascending=[True, False, True]).drop_duplicates("id")
    # 2. a group owning several ids keeps the one with most items; the rest merge into it
    owner = owner.sort_values(["group", "n", "id"], ascending=[True, False, True])
    keep = owner.drop_duplicates("group")
    merged = owner[~owner.index.isin(keep.index)]

    assign = first_item.reset_index()[["group", "first_item"]].merge(keep[["group", "id"]], on="group", how="left")
    need = assign["id"].isna()
    new_order = assign.loc[need].sort_values("first_item").index
    numbers = range(issued_max + 1, issued_max + 1 + len(new_order))
    fmt = f"{prefix}{{:0{width}d}}"
    assign.loc[new_order, "id"] = [fmt.format(n) for n in numbers]

    history = [pd.DataFrame({"id": keep["id"], "event": "kept", "related_id": None})]
    history.append(pd.DataFrame({"id": merged["id"].to_numpy(), "event": "merged_into",
                                 "related_id": keep.set_index("group").loc[merged["group"], "id"].to_numpy()}))
    new_groups = assign.loc[need, ["group", "id"]]
    # new groups whose items came from an id owned elsewhere: a split
    split_src = counts[counts["group"].isin(new_groups["group"])].sort_values(["group", "n"], ascending=[True, False])
    split_src = split_src.drop_duplicates("group").set_index("group")["id"]
    new_groups = new_groups.assign(related_id=new_groups["group"].map(split_src))
    history.append(pd.DataFrame({"id": new_groups["id"].to_numpy(),
                                 "event": new_groups["related_id"].notna().map({True: "split_from", False: "new"}).to_numpy(),
                                 "related_id": new_groups["related_id"].to_numpy()}))
    hist = pd.concat(history, ignore_index=True)
    hist["related_id"] = hist["related_id"].astype(object).where(hist["related_id"].notna(), None)
    return assign[["group", "id"]].sort_values("group").reset_index(drop=True), hist.sort_values(["id", "event"]).reset_index(drop=True)


def id_number(ids: pd.Series, prefix: str) -> int:
    """Highest number in identifiers of the form <prefix><digits> (0 when none)."""
    if ids is None or len(ids) == 0:
        return 0
    nums = pd.to_numeric(ids.astype(str).str.slice(len(prefix)), errors="coerce")
    return int(nums.max()) if nums.notna().any() else 0
