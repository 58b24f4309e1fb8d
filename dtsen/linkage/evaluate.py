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


THRESHOLDS = [0.5, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995, 0.999, 0.9999]


def _truth_relation(con: duckdb.DuckDBPyConnection, truth_path: str, deliveries: dict[str, str]) -> None:
    cond = " OR ".join(f"(source = '{s}' AND delivery = '{d}')" for s, d in deliveries.items())
    con.execute(f"CREATE OR REPLACE TEMP TABLE _truth AS SELECT source, record_id, person_id FROM read_parquet(?) "
                f"WHERE {cond}", [truth_path])


def generic_baseline_clusters(con: duckdb.DuckDBPyConnection, records: str, seed: int = 42,
                              threshold: float = 0.999) -> pd.DataFrame:
    """The generic Splink set-up on the same records: raw upper-cased names (Jaro-Winkler), birth date, sex,
    KK, village; no Indonesian normalisation, no NIK parts. Trained the same way, clustered at 0.999."""
    from . import model as lm
    from .clusters import connected_components

    con.execute("""CREATE OR REPLACE TEMP TABLE _generic_input AS
        SELECT source, record_id, nik_raw, upper(name_raw) AS name_upper, sex, birth_date, year(birth_date) AS birth_year,
               month(birth_date) AS birth_month, day(birth_date) AS birth_day, no_kk, village_code
        FROM {records}""".format(records=records))
    linker = lm.linker_over(con, "_generic_input", lm.generic_settings())
    lm.estimate_prior(linker, "l.nik_raw = r.nik_raw AND l.birth_date = r.birth_date")
    linker.training.estimate_u_using_random_sampling(max_pairs=1.2e6, seed=seed, num_chunks=1)
    for rule in ["l.nik_raw = r.nik_raw", "l.name_upper = r.name_upper"]:
        linker.training.estimate_parameters_using_expectation_maximisation(rule, max_pairs=2e6)
    pred = linker.inference.predict(threshold_match_probability=threshold, warning_mode="never")
    edges = con.sql(f"SELECT source_l, record_id_l, source_r, record_id_r FROM {pred.physical_name}").df()
    pred.drop_table_from_database_and_remove_from_cache()
    lm.drop_work_tables(con)
    recs = con.execute("SELECT source, record_id FROM _generic_input").df()
    return connected_components(recs, edges)


def evaluate_snapshot(con: duckdb.DuckDBPyConnection, month: str, truth_path: str, generic: bool = True,
                      thresholds: list[float] | None = None) -> dict:
    """Our model vs the NIK-only join (and the generic Splink set-up), written to dtsen.linkage_evaluation."""
    import json as _json

    snap = con.execute("SELECT deliveries, threshold FROM dtsen.snapshot WHERE snapshot = ?", [month]).fetchall()
    if not snap:
        raise ValueError(f"no DTSEN snapshot {month}: build it first")
    deliveries, threshold = _json.loads(snap[0][0]), snap[0][1]
    _truth_relation(con, truth_path, deliveries)
    cond = " OR ".join(f"(source = '{s}' AND delivery = '{d}')" for s, d in deliveries.items())
    con.execute(f"CREATE OR REPLACE TEMP TABLE linkage_records AS SELECT * FROM sources.person_record WHERE {cond}")
    results = {}
    con.execute("CREATE OR REPLACE TEMP TABLE _ours AS SELECT source, record_id, person_id AS cluster "
                "FROM dtsen.crosswalk WHERE snapshot = ?", [month])
    results["dtsen_model"] = {"threshold": threshold, **metrics(con, "_ours", "_truth")}
    con.execute(f"CREATE OR REPLACE TEMP TABLE _nik AS {nik_only_clusters_sql('linkage_records')}")
    results["nik_only"] = {"threshold": None, **metrics(con, "_nik", "_truth")}
    if generic:
        g = generic_baseline_clusters(con, "linkage_records")
        con.register("_generic_df", g)
        results["generic_splink"] = {"threshold": 0.999, **metrics(con, "_generic_df", "_truth")}
        con.unregister("_generic_df")
    curve = threshold_curve(con, "dtsen.links", "dtsen.linkage_input", "_truth", thresholds or THRESHOLDS)
    rows = pd.DataFrame([{"snapshot": month, "method": k, **v} for k, v in results.items()])
    cols = ["snapshot", "method", "threshold", "records", "clusters", "true_persons", "largest_cluster", "true_pairs",
            "predicted_pairs", "true_positive_pairs", "precision", "recall", "f1", "bcubed_precision",
            "bcubed_recall", "bcubed_f1"]
    con.register("_eval_df", rows[cols])
    con.execute("DELETE FROM dtsen.linkage_evaluation WHERE snapshot = ?", [month])
    con.execute("INSERT INTO dtsen.linkage_evaluation SELECT * FROM _eval_df")
    con.unregister("_eval_df")
    return {"methods": results, "curve": curve}
