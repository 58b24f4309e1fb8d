"""Build one DTSEN snapshot from the canonical person records (plain functions over a DuckDB connection).

Steps: snapshot input (latest delivery per source up to the month) -> standardise -> Splink predict with the
saved model -> connected components at the threshold (oversized clusters re-split) -> stable person ids ->
families -> golden records -> crosswalk. Everything for the snapshot is replaced in one transaction.
"""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from dtsen import warehouse as wh

from . import model as lm
from .clusters import cluster_indices
from .family import family_keys_sql
from .golden import golden_sql
from .ids import bootstrap_ledger, commit_ids, id_history, plan_ids
from .standardise import linkage_input_sql

PERSON_PREFIX = "DP"
FAMILY_PREFIX = "DF"
PERSON_SOURCES = ["dtks", "regsosek", "p3ke"]

DDL = [
    "CREATE SCHEMA IF NOT EXISTS dtsen",
    """CREATE TABLE IF NOT EXISTS dtsen.crosswalk (snapshot VARCHAR NOT NULL, source VARCHAR NOT NULL,
        delivery VARCHAR NOT NULL, record_id VARCHAR NOT NULL, person_id VARCHAR NOT NULL, family_id VARCHAR NOT NULL,
        cluster VARCHAR)""",
    """CREATE TABLE IF NOT EXISTS dtsen.person_id_history (snapshot VARCHAR NOT NULL, person_id VARCHAR NOT NULL,
        event VARCHAR NOT NULL, related_person_id VARCHAR)""",
    """CREATE TABLE IF NOT EXISTS dtsen.family_id_history (snapshot VARCHAR NOT NULL, family_id VARCHAR NOT NULL,
        event VARCHAR NOT NULL, related_family_id VARCHAR)""",
    """CREATE TABLE IF NOT EXISTS dtsen.snapshot (snapshot VARCHAR NOT NULL, built_at TIMESTAMP, deliveries VARCHAR,
        model_sha256 VARCHAR, threshold DOUBLE, records BIGINT, persons BIGINT, families BIGINT, links BIGINT,
        split_clusters INTEGER, seconds DOUBLE)""",
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
    parts = [f"SELECT * FROM sources.{s}_person WHERE delivery = '{d}'" for s, d in sorted(deliveries.items())]
    return "(" + " UNION ALL ".join(parts) + ")"


def load_settings(con: duckdb.DuckDBPyConnection, model_path: str | Path, relation: str) -> dict:
    """The saved model, with the data-size-dependent parameters recomputed for this snapshot: the u of NIK exact
    and of the family and location levels (exact, from the data). The prior is re-estimated by `model.estimate_prior`."""
    settings = json.loads(Path(model_path).read_text())
    return lm.finalise_parameters(settings, lm.data_u(con, relation))


def predict_links(con: duckdb.DuckDBPyConnection, settings: dict, backend: str = "duckdb",
                  min_probability: float = 0.5, table: str = "dtsen.links") -> int:
    """Score candidate pairs of dtsen.linkage_input with the model; write pairs >= min_probability to `table`."""
    linker = lm.linker_over(con, "dtsen.linkage_input", settings, backend)
    lm.estimate_prior(linker)
    pred = linker.inference.predict(threshold_match_probability=min_probability, warning_mode="never")
    kind = "TABLE" if "." in table else "TEMP TABLE"
    con.execute(f"CREATE OR REPLACE {kind} {table} AS SELECT source_l, record_id_l, source_r, record_id_r, "
                f"match_probability, match_weight FROM {pred.physical_name}")
    pred.drop_table_from_database_and_remove_from_cache()
    lm.drop_work_tables(con)
    return con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]


def cluster_snapshot(con: duckdb.DuckDBPyConnection, threshold: float, links: str = "dtsen.links"
                     ) -> tuple[pd.DataFrame, int]:
    """Clusters of dtsen.linkage_input's records (integer union-find; oversized clusters re-split)."""
    con.execute("""CREATE OR REPLACE TEMP TABLE _rec_idx AS
                   SELECT (row_number() OVER (ORDER BY source, record_id) - 1)::BIGINT AS idx, source, record_id
                   FROM dtsen.linkage_input""")
    e = con.execute(f"""SELECT a.idx AS a, b.idx AS b, l.match_probability AS p FROM {links} l
                        JOIN _rec_idx a ON a.source = l.source_l AND a.record_id = l.record_id_l
                        JOIN _rec_idx b ON b.source = l.source_r AND b.record_id = l.record_id_r""").fetchnumpy()
    recs = con.execute("SELECT source, record_id FROM _rec_idx ORDER BY idx").df()
    roots, n_split = cluster_indices(len(recs), np.asarray(e["a"]), np.asarray(e["b"]), np.asarray(e["p"]), threshold)
    keys = (recs["source"] + ":" + recs["record_id"]).to_numpy()
    recs["cluster"] = keys[roots]
    return recs, n_split


