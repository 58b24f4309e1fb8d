"""Build one DTSEN snapshot from the canonical person records (plain functions over a DuckDB connection).

Steps: snapshot input (latest delivery per source up to the month) -> standardise -> Splink predict with the
saved model -> connected components at the threshold (oversized clusters re-split) -> stable person ids ->
families -> golden records -> crosswalk. Everything for the snapshot is replaced in one transaction.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from dtsen import warehouse as wh

from . import model as lm
from .clusters import cluster_indices
from .family import INPUT_COLUMNS as FAMILY_INPUT
from .family import family_keys_sql
from .golden import GOLDEN_FIELDS, RULE_FIELDS, golden_sql, lineage_sql
from .golden import INPUT_COLUMNS as GOLDEN_INPUT
from .ids import bootstrap_ledger, commit_ids, id_history, plan_ids
from .standardise import linkage_input_sql

PERSON_PREFIX = "DP"
FAMILY_PREFIX = "DF"
PERSON_SOURCES = ["dtks", "regsosek", "p3ke", "usulan"]
# sources whose deliveries add to the registry instead of replacing the previous one: every approved proposal up to
# the snapshot month stays (the others are full snapshots: only their latest delivery counts)
CUMULATIVE_SOURCES = {"usulan"}
INPUT = "_linkage_input"  # the standardised records of the snapshot being linked: a temp table (`prepare_input`)


def delivery_filter(source: str, delivery: str) -> str:
    """SQL condition on `delivery` selecting the records a snapshot takes from a source (given its latest delivery)."""
    op = "<=" if source in CUMULATIVE_SOURCES else "="
    return f"delivery {op} '{delivery}'"


DDL = [
    "CREATE SCHEMA IF NOT EXISTS dtsen",
    """CREATE TABLE IF NOT EXISTS dtsen.crosswalk (snapshot VARCHAR NOT NULL, source VARCHAR NOT NULL,
        delivery VARCHAR NOT NULL, record_id VARCHAR NOT NULL, person_id VARCHAR NOT NULL, family_id VARCHAR NOT NULL,
        cluster VARCHAR)""",
    # the record's number in the snapshot ((source, record_id) order, from 1): what dtsen.person's record_no_<rule>
    # columns point at (dtsen.person_lineage)
    "ALTER TABLE dtsen.crosswalk ADD COLUMN IF NOT EXISTS record_no BIGINT",
    """CREATE TABLE IF NOT EXISTS dtsen.person_id_history (snapshot VARCHAR NOT NULL, person_id VARCHAR NOT NULL,
        event VARCHAR NOT NULL, related_person_id VARCHAR)""",
    """CREATE TABLE IF NOT EXISTS dtsen.family_id_history (snapshot VARCHAR NOT NULL, family_id VARCHAR NOT NULL,
        event VARCHAR NOT NULL, related_family_id VARCHAR)""",
    """CREATE TABLE IF NOT EXISTS dtsen.snapshot (snapshot VARCHAR NOT NULL, built_at TIMESTAMP, deliveries VARCHAR,
        model_sha256 VARCHAR, threshold DOUBLE, records BIGINT, persons BIGINT, families BIGINT, links BIGINT,
        split_clusters INTEGER, seconds DOUBLE)""",
    "ALTER TABLE dtsen.snapshot ADD COLUMN IF NOT EXISTS parameters VARCHAR",
    """CREATE TABLE IF NOT EXISTS dtsen.linkage_evaluation (snapshot VARCHAR NOT NULL, method VARCHAR NOT NULL,
        threshold DOUBLE, records BIGINT, clusters BIGINT, true_persons BIGINT, largest_cluster BIGINT,
        true_pairs BIGINT, predicted_pairs BIGINT, true_positive_pairs BIGINT, precision DOUBLE, recall DOUBLE,
        f1 DOUBLE, bcubed_precision DOUBLE, bcubed_recall DOUBLE, bcubed_f1 DOUBLE)""",
]


@dataclass
class BuildResult:
    snapshot: str
    deliveries: dict[str, str]
    records: int
    persons: int
    families: int
    links: int
    split_clusters: int
    largest_cluster: int
    seconds: dict[str, float] = field(default_factory=dict)
    id_events: dict[str, int] = field(default_factory=dict)
    settings: dict = field(default_factory=dict)  # the model as used for this snapshot (u from its data)
    parameters: dict = field(default_factory=dict)  # where each parameter came from (prior, m, u, evidence)


def ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    for stmt in DDL:
        con.execute(stmt)


def snapshot_deliveries(con: duckdb.DuckDBPyConnection, month: str) -> dict[str, str]:
    """The latest delivery of each person source up to the month (a snapshot source absent so far is skipped)."""
    out = {}
    for s in PERSON_SOURCES:
        row = con.execute(f"SELECT max(delivery) FROM sources.{s}_person WHERE delivery <= ?", [month]).fetchall()[0]
        if row[0] is not None:
            out[s] = row[0]
    return out


def _records_relation(deliveries: dict[str, str]) -> str:
    parts = [f"SELECT * FROM sources.{s}_person WHERE {delivery_filter(s, d)}" for s, d in sorted(deliveries.items())]
    return "(" + " UNION ALL ".join(parts) + ")"


def load_settings(con: duckdb.DuckDBPyConnection, model_path: str | Path, relation: str) -> dict:
    """The saved model, with the parameters that depend on the data recomputed for this snapshot: the u of NIK exact,
    sex, birth date exact and of the family and location levels (exact, from the data). The prior is re-estimated
    by `model.estimate_prior`; levels the saved model has no m for are estimated by EM (`fill_missing_m`)."""
    settings = json.loads(Path(model_path).read_text())
    settings.pop("dtsen", None)
    # records are named by source and record id (`linker_over` makes its own uid of the two)
    settings.update(unique_id_column_name="record_id", source_dataset_column_name="source")
    return lm.finalise_parameters(settings, lm.data_u(con, relation))


def trained_records(model_path: str | Path) -> int | None:
    return json.loads(Path(model_path).read_text()).get("dtsen", {}).get("trained_records")


COVERAGE_COLUMNS = {
    "nik": "nik",
    "name": "name_norm",
    "birth_date": "birth_date",
    "sex": "sex",
    "family": "no_kk",
    "location": "village_code",
}
DATA_U = {
    "nik": ["exact"],
    "sex": ["exact", "else"],
    "birth_date": ["exact"],
    "family": ["same KK", "different KK"],
    "location": ["same village", "same district", "same regency", "same province", "else"],
}


def column_evidence(con: duckdb.DuckDBPyConnection, relation: str) -> dict[str, dict]:
    """Per comparison: the share of records that carry its column, and its distinct values."""
    exprs = ", ".join(f"count({c}), count(DISTINCT {c})" for c in COVERAGE_COLUMNS.values())
    row = con.execute(f"SELECT count(*), {exprs} FROM {relation}").fetchall()[0]
    n = row[0] or 1
    return {
        k: {"share": round(row[1 + 2 * i] / n, 6), "distinct": int(row[2 + 2 * i])}
        for i, k in enumerate(COVERAGE_COLUMNS)
    }


EM_FALLBACK_RULES = [
    *lm.EM_RULES,
    "l.no_kk = r.no_kk AND l.first_name = r.first_name",
    "l.name_phonetic = r.name_phonetic AND l.birth_date = r.birth_date",
]


def fill_missing_m(con: duckdb.DuckDBPyConnection, relation: str, settings: dict) -> tuple[dict, list[str], list[str]]:
    """Levels for which the saved model has no m (a comparison it was never trained for) are estimated by EM on
    this data, every other parameter held fixed. A session cannot train the comparisons its blocking rule uses, so
    the rules are tried in turn until every such level has an m. Returns (settings with those m filled, the levels
    estimated, the levels no session could see, left neutral)."""
    import tempfile
    from copy import deepcopy

    missing = {
        (c["output_column_name"], lv.get("label_for_charts"))
        for c in settings["comparisons"]
        for lv in c["comparison_levels"]
        if not lv.get("is_null_level") and lv.get("m_probability") is None
    }
    if not missing:
        return settings, [], []
    work = deepcopy(settings)
    for comp in work["comparisons"]:
        for lv in comp["comparison_levels"]:
            if lv.get("m_probability") is not None:
                lv["fix_m_probability"] = True
    found: dict[tuple[str, str], float] = {}
    for rule in EM_FALLBACK_RULES:
        if not missing - set(found):
            break
        if lm.rule_pairs(con, relation, rule) < lm.MIN_PRIOR_PAIRS:
            continue
        linker = lm.linker_over(con, relation, work)
        linker.training.estimate_parameters_using_expectation_maximisation(
            rule, fix_probability_two_random_records_match=True, max_pairs=2e6
        )
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "em.json")
            linker.misc.save_model_to_json(path, overwrite=True)
            trained = json.loads(Path(path).read_text())
        lm.drop_work_tables(con)
        for comp in trained["comparisons"]:
            for lv in comp["comparison_levels"]:
                key = (comp["output_column_name"], lv.get("label_for_charts"))
                if key in missing and key not in found and lv.get("m_probability") is not None:
                    found[key] = lv["m_probability"]
    out = deepcopy(settings)
    for comp in out["comparisons"]:
        for lv in comp["comparison_levels"]:
            key = (comp["output_column_name"], lv.get("label_for_charts"))
            if key in found:
                lv["m_probability"] = found[key]
            elif key in missing:  # no session could see it: neutral (m = u), recorded as such
                lv["m_probability"] = lv.get("u_probability") or lm.M_FLOOR
    return (
        out,
        sorted(f"{c}:{label}" for c, label in found),
        sorted(f"{c}:{label}" for c, label in missing - set(found)),
    )


def provenance(
    settings: dict, evidence: dict[str, dict], prior: dict, em_levels: list[str], neutral: list[str] = ()
) -> dict:
    """Which parameter came from where, for the snapshot's metadata (dtsen.snapshot.parameters)."""
    comps = {}
    for comp in settings["comparisons"]:
        name = comp["output_column_name"]
        ev = evidence.get(name, {"share": 1.0, "distinct": 2})
        if ev["share"] == 0:
            note = "no evidence in this data (the column is empty): the comparison is always null and adds nothing"
        elif name == "sex" and ev["distinct"] <= 1:
            note = "one value only in this data: agreement adds nothing (u = 1 from the data)"
        else:
            note = "active"
        levels = {}
        for lv in comp["comparison_levels"]:
            if lv.get("is_null_level"):
                continue
            label = lv.get("label_for_charts")
            if lv.get("fix_m_probability") and lv.get("fix_u_probability"):
                levels[label] = "fixed Bayes factor (rule)"
            else:
                key = f"{name}:{label}"
                m = (
                    "data (EM)"
                    if key in em_levels
                    else "neutral (m = u: no data to estimate it)"
                    if key in neutral
                    else "saved model"
                )
                u = "data (exact)" if label in DATA_U.get(name, []) else "saved model"
                levels[label] = f"m: {m}; u: {u}"
        comps[name] = {"coverage": ev["share"], "distinct": ev["distinct"], "evidence": note, "levels": levels}
    return {"prior": prior, "comparisons": comps}


