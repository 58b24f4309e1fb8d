"""Linkage quality against the synthetic ground truth: pairwise precision/recall/F1 and B-cubed.

Only evaluation reads truth/. Clusterings are relations with columns source, record_id, cluster.
"""

from __future__ import annotations

import os

import duckdb
import pandas as pd

from .pipeline import delivery_filter, ensure_input


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
    return {
        "records": int(n),
        "clusters": int(n_clusters),
        "true_persons": int(n_persons),
        "largest_cluster": int(largest),
        "true_pairs": int(true_pairs),
        "predicted_pairs": int(pred_pairs),
        "true_positive_pairs": int(tp),
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "bcubed_precision": bp,
        "bcubed_recall": br,
        "bcubed_f1": 2 * bp * br / (bp + br) if bp + br else 0.0,
    }


def nik_only_clusters_sql(records: str) -> str:
    """Today's practice: records with the same raw NIK are one person; records without a NIK stand alone."""
    return f"""SELECT source, record_id,
                      CASE WHEN nik_raw IS NOT NULL THEN 'NIK:' || nik_raw ELSE source || ':' || record_id END AS cluster
               FROM {records}"""


def threshold_curve(
    con: duckdb.DuckDBPyConnection, links: str, records: str, truth: str, thresholds: list[float]
) -> pd.DataFrame:
    """Precision/recall/F1 of the snapshot's clustering (components under the NIK and source constraints, exactly
    as the pipeline clusters) at each threshold, from the scored pairs. The NIK conflicts are computed once, on the
    components of the lowest threshold (those of higher thresholds lie inside them)."""
    from .clusters import cluster_indices, components
    from .pipeline import cluster_inputs, nik_conflicts, write_clusters

    e, source = cluster_inputs(con, links)
    low = e["p"] >= min(thresholds)
    conflicts = nik_conflicts(con, components(len(source), e["a"][low], e["b"][low]))
    rows = []
    for th in thresholds:
        roots, _ = cluster_indices(len(source), e["a"], e["b"], e["p"], th, conflicts=conflicts, source=source)
        write_clusters(con, roots, "_curve_clusters")
        m = metrics(con, "_curve_clusters", truth)
        rows.append({"threshold": th, **{k: m[k] for k in ("precision", "recall", "f1", "largest_cluster")}})
    return pd.DataFrame(rows)


THRESHOLDS = [0.2, 0.3, 0.5, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995, 0.999, 0.9999]

MISS_KINDS = ["nik_missing", "name_variant", "moved", "nik_typo", "birth_date", "clean"]
MERGE_KINDS = ["twins", "same_family", "nik_typo", "chaining", "other"]


