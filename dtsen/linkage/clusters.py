"""Connected components over scored pairs (numpy union-find on integer record indices), with a guard against
oversized clusters."""
from __future__ import annotations

import numpy as np
import pandas as pd

# No family plausibly explains more records of one person than this (3 sources, duplicates inside a source);
# bigger clusters are re-split using only the strongest links.
MAX_CLUSTER_RECORDS = 12
STRICT_THRESHOLD = 0.9999


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


def cluster_indices(n: int, a: np.ndarray, b: np.ndarray, p: np.ndarray, threshold: float,
                    max_records: int = MAX_CLUSTER_RECORDS, strict: float = STRICT_THRESHOLD) -> tuple[np.ndarray, int]:
    """Components of the links at or above `threshold`; components bigger than max_records are re-split using only
    links at or above `strict`. Returns (root per node, number of components re-split)."""
    keep = p >= threshold
    roots = components(n, a[keep], b[keep])
    size = np.bincount(roots, minlength=n)
    big = size[roots] > max_records
    if not big.any():
        return roots, 0
    n_split = int(len(np.unique(roots[big])))
    strong = (p >= strict) & big[a] & big[b]
    sub = components(n, a[strong], b[strong])
    return np.where(big, sub, roots), n_split


def connected_components(records: pd.DataFrame, edges: pd.DataFrame) -> pd.DataFrame:
    """records: source, record_id. edges: source_l, record_id_l, source_r, record_id_r (all at one threshold).

    Returns source, record_id, cluster where cluster = the smallest 'source:record_id' key in the component."""
    keys = (records["source"].astype(str) + ":" + records["record_id"].astype(str)).to_numpy()
    order = np.argsort(keys, kind="stable")
    keys_sorted = keys[order]
    a = np.searchsorted(keys_sorted, (edges["source_l"].astype(str) + ":" + edges["record_id_l"].astype(str)).to_numpy())
    b = np.searchsorted(keys_sorted, (edges["source_r"].astype(str) + ":" + edges["record_id_r"].astype(str)).to_numpy())
    roots = components(len(keys), a, b)
    cluster = np.empty(len(keys), dtype=object)
    cluster[order] = keys_sorted[roots]
    return pd.DataFrame({"source": records["source"].to_numpy(), "record_id": records["record_id"].to_numpy(),
                         "cluster": cluster})