def predict_links(
    con: duckdb.DuckDBPyConnection,
    settings: dict,
    backend: str = "duckdb",
    min_probability: float = 0.2,
    table: str = "dtsen.links",
    records_trained: int | None = None,
) -> tuple[int, dict, dict]:
    """Score candidate pairs of the standardised records (`INPUT`) with the model; write pairs >= min_probability to
    `table`. Returns (pairs written, where each parameter came from, the settings as used)."""
    relation = INPUT
    if backend not in ("duckdb", "spark"):
        raise ValueError(f"unknown linkage engine {backend!r}: duckdb or spark")
    # levels the saved model never trained are estimated on the warehouse (EM capped at 2e6 pairs), whichever engine
    # scores: both engines then score with the same parameters
    settings, em_levels, neutral = fill_missing_m(con, relation, settings)
    if backend == "spark":
        from .spark import predict_on_spark

        prior = predict_on_spark(
            con,
            relation,
            settings,
            table,
            min_probability,
            lambda linker: lm.estimate_prior(linker, con, relation, lm.prior_rules(settings), records_trained),
        )
    else:
        linker = lm.linker_over(con, relation, settings)
        prior = lm.estimate_prior(linker, con, relation, lm.prior_rules(settings), records_trained)
        pred = linker.inference.predict(threshold_match_probability=min_probability, warning_mode="never")
        lm.write_pairs(con, table, pred.physical_name)
        pred.drop_table_from_database_and_remove_from_cache()
        lm.drop_work_tables(con)
    n = con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
    return (
        n,
        {"engine": backend, **provenance(settings, column_evidence(con, relation), prior, em_levels, neutral)},
        settings,
    )