def errors_by_kind(
    con: duckdb.DuckDBPyConnection,
    clusters: str,
    records: str,
    truth_dir: str,
    links: str | None = None,
    threshold: float | None = None,
) -> dict:
    """Misses and false merges by kind, against the synthetic truth (the true persons in truth/persons.parquet).

    A true pair (two records of one person) is missed when the records sit in different clusters. Its kinds
    (several may apply): `nik_missing` (either record has no usable NIK), `nik_typo` (either carries a NIK that is
    not the person's: a wrong digit, transposition, a relative's), `name_variant` (the two normalised names
    differ), `moved` (different villages), `birth_date` (different dates), `clean` (none of these).
    A false merge is a pair of records of two persons in one cluster: `twins`, `same_family` (parent, child,
    sibling), `nik_typo` (a record carries a NIK that is not its person's), `chaining` (the two records are not
    linked directly: a third record joined them), `other`. Also the share of twin pairs that were merged."""
    from .standardise import tokens_sql

    tp = os.path.join(truth_dir, "truth.parquet")
    pp = os.path.join(truth_dir, "persons.parquet")
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _kind_rec AS
        WITH p AS (SELECT person_id, family_id, nik AS true_nik, twin_person_id FROM read_parquet(?)),
        t AS (SELECT DISTINCT source, record_id, person_id FROM read_parquet(?))
        SELECT c.source, c.record_id, c.cluster, t.person_id AS tp, p.family_id AS tf, p.twin_person_id,
               r.nik IS NULL AS nik_missing, r.nik IS NOT NULL AND r.nik <> p.true_nik AS nik_wrong,
               array_to_string({tokens_sql("r.name")}, ' ') AS name_norm, r.birth_date, r.village_code
        FROM {clusters} c
        JOIN t ON t.source = c.source AND t.record_id = c.record_id
        JOIN p ON p.person_id = t.person_id
        JOIN {records} r ON r.source = c.source AND r.record_id = c.record_id""",
        [pp, tp],
    )
    miss = con.execute("""
        WITH pairs AS (
            SELECT a.cluster <> b.cluster AS missed,
                   a.nik_missing OR b.nik_missing AS nik_missing,
                   a.nik_wrong OR b.nik_wrong AS nik_typo,
                   a.name_norm IS DISTINCT FROM b.name_norm AS name_variant,
                   a.village_code IS DISTINCT FROM b.village_code AS moved,
                   a.birth_date IS DISTINCT FROM b.birth_date AS birth_date
            FROM _kind_rec a JOIN _kind_rec b ON a.tp = b.tp AND (a.source, a.record_id) < (b.source, b.record_id))
        SELECT count(*), count(*) FILTER (WHERE missed),
               count(*) FILTER (WHERE nik_missing), count(*) FILTER (WHERE nik_missing AND missed),
               count(*) FILTER (WHERE name_variant), count(*) FILTER (WHERE name_variant AND missed),
               count(*) FILTER (WHERE moved), count(*) FILTER (WHERE moved AND missed),
               count(*) FILTER (WHERE nik_typo), count(*) FILTER (WHERE nik_typo AND missed),
               count(*) FILTER (WHERE birth_date), count(*) FILTER (WHERE birth_date AND missed),
               count(*) FILTER (WHERE NOT (nik_missing OR name_variant OR moved OR nik_typo OR birth_date)),
               count(*) FILTER (WHERE NOT (nik_missing OR name_variant OR moved OR nik_typo OR birth_date) AND missed)
        FROM pairs""").fetchall()[0]
    out: dict = {"true_pairs": int(miss[0]), "missed_pairs": int(miss[1]), "misses": {}, "merges": {}}
    for i, kind in enumerate(MISS_KINDS):
        n, m = int(miss[2 + 2 * i]), int(miss[3 + 2 * i])
        out["misses"][kind] = {"true_pairs": n, "missed": m, "recall": round(1 - m / n, 6) if n else None}
    direct = (
        (
            f"EXISTS (SELECT 1 FROM {links} l WHERE l.match_probability >= {float(threshold)} AND "
            f"((l.source_l = a.source AND l.record_id_l = a.record_id AND l.source_r = b.source "
            f"AND l.record_id_r = b.record_id) OR (l.source_l = b.source AND l.record_id_l = b.record_id "
            f"AND l.source_r = a.source AND l.record_id_r = a.record_id)))"
        )
        if links
        else "true"
    )
    merges = con.execute(f"""
        WITH fp AS (
            SELECT coalesce(a.twin_person_id = b.tp OR b.twin_person_id = a.tp, false) AS twins,
                   coalesce(a.tf = b.tf, false) AS same_family,
                   coalesce(a.nik_wrong OR b.nik_wrong, false) AS nik_typo, NOT {direct} AS chaining
            FROM _kind_rec a JOIN _kind_rec b ON a.cluster = b.cluster AND a.tp <> b.tp
                 AND (a.source, a.record_id) < (b.source, b.record_id))
        SELECT count(*), count(*) FILTER (WHERE twins), count(*) FILTER (WHERE same_family AND NOT twins),
               count(*) FILTER (WHERE nik_typo), count(*) FILTER (WHERE chaining),
               count(*) FILTER (WHERE NOT (twins OR same_family OR nik_typo OR chaining))
        FROM fp""").fetchall()[0]
    out["false_merge_pairs"] = int(merges[0])
    for i, kind in enumerate(MERGE_KINDS):
        out["merges"][kind] = {"false_merges": int(merges[1 + i])}
    twins = con.execute("""
        WITH tw AS (SELECT DISTINCT least(tp, twin_person_id) AS a, greatest(tp, twin_person_id) AS b
                    FROM _kind_rec WHERE twin_person_id IS NOT NULL
                    AND twin_person_id IN (SELECT tp FROM _kind_rec)),
        merged AS (SELECT DISTINCT least(x.tp, y.tp) AS a, greatest(x.tp, y.tp) AS b
                   FROM _kind_rec x JOIN _kind_rec y ON x.cluster = y.cluster AND x.twin_person_id = y.tp)
        SELECT (SELECT count(*) FROM tw), (SELECT count(*) FROM merged)""").fetchall()[0]
    out["twin_pairs"], out["twin_pairs_merged"] = int(twins[0]), int(twins[1])
    out["twins_merged_share"] = round(twins[1] / twins[0], 6) if twins[0] else 0.0
    return out


def _truth_relation(con: duckdb.DuckDBPyConnection, truth_path: str, deliveries: dict[str, str]) -> None:
    cond = " OR ".join(f"(source = '{s}' AND {delivery_filter(s, d)})" for s, d in deliveries.items())
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _truth AS SELECT source, record_id, person_id FROM read_parquet(?) WHERE {cond}",
        [truth_path],
    )


def generic_baseline_clusters(
    con: duckdb.DuckDBPyConnection, records: str, seed: int = 42, threshold: float = 0.999
) -> pd.DataFrame:
    """The generic Splink set-up on the same records: raw upper-cased names (Jaro-Winkler), birth date, sex,
    KK, village; no Indonesian normalisation, no NIK parts. Trained the same way, clustered at 0.999."""
    from . import model as lm
    from .clusters import connected_components

    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _generic_input AS
        SELECT source, record_id, nik_raw, upper(name_raw) AS name_upper, sex, birth_date, year(birth_date) AS birth_year,
               month(birth_date) AS birth_month, day(birth_date) AS birth_day, no_kk, village_code
        FROM {records}"""
    )
    linker = lm.linker_over(con, "_generic_input", lm.generic_settings())
    lm.estimate_prior(
        linker,
        con,
        "_generic_input",
        [
            ("nik + birth date", "l.nik_raw = r.nik_raw AND l.birth_date = r.birth_date", 0.85),
            (
                "name + birth date + village",
                "l.name_upper = r.name_upper AND l.birth_date = r.birth_date AND l.village_code = r.village_code",
                0.6,
            ),
        ],
    )
    linker.training.estimate_u_using_random_sampling(max_pairs=1.2e6, seed=seed, num_chunks=1)
    for rule in ["l.nik_raw = r.nik_raw", "l.name_upper = r.name_upper"]:
        linker.training.estimate_parameters_using_expectation_maximisation(rule, max_pairs=2e6)
    pred = linker.inference.predict(threshold_match_probability=threshold, warning_mode="never")
    edges = con.sql(
        f"SELECT source_l, record_id_l, source_r, record_id_r FROM ({lm.pairs_sql(pred.physical_name)})"
    ).df()
    pred.drop_table_from_database_and_remove_from_cache()
    lm.drop_work_tables(con)
    recs = con.execute("SELECT source, record_id FROM _generic_input").df()
    return connected_components(recs, edges)


