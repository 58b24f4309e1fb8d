"""Splink on Spark (local mode) and on DuckDB score the same deliveries the same way: same pairs, same weights, same
clusters and ids, same F1 against the generator's truth."""

from __future__ import annotations

import json

import dagster as dg
import pytest

from dtsen import warehouse as wh
from dtsen.linkage import model as lm
from dtsen.linkage import spark as sp
from dtsen.linkage.evaluate import evaluate_snapshot
from dtsen.linkage.pipeline import build_snapshot
from dtsen.registries.ingest import ingest

MONTH = "2025-01"


def _build(path, landing, engine):
    con = wh.connect(str(path))
    for s in ["referensi", "dtks", "regsosek", "p3ke"]:
        ingest(con, str(landing), MONTH, s)
    res = build_snapshot(con, MONTH, backend=engine)
    evaluate_snapshot(con, MONTH, str(landing / "truth" / "truth.parquet"), generic=False)
    return con, res


@pytest.fixture(scope="module")
def engines(small_landing, tmp_path_factory):
    """The small landing folder's first month linked twice: scored by DuckDB, and by Splink on Spark."""
    root = tmp_path_factory.mktemp("engines")
    duck, duck_res = _build(root / "duckdb.duckdb", small_landing, "duckdb")
    spark, spark_res = _build(root / "spark.duckdb", small_landing, "spark")
    yield duck, spark, duck_res, spark_res
    sp.stop_session()
    duck.close()
    spark.close()


def test_spark_scores_the_same_pairs_with_the_same_weights(engines):
    duck, spark, duck_res, spark_res = engines
    d_links = duck.sql("SELECT * FROM dtsen.links").to_arrow_table()  # noqa: F841 (read by the query)
    only_duck, only_spark, common, max_diff = spark.execute("""
        SELECT count(*) FILTER (WHERE s.source_l IS NULL), count(*) FILTER (WHERE d.source_l IS NULL),
               count(*) FILTER (WHERE s.source_l IS NOT NULL AND d.source_l IS NOT NULL),
               max(abs(d.match_weight - s.match_weight))
        FROM d_links d FULL JOIN dtsen.links s USING (source_l, record_id_l, source_r, record_id_r)""").fetchall()[0]
    assert duck_res.links > 1000
    # the bar is 99.9% of pairs in common; the engines in fact agree on every pair and its weight
    assert common / (common + only_duck + only_spark) >= 0.999
    assert (only_duck, only_spark) == (0, 0)
    assert max_diff < 1e-6
    assert json.loads(spark.execute("SELECT parameters FROM dtsen.snapshot").fetchall()[0][0])["engine"] == "spark"
    assert spark_res.parameters["prior"] == duck_res.parameters["prior"]


def test_spark_and_duckdb_give_the_same_persons_and_f1(engines):
    duck, spark, *_ = engines
    d_crosswalk = duck.sql("SELECT * FROM dtsen.crosswalk").to_arrow_table()  # noqa: F841 (read by the query)
    differ = spark.execute("""SELECT count(*) FROM dtsen.crosswalk s FULL JOIN d_crosswalk x
                              USING (snapshot, source, delivery, record_id)
                              WHERE s.person_id IS DISTINCT FROM x.person_id
                                 OR s.family_id IS DISTINCT FROM x.family_id""").fetchall()[0][0]
    assert differ == 0
    f1 = {
        e: c.execute("SELECT f1 FROM dtsen.linkage_evaluation WHERE method = 'dtsen_model'").fetchall()[0][0]
        for e, c in (("duckdb", duck), ("spark", spark))
    }
    assert f1["duckdb"] > 0.99
    assert abs(f1["spark"] - f1["duckdb"]) <= 0.001


def test_every_level_of_the_model_translates_to_spark_sql():
    settings = sp.spark_settings(json.loads(lm.MODEL_PATH.read_text()))
    text = json.dumps(settings)
    for duckdb_only in ("list_", "hamming(", "jaro_winkler_similarity(", "lambda "):
        assert duckdb_only not in text.lower()
    assert settings["sql_dialect"] == "spark"
    assert (
        sp.spark_sql("len(name_tokens_l) = len(name_keys_r) AND length(nik_l) = 16")
        == "SIZE(name_tokens_l) = SIZE(name_keys_r) AND LENGTH(nik_l) = 16"
    )


def test_no_java_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(sp.SparkUnavailable, match="needs Java 17"):
        sp.java_home()


def test_the_engine_is_run_config_of_the_monthly_job():
    from orchestration.definitions import defs
    from orchestration.operate.runner import engine_run_config

    job = defs.resolve_job_def("monthly_pipeline")
    assert engine_run_config("duckdb") == {}
    dg.validate_run_config(job, engine_run_config("spark"))


def test_linkage_scored_on_a_standalone_cluster(engines, monkeypatch, tmp_path):
    """The production layout (deploy/docker-compose.yaml): the driver in this process, executors in a Spark worker,
    records and scored pairs through a shared exchange folder. Same pairs and weights as DuckDB."""
    from dtsen.linkage import pipeline as lp
    from tests.spark_cluster import standalone_cluster

    duck, *_ = engines
    sp.stop_session()  # the local-mode session of the other tests
    with standalone_cluster() as master:
        monkeypatch.setenv("DTSEN_SPARK_MASTER", master)
        monkeypatch.setenv("DTSEN_SPARK_EXECUTOR_MEMORY", "1g")
        monkeypatch.setenv("DTSEN_SPARK_EXCHANGE", str(tmp_path / "exchange"))
        try:
            settings = lp.load_settings(duck, lm.MODEL_PATH, lp.INPUT)
            n, params, _ = lp.predict_links(duck, settings, "spark", table="_cluster_links")
            assert sp.spark_session().sparkContext.master == master
        finally:
            sp.stop_session()
    differ = duck.execute("""SELECT count(*) FROM dtsen.links d FULL JOIN _cluster_links c
                             USING (source_l, record_id_l, source_r, record_id_r)
                             WHERE d.source_l IS NULL OR c.source_l IS NULL
                                OR abs(d.match_weight - c.match_weight) > 1e-6""").fetchall()[0][0]
    assert n == duck.execute("SELECT count(*) FROM dtsen.links").fetchall()[0][0]
    assert differ == 0
    assert params["engine"] == "spark"
    # the run's exchange folder (records, pairs, Splink's intermediate tables) is removed afterwards
    assert not any(p.name.startswith("dtsen_exchange_") for p in (tmp_path / "exchange").iterdir())
    assert not any((tmp_path / "exchange").rglob("*.parquet"))


def test_an_unknown_engine_is_refused_before_any_work():
    from dtsen.linkage.pipeline import predict_links

    with pytest.raises(ValueError, match="unknown linkage engine 'flink'"):
        predict_links(None, {}, "flink")