@contextlib.contextmanager
def _roots_view(con: duckdb.DuckDBPyConnection, roots: np.ndarray):
    """`_roots_df` (idx, root): each record's index into _rec_idx and its component's root, while in the block."""
    con.register("_roots_df", pd.DataFrame({"idx": np.arange(len(roots), dtype=np.int64), "root": roots}))
    try:
        yield
    finally:
        con.unregister("_roots_df")


def nik_conflicts(con: duckdb.DuckDBPyConnection, roots: np.ndarray) -> np.ndarray:
    """Pairs of records (indices into _rec_idx) in one component whose NIKs say two people (model.NIK_CONFLICT).

    The pairs with two different NIKs are found on _rec_idx's narrow (idx, nik) first; only their records' comparison
    columns are then read from the standardised records (joining every record of a multi-record component to them
    by source and record id costs three times as much)."""
    with _roots_view(con, roots):
        cols = ", ".join(f"a.{c} AS {c}_l, b.{c} AS {c}_r" for c in lm.PAIR_COLUMNS)
        pairs = con.execute(f"""
            WITH multi AS (SELECT root FROM _roots_df GROUP BY root HAVING count(*) > 1),
            r AS (SELECT x.idx, x.root, i.nik FROM _roots_df x JOIN multi USING (root) JOIN _rec_idx i USING (idx)
                  WHERE i.nik IS NOT NULL),
            cand AS (SELECT a.idx AS idx_l, b.idx AS idx_r FROM r a JOIN r b
                     ON a.root = b.root AND a.idx < b.idx AND a.nik <> b.nik),
            rec AS (SELECT i.idx, l.* FROM _rec_idx i
                    JOIN {INPUT} l ON l.source = i.source AND l.record_id = i.record_id
                    WHERE i.idx IN (SELECT idx_l FROM cand UNION SELECT idx_r FROM cand)),
            p AS (SELECT c.idx_l, c.idx_r, {cols} FROM cand c
                  JOIN rec a ON a.idx = c.idx_l JOIN rec b ON b.idx = c.idx_r)
            SELECT idx_l, idx_r FROM p WHERE {lm.NIK_CONFLICT}""").fetchnumpy()
    return np.column_stack([pairs["idx_l"], pairs["idx_r"]]) if len(pairs["idx_l"]) else np.empty((0, 2), np.int64)