def build_snapshot(con: duckdb.DuckDBPyConnection, month: str, model_path: str | Path = lm.MODEL_PATH,
                   threshold: float = lm.DEFAULT_THRESHOLD, backend: str = "duckdb") -> BuildResult:
    secs: dict[str, float] = {}
    t0 = time.perf_counter()
    deliveries = prepare_input(con, month)  # also ensures the schema
    records_rel = _records_relation(deliveries)
    n_records = con.execute("SELECT count(*) FROM dtsen.linkage_input").fetchall()[0][0]
    secs["standardise"] = time.perf_counter() - t0

    t = time.perf_counter()
    settings = load_settings(con, model_path, "dtsen.linkage_input")
    n_links = predict_links(con, settings, backend, table="_links_new")
    secs["predict"] = time.perf_counter() - t

    t = time.perf_counter()
    clusters, n_split = cluster_snapshot(con, threshold, "_links_new")
    secs["cluster"] = time.perf_counter() - t

    t = time.perf_counter()
    bootstrap_ledger(con)
    prev_snap = con.execute("SELECT max(snapshot) FROM dtsen.crosswalk WHERE snapshot < ?", [month]).fetchall()[0][0]
    con.register("_clusters", clusters)
    con.execute("CREATE OR REPLACE TEMP TABLE _person_groups AS "
                "SELECT source || ':' || record_id AS item, cluster AS grp FROM _clusters")
    con.unregister("_clusters")
    plan_ids(con, "person", "_person_groups", PERSON_PREFIX)
    con.execute(f"CREATE OR REPLACE TEMP TABLE _prev_person AS SELECT source || ':' || record_id AS item, "
                f"person_id AS id FROM dtsen.crosswalk WHERE snapshot = ?", [prev_snap])
    id_history(con, "person", "_prev_person" if prev_snap else None)
    person_assign = con.execute("SELECT grp AS cluster, id AS person_id FROM _ids_person").df()
    clusters = clusters.merge(person_assign, on="cluster")
    secs["ids"] = time.perf_counter() - t

    t = time.perf_counter()
    con.register("_clusters", clusters)
    con.execute(f"""CREATE OR REPLACE TEMP TABLE _records AS
        SELECT c.person_id, c.cluster, r.* FROM {records_rel} r JOIN _clusters c USING (source, record_id)""")
    con.unregister("_clusters")
    con.execute(f"CREATE OR REPLACE TEMP TABLE _family_groups AS SELECT person_id AS item, family_key AS grp "
                f"FROM ({family_keys_sql('_records')})")
    plan_ids(con, "family", "_family_groups", FAMILY_PREFIX)
    con.execute("CREATE OR REPLACE TEMP TABLE _prev_family AS SELECT DISTINCT person_id AS item, family_id AS id "
                "FROM dtsen.crosswalk WHERE snapshot = ?", [prev_snap])
    id_history(con, "family", "_prev_family" if prev_snap else None)
    person_family = con.execute("""SELECT g.item AS person_id, g.grp AS family_key, i.id AS family_id
                                   FROM _family_groups g JOIN _ids_family i USING (grp)""").df()
    con.register("_person_family", person_family)
    con.execute(f"CREATE OR REPLACE TEMP TABLE _golden AS {golden_sql('_records')}")  # stays in DuckDB
    secs["golden"] = time.perf_counter() - t

    # ---- write everything for the snapshot at once
    t = time.perf_counter()
    crosswalk = clusters.merge(person_family[["person_id", "family_id"]], on="person_id")
    con.register("_crosswalk_df", crosswalk)
    with wh.transaction(con):
        con.execute("DELETE FROM dtsen.crosswalk WHERE snapshot = ?", [month])
        con.execute("""INSERT INTO dtsen.crosswalk SELECT ?, r.source, r.delivery, r.record_id, c.person_id,
                       c.family_id, c.cluster FROM _records r JOIN _crosswalk_df c USING (source, record_id)""", [month])
        con.execute("CREATE TABLE IF NOT EXISTS dtsen.person AS SELECT ''::VARCHAR AS snapshot, ''::VARCHAR AS family_id, "
                    "* FROM _golden LIMIT 0")
        con.execute("DELETE FROM dtsen.person WHERE snapshot = ?", [month])
        con.execute("""INSERT INTO dtsen.person BY NAME SELECT ? AS snapshot, pf.family_id, g.*
                       FROM _golden g JOIN _person_family pf USING (person_id)""", [month])
        con.execute("CREATE OR REPLACE TABLE dtsen.links AS SELECT * FROM _links_new")
        _write_family(con, month)
        for kind, table, col, rel in (("person", "dtsen.person_id_history", "person_id", "related_person_id"),
                                      ("family", "dtsen.family_id_history", "family_id", "related_family_id")):
            commit_ids(con, kind, month)
            con.execute(f"DELETE FROM {table} WHERE snapshot = ?", [month])
            con.execute(f"INSERT INTO {table} (snapshot, {col}, event, {rel}) "
                        f"SELECT ?, id, event, related_id FROM _hist_{kind}", [month])
        model_sha = hashlib.sha256(Path(model_path).read_bytes()).hexdigest()
        n_persons = con.execute("SELECT count(*) FROM _golden").fetchall()[0][0]
        n_families = con.execute("SELECT count(*) FROM dtsen.family WHERE snapshot = ?", [month]).fetchall()[0][0]
        con.execute("DELETE FROM dtsen.snapshot WHERE snapshot = ?", [month])
        con.execute("INSERT INTO dtsen.snapshot VALUES (?, now(), ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [month, json.dumps(deliveries), model_sha, threshold, n_records, n_persons, n_families, n_links,
                     n_split, time.perf_counter() - t0])
    con.execute("DROP TABLE IF EXISTS _golden")
    for name in ("_crosswalk_df", "_person_family"):
        con.unregister(name)
    secs["write"] = time.perf_counter() - t
    largest = int(clusters.groupby("cluster").size().max()) if len(clusters) else 0
    return BuildResult(snapshot=month, deliveries=deliveries, records=int(n_records), persons=n_persons,
                       families=int(n_families), links=int(n_links), split_clusters=n_split, largest_cluster=largest,
                       seconds=secs, id_events=dict(con.execute("SELECT event, count(*) FROM _hist_person "
                                                                "GROUP BY 1").fetchall()), settings=settings)