def evaluate_snapshot(
    con: duckdb.DuckDBPyConnection,
    month: str,
    truth_path: str,
    generic: bool = False,
    thresholds: list[float] | None = None,
) -> dict:
    """Our model vs the NIK-only join (and the generic Splink set-up), written to dtsen.linkage_evaluation."""
    import json as _json

    snap = con.execute("SELECT deliveries, threshold FROM dtsen.snapshot WHERE snapshot = ?", [month]).fetchall()
    if not snap:
        raise ValueError(f"no DTSEN snapshot {month}: build it first")
    deliveries, threshold = _json.loads(snap[0][0]), snap[0][1]
    _truth_relation(con, truth_path, deliveries)
    cond = " OR ".join(f"(source = '{s}' AND {delivery_filter(s, d)})" for s, d in deliveries.items())
    con.execute(f"CREATE OR REPLACE TEMP TABLE linkage_records AS SELECT * FROM sources.person_record WHERE {cond}")
    results = {}
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _ours AS SELECT source, record_id, person_id AS cluster "
        "FROM dtsen.crosswalk WHERE snapshot = ?",
        [month],
    )
    results["dtsen_model"] = {"threshold": threshold, **metrics(con, "_ours", "_truth")}
    con.execute(f"CREATE OR REPLACE TEMP TABLE _nik AS {nik_only_clusters_sql('linkage_records')}")
    results["nik_only"] = {"threshold": None, **metrics(con, "_nik", "_truth")}
    if generic:
        g = generic_baseline_clusters(con, "linkage_records")
        con.register("_generic_df", g)
        results["generic_splink"] = {"threshold": 0.999, **metrics(con, "_generic_df", "_truth")}
        con.unregister("_generic_df")
    results["dtsen_model"]["by_kind"] = errors_by_kind(
        con, "_ours", "linkage_records", os.path.dirname(truth_path), "dtsen.links", threshold
    )
    curve = threshold_curve(con, "dtsen.links", ensure_input(con, month), "_truth", thresholds or THRESHOLDS)
    rows = pd.DataFrame(
        [{"snapshot": month, "method": k, **{c: x for c, x in v.items() if c != "by_kind"}} for k, v in results.items()]
    )
    cols = [
        "snapshot",
        "method",
        "threshold",
        "records",
        "clusters",
        "true_persons",
        "largest_cluster",
        "true_pairs",
        "predicted_pairs",
        "true_positive_pairs",
        "precision",
        "recall",
        "f1",
        "bcubed_precision",
        "bcubed_recall",
        "bcubed_f1",
    ]
    con.register("_eval_df", rows[cols])
    con.execute("DELETE FROM dtsen.linkage_evaluation WHERE snapshot = ?", [month])
    con.execute("INSERT INTO dtsen.linkage_evaluation SELECT * FROM _eval_df")
    con.unregister("_eval_df")
    return {"methods": results, "curve": curve}