def cluster_inputs(con: duckdb.DuckDBPyConnection, links: str) -> tuple[dict, np.ndarray]:
    """Record indices (temp table _rec_idx, with each record's NIK for `nik_conflicts`), scored edges between them and
    each record's source code."""
    con.execute(f"""CREATE OR REPLACE TEMP TABLE _rec_idx AS
                    SELECT (row_number() OVER (ORDER BY source, record_id) - 1)::BIGINT AS idx, source, record_id,
                           (dense_rank() OVER (ORDER BY source) - 1)::BIGINT AS source_code, nik
                    FROM {INPUT}""")
    e = con.execute(f"""SELECT a.idx AS a, b.idx AS b, l.match_probability AS p FROM {links} l
                        JOIN _rec_idx a ON a.source = l.source_l AND a.record_id = l.record_id_l
                        JOIN _rec_idx b ON b.source = l.source_r AND b.record_id = l.record_id_r""").fetchnumpy()
    source = con.execute("SELECT source_code FROM _rec_idx ORDER BY idx").fetchnumpy()["source_code"]
    return {k: np.asarray(v) for k, v in e.items()}, np.asarray(source)


def write_clusters(con: duckdb.DuckDBPyConnection, roots: np.ndarray, table: str) -> None:
    """Temp table `table` (source, record_id, cluster = the smallest source:record_id of the cluster, idx = the
    record's place in (source, record_id) order, from 0)."""
    with _roots_view(con, roots):
        con.execute(f"""CREATE OR REPLACE TEMP TABLE {table} AS
                        SELECT r.source, r.record_id, k.source || ':' || k.record_id AS cluster, r.idx
                        FROM _roots_df x JOIN _rec_idx r ON r.idx = x.idx JOIN _rec_idx k ON k.idx = x.root""")