def _write_family(con: duckdb.DuckDBPyConnection, month: str) -> None:
    """dtsen.family: one row per family of the snapshot, with its head and size."""
    con.execute("""CREATE TABLE IF NOT EXISTS dtsen.family (snapshot VARCHAR NOT NULL, family_id VARCHAR NOT NULL,
        family_key VARCHAR, head_person_id VARCHAR, members INTEGER, no_kk VARCHAR, village_code VARCHAR,
        district_code VARCHAR, regency_code VARCHAR, province_code VARCHAR)""")
    con.execute("DELETE FROM dtsen.family WHERE snapshot = ?", [month])
    con.execute("""
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
        FROM m LEFT JOIN kk USING (family_id) GROUP BY family_id""", [month, month])
    con.execute("""UPDATE dtsen.family SET district_code = substr(village_code, 1, 6),
                   regency_code = substr(village_code, 1, 4), province_code = substr(village_code, 1, 2)
                   WHERE snapshot = ?""", [month])


def prepare_input(con: duckdb.DuckDBPyConnection, month: str) -> dict[str, str]:
    """Fill dtsen.linkage_input with the standardised records of the snapshot; returns the deliveries used."""
    ensure_schema(con)
    deliveries = snapshot_deliveries(con, month)
    if not deliveries:
        raise ValueError(f"no person records delivered up to {month}: ingest DTKS, Regsosek or P3KE first")
    con.execute(f"CREATE OR REPLACE TABLE dtsen.linkage_input AS {linkage_input_sql(_records_relation(deliveries))}")
    return deliveries


def train_model(con: duckdb.DuckDBPyConnection, month: str, out: str | Path = lm.MODEL_PATH, seed: int = 42,
                settings: dict | None = None) -> Path:
    """Train the model on the snapshot's records (seeded) and save it as JSON."""
    prepare_input(con, month)
    u = lm.data_u(con, "dtsen.linkage_input")
    linker = lm.linker_over(con, "dtsen.linkage_input", settings or lm.dtsen_settings(u_fixed=u))
    lm.train(linker, seed=seed)
    lm.save_model(linker, out, u=u)
    lm.drop_work_tables(con)
    return Path(out)
