"""Connected components over scored pairs (numpy union-find), with a guard against oversized clusters."""
from __future__ import annotations

import numpy as np
import pandas as pd

# No family plausibly explains more records of one person than this (3 sources, a few monthly deliveries,
# duplicates inside a source); bigger clusters are re-split at a stricter threshold.
MAX_CLUSTER_RECORDS = 12
STRICT_THRESHOLD = 0.9999


def _find(parent: np.ndarray, x: np.ndarray) -> np.ndarray:
    while True:
        p = parent[x]
        if np.array_equal(p, x):
            return x
        parent[x] = parent[p]
        x = parent[x]


def connected_components(records: pd.DataFrame, edges: pd.DataFrame) -> pd.DataFrame:
    """records: source, record_id. edges: source_l, record_id_l, source_r, record_id_r.

    Returns source, record_id, cluster where cluster = the smallest 'source:record_id' key in the component."""
    keys = (records["source"].astype(str) + ":" + records["record_id"].astype(str)).to_numpy()
    order = np.argsort(keys, kind="stable")
    keys_sorted = keys[order]
    n = len(keys)
    parent = np.arange(n)
    if len(edges):
        a = np.searchsorted(keys_sorted, (edges["source_l"].astype(str) + ":" + edges["record_id_l"].astype(str)).to_numpy())
        b = np.searchsorted(keys_sorted, (edges["source_r"].astype(str) + ":" + edges["record_id_r"].astype(str)).to_numpy())
        # iterate hooking the larger root under the smaller until stable (vectorised union-find)
        while True:
            ra, rb = _find(parent, a), _find(parent, b)
            diff = ra != rb
            if not diff.any():
                break
            lo, hi = np.minimum(ra[diff], rb[diff]), np.maximum(ra[diff], rb[diff])
            np.minimum.at(parent, hi, lo)
        roots = _find(parent, np.arange(n))
    else:
        roots = np.arange(n)
    cluster_sorted = keys_sorted[roots]
    cluster = np.empty(n, dtype=object)
    cluster[order] = cluster_sorted
    return pd.DataFrame({"source": records["source"].to_numpy(), "record_id": records["record_id"].to_numpy(),
                         "cluster": cluster})


def split_oversized(clusters: pd.DataFrame, links: pd.DataFrame, max_records: int = MAX_CLUSTER_RECORDS,
                    strict: float = STRICT_THRESHOLD) -> tuple[pd.DataFrame, int]:
    """Re-cluster clusters bigger than max_records using only links at or above `strict`."""
    size = clusters.groupby("cluster")["record_id"].transform("size")
    big = clusters[size > max_records]
    if big.empty:
        return clusters, 0
    keys = set(big["source"] + ":" + big["record_id"])
    lk = links[links["match_probability"] >= strict]
    lk = lk[(lk["source_l"] + ":" + lk["record_id_l"]).isin(keys) & (lk["source_r"] + ":" + lk["record_id_r"]).isin(keys)]
    re = connected_components(big[["source", "record_id"]], lk)
    out = clusters.copy()
    out.loc[big.index, "cluster"] = re["cluster"].to_numpy()
    return out, int(big["cluster"].nunique())