def cluster_snapshot(
    con: duckdb.DuckDBPyConnection, threshold: float, links: str = "dtsen.links", table: str = "_clusters"
) -> int:
    """Clusters of the standardised records (`INPUT`) into temp table `table`: components at the threshold,
    re-clustered where two records' NIKs say two people or a source holds more records than one person has there
    (clusters.py). Returns the components re-clustered."""
    e, source = cluster_inputs(con, links)
    roots, n_split = cluster_indices(
        len(source), e["a"], e["b"], e["p"], threshold, source=source, conflicts_of=lambda r: nik_conflicts(con, r)
    )
    write_clusters(con, roots, table)
    return n_split


def build_snapshot(
    con: duckdb.DuckDBPyConnection,
    month: str,
    model_path: str | Path = lm.MODEL_PATH,
    threshold: float = lm.DEFAULT_THRESHOLD,
    backend: str = "duckdb",
) -> BuildResult:
    secs: dict[str, float] = {}
    t0 = time.perf_counter()
    deliveries = prepare_input(con, month)  # also ensures the schema
    records_rel = _records_relation(deliveries)
    n_records = con.execute(f"SELECT count(*) FROM {INPUT}").fetchall()[0][0]
    secs["standardise"] = time.perf_counter() - t0

    t = time.perf_counter()
    settings = load_settings(con, model_path, INPUT)
    n_links, parameters, settings = predict_links(
        con, settings, backend, table="_links_new", records_trained=trained_records(model_path)
    )
    secs["predict"] = time.perf_counter() - t

    t = time.perf_counter()
    n_split = cluster_snapshot(con, threshold, "_links_new")
    secs["cluster"] = time.perf_counter() - t

    t = time.perf_counter()
    bootstrap_ledger(con)
    prev_snap = con.execute("SELECT max(snapshot) FROM dtsen.crosswalk WHERE snapshot < ?", [month]).fetchall()[0][0]
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _person_groups AS "
        "SELECT source || ':' || record_id AS item, cluster AS grp FROM _clusters"
    )
    plan_ids(con, "person", "_person_groups", PERSON_PREFIX)
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _prev_person AS SELECT source || ':' || record_id AS item, "
        "person_id AS id FROM dtsen.crosswalk WHERE snapshot = ?",
        [prev_snap],
    )
    id_history(con, "person", "_prev_person" if prev_snap else None)
    secs["ids"] = time.perf_counter() - t

    # everything from here stays in DuckDB (temp tables): no whole-table frames on the hot path
    t = time.perf_counter()
    # only the columns the golden and family rules read (carrying the raw and derived ones costs time for nothing)
    cols = ", ".join(f"r.{c}" for c in dict.fromkeys(GOLDEN_INPUT + FAMILY_INPUT) if c != "person_id")
    con.execute(f"""CREATE OR REPLACE TEMP TABLE _records AS
        SELECT c.idx + 1 AS rid, i.id AS person_id, c.cluster, {cols}
        FROM {records_rel} r JOIN _clusters c USING (source, record_id) JOIN _ids_person i ON i.grp = c.cluster""")
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _family_groups AS SELECT person_id AS item, family_key AS grp "
        f"FROM ({family_keys_sql('_records')})"
    )
    plan_ids(con, "family", "_family_groups", FAMILY_PREFIX)
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _prev_family AS SELECT DISTINCT person_id AS item, family_id AS id "
        "FROM dtsen.crosswalk WHERE snapshot = ?",
        [prev_snap],
    )
    id_history(con, "family", "_prev_family" if prev_snap else None)
    con.execute("""CREATE OR REPLACE TEMP TABLE _person_family AS
                   SELECT g.item AS person_id, g.grp AS family_key, i.id AS family_id
                   FROM _family_groups g JOIN _ids_family i USING (grp)""")
    con.execute(f"CREATE OR REPLACE TEMP TABLE _golden AS {golden_sql('_records')}")
    secs["golden"] = time.perf_counter() - t

    # ---- write everything for the snapshot at once
    t = time.perf_counter()
    with wh.transaction(con):
        con.execute("DELETE FROM dtsen.crosswalk WHERE snapshot = ?", [month])
        con.execute(
            """INSERT INTO dtsen.crosswalk BY NAME SELECT ? AS snapshot, r.source, r.delivery, r.record_id,
                       r.person_id, pf.family_id, r.cluster, r.rid AS record_no
                       FROM _records r JOIN _person_family pf USING (person_id)""",
            [month],
        )
        con.execute(
            "CREATE TABLE IF NOT EXISTS dtsen.person AS SELECT ''::VARCHAR AS snapshot, ''::VARCHAR AS family_id, "
            "* FROM _golden LIMIT 0"
        )
        migrate_field_sources(con)
        con.execute(f"CREATE OR REPLACE VIEW dtsen.person_lineage AS {lineage_sql('dtsen.person', 'dtsen.crosswalk')}")
        con.execute("DELETE FROM dtsen.person WHERE snapshot = ?", [month])
        con.execute(
            """INSERT INTO dtsen.person BY NAME SELECT ? AS snapshot, pf.family_id, g.*
                       FROM _golden g JOIN _person_family pf USING (person_id)""",
            [month],
        )
        con.execute("CREATE OR REPLACE TABLE dtsen.links AS SELECT * FROM _links_new")
        con.execute("DROP TABLE IF EXISTS dtsen.linkage_input")  # earlier versions kept the input in the warehouse
        _write_family(con, month)
        for kind, table, col, rel in (
            ("person", "dtsen.person_id_history", "person_id", "related_person_id"),
            ("family", "dtsen.family_id_history", "family_id", "related_family_id"),
        ):
            commit_ids(con, kind, month)
            con.execute(f"DELETE FROM {table} WHERE snapshot = ?", [month])
            con.execute(
                f"INSERT INTO {table} (snapshot, {col}, event, {rel}) "
                f"SELECT ?, id, event, related_id FROM _hist_{kind}",
                [month],
            )
        model_sha = hashlib.sha256(Path(model_path).read_bytes()).hexdigest()
        n_persons = con.execute("SELECT count(*) FROM _golden").fetchall()[0][0]
        n_families = con.execute("SELECT count(*) FROM dtsen.family WHERE snapshot = ?", [month]).fetchall()[0][0]
        con.execute("DELETE FROM dtsen.snapshot WHERE snapshot = ?", [month])
        con.execute(
            """INSERT INTO dtsen.snapshot (snapshot, built_at, deliveries, model_sha256, threshold, records,
                       persons, families, links, split_clusters, seconds, parameters)
                       VALUES (?, now(), ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            [
                month,
                json.dumps(deliveries),
                model_sha,
                threshold,
                n_records,
                n_persons,
                n_families,
                n_links,
                n_split,
                time.perf_counter() - t0,
                json.dumps(parameters, sort_keys=True, default=float),
            ],
        )
    largest = con.execute("SELECT coalesce(max(n_records), 0) FROM _golden").fetchall()[0][0]
    for tmp in ("_golden", "_records", "_clusters", "_links_new"):
        con.execute(f"DROP TABLE IF EXISTS {tmp}")
    secs["write"] = time.perf_counter() - t
    return BuildResult(
        snapshot=month,
        deliveries=deliveries,
        records=int(n_records),
        persons=n_persons,
        families=int(n_families),
        links=int(n_links),
        split_clusters=n_split,
        largest_cluster=int(largest),
        seconds=secs,
        id_events=dict(con.execute("SELECT event, count(*) FROM _hist_person GROUP BY 1").fetchall()),
        settings=settings,
        parameters=parameters,
    )


OLD_SOURCE_COLUMNS = [f"{f}_src" for f in GOLDEN_FIELDS]


def migrate_field_sources(con: duckdb.DuckDBPyConnection) -> None:
    """A warehouse built before record numbers: dtsen.person named each field's record as a '<source>:<record_id>'
    string (19 columns). Number the crosswalk's records of every snapshot as a build does, point each rule's
    record_no_<rule> at the record its first field named, and drop the strings. Runs inside the build's
    transaction: a failure leaves the warehouse as it was."""
    cols = {
        r[0]
        for r in con.execute("""SELECT column_name FROM information_schema.columns
                                         WHERE table_schema = 'dtsen' AND table_name = 'person'""").fetchall()
    }
    if "nik_src" not in cols:
        return
    con.execute("""UPDATE dtsen.crosswalk c SET record_no = n.record_no
                   FROM (SELECT snapshot, source, delivery, record_id, row_number() OVER (
                                    PARTITION BY snapshot ORDER BY source, record_id, delivery) AS record_no
                         FROM dtsen.crosswalk) n
                   WHERE c.record_no IS NULL AND n.snapshot = c.snapshot AND n.source = c.source
                     AND n.delivery = c.delivery AND n.record_id = c.record_id""")
    for rule, fields in RULE_FIELDS.items():
        col = f"record_no_{rule}"
        named = "coalesce(" + ", ".join(f"p.{f}_src" for f in fields) + ")"
        con.execute(f"ALTER TABLE dtsen.person ADD COLUMN IF NOT EXISTS {col} BIGINT")
        con.execute(f"""UPDATE dtsen.person p SET {col} = c.record_no FROM dtsen.crosswalk c
                        WHERE c.snapshot = p.snapshot AND c.source || ':' || c.record_id = {named}""")
    for col in OLD_SOURCE_COLUMNS:
        con.execute(f"ALTER TABLE dtsen.person DROP COLUMN IF EXISTS {col}")


def _write_family(con: duckdb.DuckDBPyConnection, month: str) -> None:
    """dtsen.family: one row per family of the snapshot, with its head and size."""
    con.execute("""CREATE TABLE IF NOT EXISTS dtsen.family (snapshot VARCHAR NOT NULL, family_id VARCHAR NOT NULL,
        family_key VARCHAR, head_person_id VARCHAR, members INTEGER, no_kk VARCHAR, village_code VARCHAR,
        district_code VARCHAR, regency_code VARCHAR, province_code VARCHAR)""")
    con.execute("DELETE FROM dtsen.family WHERE snapshot = ?", [month])
    con.execute(
        """
        INSERT INTO dtsen.family
        WITH m AS (SELECT pf.family_id, pf.family_key, p.* EXCLUDE (family_id, snapshot)
                   FROM _person_family pf JOIN dtsen.person p ON p.person_id = pf.person_id AND p.snapshot = ?),
        kk AS (  -- the KK most members carry (ties: the smaller number), for families not keyed on a KK
            SELECT family_id, first(no_kk ORDER BY n DESC, no_kk) AS no_kk
            FROM (SELECT family_id, no_kk, count(*) AS n FROM m WHERE no_kk IS NOT NULL GROUP BY ALL)
            GROUP BY family_id)
        SELECT ?, family_id, any_value(family_key),
               first(person_id ORDER BY (relationship = 1) DESC NULLS LAST, birth_date NULLS LAST, person_id),
               count(*),
               CASE WHEN any_value(family_key) LIKE 'KK:%' THEN substr(any_value(family_key), 4)
                    ELSE any_value(kk.no_kk) END,
               first(village_code ORDER BY (relationship = 1) DESC NULLS LAST, birth_date NULLS LAST, person_id),
               NULL, NULL, NULL
        FROM m LEFT JOIN kk USING (family_id) GROUP BY family_id""",
        [month, month],
    )
    con.execute(
        """UPDATE dtsen.family SET district_code = substr(village_code, 1, 6),
                   regency_code = substr(village_code, 1, 4), province_code = substr(village_code, 1, 2)
                   WHERE snapshot = ?""",
        [month],
    )


def prepare_input(con: duckdb.DuckDBPyConnection, month: str) -> dict[str, str]:
    """Fill the temp table `INPUT` with the standardised records of the snapshot; returns the deliveries used.

    A temp table, not a warehouse table: writing the standardised records (three list columns) to the file was
    half the standardisation's time, and a warehouse copy held only the month built last (a match or an evaluation
    of an earlier month read the wrong records). Whoever needs them in another connection rebuilds them (`ensure_input`):
    the evaluation against truth, `dtsen match`, the charts."""
    ensure_schema(con)
    deliveries = snapshot_deliveries(con, month)
    if not deliveries:
        raise ValueError(f"no person records delivered up to {month}: ingest DTKS, Regsosek or P3KE first")
    con.execute(f"CREATE OR REPLACE TEMP TABLE {INPUT} AS {linkage_input_sql(_records_relation(deliveries))}")
    con.execute(f"CREATE OR REPLACE TEMP TABLE {INPUT}_month AS SELECT ?::VARCHAR AS month", [month])
    return deliveries


def ensure_input(con: duckdb.DuckDBPyConnection, month: str) -> str:
    """The standardised records of `month` in this connection (built unless this connection already holds them);
    returns the table's name."""
    try:
        held = con.execute(f"SELECT month FROM {INPUT}_month").fetchall()[0][0]
    except duckdb.CatalogException:
        held = None
    if held != month:
        prepare_input(con, month)
    return INPUT


def train_model(
    con: duckdb.DuckDBPyConnection,
    month: str,
    out: str | Path = lm.MODEL_PATH,
    seed: int = 42,
    settings: dict | None = None,
) -> Path:
    """Train the model on the snapshot's records (seeded) and save it as JSON."""
    prepare_input(con, month)
    u = lm.data_u(con, INPUT)
    linker = lm.linker_over(con, INPUT, settings or lm.dtsen_settings(u_fixed=u))
    lm.train(linker, con, INPUT, seed=seed)
    records = con.execute(f"SELECT count(*) FROM {INPUT}").fetchall()[0][0]
    lm.save_model(linker, out, u=u, records=records)
    lm.drop_work_tables(con)
    return Path(out)
