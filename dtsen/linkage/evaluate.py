"""Linkage quality against the synthetic ground truth: pairwise precision/recall/F1 and B-cubed.

Only evaluation reads truth/. Clusterings are relations with columns source, record_id, cluster.
"""
from __future__ import annotations

import duckdb
import pandas as pd


def metrics(con: duckdb.DuckDBPyConnection, clusters: str, truth: str) -> dict:
    """clusters: (source, record_id, cluster); truth: (source, record_id, person_id). Joined on the records."""
    row = con.execute(f"""
        WITH j AS (SELECT c.cluster, t.person_id FROM {clusters} c
                   JOIN {truth} t ON t.source = c.source AND t.record_id = c.record_id),
        pc AS (SELECT cluster, count(*)::DOUBLE AS n FROM j GROUP BY 1),
        tc AS (SELECT person_id, count(*)::DOUBLE AS n FROM j GROUP BY 1),
        bc AS (SELECT cluster, person_id, count(*)::DOUBLE AS n FROM j GROUP BY 1, 2),
        b3 AS (SELECT sum(bc.n * bc.n / pc.n) AS p_num, sum(bc.n * bc.n / tc.n) AS r_num
               FROM bc JOIN pc USING (cluster) JOIN tc USING (person_id))
        SELECT (SELECT sum(n * (n - 1) / 2) FROM pc), (SELECT sum(n * (n - 1) / 2) FROM tc),
               (SELECT sum(n * (n - 1) / 2) FROM bc), (SELECT sum(n) FROM pc), (SELECT count(*) FROM pc),
               (SELECT max(n) FROM pc), (SELECT p_num FROM b3), (SELECT r_num FROM b3), (SELECT count(*) FROM tc)
    """).fetchall()[0]
    pred_pairs, true_pairs, tp, n, n_clusters, largest, b3p, b3r, n_persons = (float(x or 0) for x in row)
    precision = tp / pred_pairs if pred_pairs else 1.0
    recall = tp / true_pairs if true_pairs else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    bp, br = (b3p / n if n else 0.0), (b3r / n if n else 0.0)
    return {"records": int(n), "clusters": int(n_clusters), "true_persons": int(n_persons),
            "largest_cluster": int(largest), "true_pairs": int(true_pairs), "predicted_pairs": int(pred_pairs),
            "true_positive_pairs": int(tp), "precision": precision, "recall": recall, "f1": f1,
            "bcubed_precision": bp, "bcubed_recall": br,
            "bcubed_f1": 2 * bp * br / (bp + br) if bp + br else 0.0}


def nik_only_clusters_sql(records: str) -> str:
    """Today's practice: records with the same raw NIK are one person; records without a NIK stand alone."""
    return f"""SELECT source, record_id,
                      CASE WHEN nik_raw IS NOT NULL THEN 'NIK:' || nik_raw ELSE source || ':' || record_id END AS cluster
               FROM {records}"""


def threshold_curve(con: duckdb.DuckDBPyConnection, links: str, records: str, truth: str,
                    thresholds: list[float]) -> pd.DataFrame:
    """Precision/recall/F1 of connected components at each threshold (from the scored pairs)."""
    from .clusters import connected_components

    rows = []
    recs = con.execute(f"SELECT source, record_id FROM {records}").df()
    for th in thresholds:
        edges = con.execute(f"SELECT source_l, record_id_l, source_r, record_id_r FROM {links} "
                            f"WHERE match_probability >= ?", [th]).df()
        cl = connected_components(recs, edges)
        con.register("_curve_clusters", cl)
        try:
            m = metrics(con, "_curve_clusters", truth)
        finally:
            con.unregister("_curve_clusters")
        rows.append({"threshold": th, **{k: m[k] for k in ("precision", "recall", "f1", "largest_cluster")}})
    return pd.DataFrame(rows)
