"""Clusters over scored pairs: connected components (numpy union-find on integer record indices), then, where a
component holds records that cannot be one person, a constrained re-clustering that keeps the strongest evidence.

A component cannot be one person when it holds two records whose NIKs say two people (`conflicts`: computed by the
caller, see `pipeline.nik_conflicts`), or more records of one source delivery than a person has there
(`max_per_source`: one record, plus duplicate registrations). Such a component is rebuilt from its own links in
descending match probability (ties by record index, so the result is deterministic), skipping every union that
would put two conflicting records, or too many records of one source, into one cluster. Chaining through a third
record (a NIK-less record linked to two sisters) is undone this way, and the third record stays with the person it
is linked to most strongly.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

MAX_PER_SOURCE = 2  # records of one person in one source delivery: the record plus one duplicate registration


def _find(parent: np.ndarray, x: np.ndarray) -> np.ndarray:
    while True:
        p = parent[x]
        if np.array_equal(p, x):
            return x
        parent[x] = parent[p]
        x = parent[x]


def components(n: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Root (the smallest index) of each node's component, for n nodes and edges a[i]-b[i]."""
    parent = np.arange(n)
    if len(a):
        while True:  # hook the larger root under the smaller until nothing changes (vectorised union-find)
            ra, rb = _find(parent, a), _find(parent, b)
            diff = ra != rb
            if not diff.any():
                break
            np.minimum.at(parent, np.maximum(ra[diff], rb[diff]), np.minimum(ra[diff], rb[diff]))
    return _find(parent, np.arange(n))


def over_source_cap(roots: np.ndarray, source: np.ndarray, max_per_source: int) -> np.ndarray:
    """Roots of components holding more than max_per_source records of one source."""
    if not len(roots):
        return np.array([], dtype=roots.dtype)
    counts = pd.DataFrame({"root": roots, "source": source}).value_counts()
    return np.unique(counts[counts > max_per_source].index.get_level_values("root").to_numpy())


def constrained(
    members: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    p: np.ndarray,
    conflicts: set[tuple[int, int]],
    source: np.ndarray,
    max_per_source: int,
) -> dict[int, int]:
    """Re-cluster one component: its links strongest first, skipping unions that break a constraint.
    Returns node -> root (the smallest index of its new cluster)."""
    parent = {int(m): int(m) for m in members}
    group = {int(m): {int(m)} for m in members}

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    order = np.lexsort((b, a, -p))
    for i in order:
        ra, rb = find(int(a[i])), find(int(b[i]))
        if ra == rb:
            continue
        ga, gb = group[ra], group[rb]
        if any((min(x, y), max(x, y)) in conflicts for x in ga for y in gb):
            continue
        merged = ga | gb
        if max_per_source and np.bincount(source[list(merged)]).max() > max_per_source:
            continue
        keep, drop = min(ra, rb), max(ra, rb)
        parent[drop] = keep
        group[keep] = merged
        del group[drop]
    return {m: min(group[find(m)]) for m in parent}


def cluster_indices(
    n: int,
    a: np.ndarray,
    b: np.ndarray,
    p: np.ndarray,
    threshold: float,
    conflicts: np.ndarray | None = None,
    source: np.ndarray | None = None,
    max_per_source: int = MAX_PER_SOURCE,
    conflicts_of=None,
) -> tuple[np.ndarray, int]:
    """Components of the links at or above `threshold`, re-clustered under the constraints where they break them.

    conflicts: (k, 2) array of record index pairs that cannot be one person, or `conflicts_of(roots)`, a callable
    computing them for the components found. source: integer source code per record (None: no cap).
    Returns (root per node, number of components re-clustered)."""
    keep = p >= threshold
    a, b, p = a[keep], b[keep], p[keep]
    roots = components(n, a, b)
    if conflicts is None and conflicts_of is not None:
        conflicts = conflicts_of(roots)
    bad = set()
    pairs: set[tuple[int, int]] = set()
    if conflicts is not None and len(conflicts):
        c = np.asarray(conflicts, dtype=np.int64).reshape(-1, 2)
        same = roots[c[:, 0]] == roots[c[:, 1]]
        bad.update(np.unique(roots[c[same, 0]]).tolist())
        pairs = {(int(min(x, y)), int(max(x, y))) for x, y in c[same]}
    src = source if source is not None else np.zeros(n, dtype=np.int64)
    if source is not None and max_per_source:
        bad.update(over_source_cap(roots, source, max_per_source).tolist())
    if not bad:
        return roots, 0
    out = roots.copy()
    bad_arr = np.array(sorted(bad))
    in_bad = np.isin(roots, bad_arr)
    edge_bad = in_bad[a] & in_bad[b]
    ea, eb, ep = a[edge_bad], b[edge_bad], p[edge_bad]
    eroot = roots[ea]
    nodes = np.flatnonzero(in_bad)
    node_root = roots[nodes]
    for r in bad_arr:
        members = nodes[node_root == r]
        sel = eroot == r
        for node, new_root in constrained(members, ea[sel], eb[sel], ep[sel], pairs, src, max_per_source).items():
            out[node] = new_root
    return out, len(bad_arr)


def connected_components(records: pd.DataFrame, edges: pd.DataFrame) -> pd.DataFrame:
    """records: source, record_id. edges: source_l, record_id_l, source_r, record_id_r (all at one threshold).

    Returns source, record_id, cluster where cluster = the smallest 'source:record_id' key in the component."""
    keys = (records["source"].astype(str) + ":" + records["record_id"].astype(str)).to_numpy()
    order = np.argsort(keys, kind="stable")
    keys_sorted = keys[order]
    a = np.searchsorted(
        keys_sorted, (edges["source_l"].astype(str) + ":" + edges["record_id_l"].astype(str)).to_numpy()
    )
    b = np.searchsorted(
        keys_sorted, (edges["source_r"].astype(str) + ":" + edges["record_id_r"].astype(str)).to_numpy()
    )
    roots = components(len(keys), a, b)
    cluster = np.empty(len(keys), dtype=object)
    cluster[order] = keys_sorted[roots]
    return pd.DataFrame(
        {"source": records["source"].to_numpy(), "record_id": records["record_id"].to_numpy(), "cluster": cluster}
    )
