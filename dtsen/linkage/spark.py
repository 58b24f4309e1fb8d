"""Splink on Spark: the linkage stage's scoring on a Spark cluster (or local mode), same model, same results.

The warehouse stays DuckDB. The standardised records (`pipeline.INPUT`) go to Spark as Parquet, Splink scores
the candidate pairs there with the saved model, and the scored pairs come back as Parquet into the same table the
DuckDB path writes; clustering, ids, families and golden records are unchanged (`pipeline.build_snapshot`).

The model's comparison levels are written in DuckDB's SQL. `spark_sql` translates them with sqlglot and rewrites
what Spark spells differently or lacks (list functions, Hamming distance; Damerau-Levenshtein from the similarity
jar that ships inside the splink wheel, Jaro-Winkler from DuckDB itself through a UDF); tests/linkage/test_spark.py
holds both engines to the same pairs and weights.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import sys
import tempfile
from copy import deepcopy
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from dtsen import warehouse as wh

# columns that hold lists (standardise.py): DuckDB's len() of them is Spark's size()
LIST_COLUMNS = ("name_tokens", "name_keys", "name_abbrevs")


class SparkUnavailable(RuntimeError):
    """The Spark engine cannot start here (no Java, no pyspark): the message says what to install."""


def java_home() -> str:
    """The Java installation Spark will use (JAVA_HOME, else `java` on PATH); a clear error when there is none."""
    if os.environ.get("JAVA_HOME") and Path(os.environ["JAVA_HOME"], "bin", "java").exists():
        return os.environ["JAVA_HOME"]
    java = shutil.which("java")
    if java is None:
        raise SparkUnavailable(
            "the Spark linkage engine needs Java 17 (Spark 4 runs on Java 17 or 21): install it "
            "(Debian: apt-get install openjdk-17-jre-headless) or set JAVA_HOME"
        )
    return str(Path(os.path.realpath(java)).parent.parent)


def _env(name: str, default: str | None = None):
    return field(default_factory=lambda: os.environ.get(name) or default)


@dataclass(frozen=True)
class SparkConfig:
    """How the Spark session is made (read from the environment when the session starts). `master` is local[N] on
    one machine or the cluster's URL (spark://..., k8s://...) in production (deploy/spark/); driver memory defaults
    to a quarter of the run's memory budget (DTSEN_MEMORY_BUDGET): in local mode the driver is the executor too."""

    master: str = _env("DTSEN_SPARK_MASTER", "local[2]")
    driver_memory: str = field(
        default_factory=lambda: os.environ.get("DTSEN_SPARK_DRIVER_MEMORY") or f"{wh.budget_quarter_mib()}m"
    )
    shuffle_partitions: str = _env("DTSEN_SPARK_SHUFFLE_PARTITIONS", "8")
    executor_memory: str | None = _env("DTSEN_SPARK_EXECUTOR_MEMORY")  # on a cluster (else spark-defaults.conf)
    local_dir: str | None = _env("DTSEN_SPARK_LOCAL_DIR")
    exchange: str | None = _env("DTSEN_SPARK_EXCHANGE")  # on a cluster: a path the driver and executors share

    @property
    def on_loopback(self) -> bool:
        """Local mode, or a cluster on this machine's loopback (tests): Spark binds 127.0.0.1 only."""
        return self.master.startswith("local") or "//127.0.0.1:" in self.master or "//localhost:" in self.master


_SESSION = None
_OWN_DIR: str | None = None


def spark_session(config: SparkConfig | None = None):
    """The process's Spark session with Splink's similarity jar on the class path (created once)."""
    global _SESSION
    if _SESSION is not None and not _SESSION.sparkContext._jsc.sc().isStopped():
        return _SESSION
    config = config or SparkConfig()
    os.environ.setdefault("JAVA_HOME", java_home())
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # Python workers in this environment (they need duckdb)
    try:
        from pyspark.sql import SparkSession
        from splink.backends.spark import similarity_jar_location
    except ImportError as e:  # pragma: no cover - pyspark is in the lock file
        raise SparkUnavailable("the Spark linkage engine needs pyspark (in uv.lock: run `make setup`)") from e
    global _OWN_DIR
    local = config.local_dir
    if not local:  # scratch of this session (shuffle files), removed when it stops
        local = _OWN_DIR = tempfile.mkdtemp(prefix="dtsen_spark_")
    builder = (
        SparkSession.builder.master(config.master)
        .appName("dtsen-linkage")
        .config("spark.jars", similarity_jar_location())
        .config("spark.driver.memory", config.driver_memory)
        .config("spark.sql.shuffle.partitions", config.shuffle_partitions)
        .config("spark.default.parallelism", config.shuffle_partitions)
        .config("spark.local.dir", local)
        .config("spark.sql.warehouse.dir", os.path.join(local, "spark-warehouse"))  # not in the caller's cwd
        .config("spark.sql.legacy.sizeOfNull", "false")  # size(NULL) is NULL, as DuckDB's len(NULL)
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.session.timeZone", "UTC")
    )
    if config.executor_memory:
        builder = builder.config("spark.executor.memory", config.executor_memory)
    if config.on_loopback:  # one machine: Spark talks to itself on loopback only
        builder = builder.config("spark.driver.host", "127.0.0.1").config("spark.driver.bindAddress", "127.0.0.1")
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    _SESSION = builder.getOrCreate()
    _SESSION.sparkContext.setLogLevel("ERROR")
    from splink.internals.spark.jar_location import get_scala_udfs

    for udf in get_scala_udfs():  # damerau_levenshtein, ... (SparkAPI registers them too)
        _SESSION.udf.registerJavaFunction(*udf)
    register_duckdb_functions(_SESSION)
    atexit.register(stop_session)
    return _SESSION


JARO_WINKLER_UDF = "duckdb_jaro_winkler"


def _duckdb_jaro_winkler(a, b):
    """DuckDB's jaro_winkler_similarity over one Arrow batch of pairs (runs in Spark's Python workers)."""
    import pandas as pd
    import pyarrow as pa

    global _WORKER_CON
    if _WORKER_CON is None:
        _WORKER_CON = duckdb.connect()
    batch = pa.table({"a": pa.array(a, pa.string()), "b": pa.array(b, pa.string())})  # noqa: F841 (read by DuckDB)
    out = _WORKER_CON.sql("SELECT jaro_winkler_similarity(a, b) AS s FROM batch").to_arrow_table()
    return pd.Series(out.column("s").to_pandas().to_numpy(), index=a.index)


_WORKER_CON = None


def register_duckdb_functions(spark) -> None:
    """Jaro-Winkler as DuckDB computes it, for Spark SQL. The model's Jaro-Winkler levels were trained on DuckDB's
    function, which differs from the textbook one the similarity jar implements (AHMAD YONO WIBOWO / AHMAD YOONO
    WIBOWO: 0.942 in DuckDB, 0.936 in the jar, on either side of the 0.94 level). An Arrow-batched (pandas) UDF that
    asks DuckDB gives the same number on every pair; the executors need the project's Python environment."""
    from pyspark.sql.functions import pandas_udf

    spark.udf.register(JARO_WINKLER_UDF, pandas_udf(_duckdb_jaro_winkler, "double"))


def stop_session() -> None:
    global _SESSION, _OWN_DIR
    if _SESSION is not None:
        _SESSION.stop()
        _SESSION = None
    if _OWN_DIR:
        shutil.rmtree(_OWN_DIR, ignore_errors=True)
        _OWN_DIR = None


# ------------------------------------------------------------------------------------------------ SQL translation
def _rewrite(node):
    from sqlglot import exp

    def parse(sql: str):
        import sqlglot

        return sqlglot.parse_one(sql, read="spark")

    def args(n):
        return [a.sql("spark") for a in n.expressions]

    if isinstance(node, exp.Length):
        arg = node.this
        is_list = (isinstance(arg, exp.Column) and arg.name.startswith(LIST_COLUMNS)) or (
            isinstance(arg, exp.Anonymous) and arg.name.upper() == "LIST_INTERSECT"
        )
        if is_list:
            return exp.func("size", arg)
    if isinstance(node, exp.JarowinklerSimilarity):  # DuckDB's own (see register_duckdb_functions)
        return exp.func(JARO_WINKLER_UDF, node.this, node.expression)
    if isinstance(node, exp.Anonymous):
        name = node.name.upper()
        if name == "HAMMING":  # both sides 16 digits (a NIK): positions that differ
            a, b = args(node)
            return parse(f"size(filter(sequence(1, length({a})), i -> substr({a}, i, 1) <> substr({b}, i, 1)))")
        if name == "LIST_INTERSECT":
            return exp.func("array_intersect", *node.expressions)
        if name == "LIST_HAS_ALL":  # every element of the second in the first
            a, b = args(node)
            return parse(f"(size(array_except({b}, {a})) = 0)")
        if name in ("LIST_BOOL_AND", "LIST_BOOL_OR") and isinstance(node.expressions[0], exp.Transform):
            t = node.expressions[0]
            return exp.func("forall" if name == "LIST_BOOL_AND" else "exists", t.this, t.expression)
        if name == "LIST_REDUCE":  # over the characters of a string: Spark's aggregate over them
            source, fn, init = node.expressions
            if isinstance(source, exp.Split) and source.expression.name == "":
                s = source.this.sql("spark")
                chars = parse(f"transform(sequence(1, length({s})), i -> substr({s}, i, 1))")
                return exp.func("aggregate", chars, init, fn)
            raise ValueError(f"no Spark translation for {node.sql('duckdb')}")
    return node


def spark_sql(duckdb_sql: str) -> str:
    """A comparison level's or blocking rule's condition, from DuckDB's SQL to Spark's."""
    import sqlglot

    if duckdb_sql.strip().upper() == "ELSE":
        return duckdb_sql
    tree = sqlglot.parse_one(duckdb_sql, read="duckdb")
    out = tree.sql(dialect="spark")
    for _ in range(5):  # a rewritten node's arguments are rewritten on the next pass
        tree = tree.transform(_rewrite)
        out, before = tree.sql(dialect="spark"), out
        if out == before:
            break
    leftover = [f for f in ("LIST_", "HAMMING", "JAROWINKLER_SIMILARITY") if f in out.upper()]
    if leftover:
        raise ValueError(f"no Spark translation for {leftover} in {duckdb_sql}")
    return out


def spark_settings(settings: dict) -> dict:
    """The model with every condition in Spark's SQL (parameters unchanged)."""
    out = deepcopy(settings)
    out["sql_dialect"] = "spark"
    for comp in out["comparisons"]:
        for lv in comp["comparison_levels"]:
            lv["sql_condition"] = spark_sql(lv["sql_condition"])
    out["blocking_rules_to_generate_predictions"] = [
        {"blocking_rule": spark_sql(r["blocking_rule"] if isinstance(r, dict) else r), "sql_dialect": "spark"}
        for r in out["blocking_rules_to_generate_predictions"]
    ]
    return out


# ------------------------------------------------------------------------------------------------ scoring
@contextlib.contextmanager
def exchange_folder(root: str | None = None):
    """Where the warehouse and Spark hand each other Parquet (DTSEN_SPARK_EXCHANGE on a cluster: a shared path)."""
    root = root or SparkConfig().exchange
    if root:
        Path(root).mkdir(parents=True, exist_ok=True)
    path = tempfile.mkdtemp(prefix="dtsen_exchange_", dir=root)
    try:
        yield Path(path)
    finally:
        shutil.rmtree(path, ignore_errors=True)


def predict_on_spark(
    con: duckdb.DuckDBPyConnection, relation: str, settings: dict, table: str, min_probability: float, prior_of
) -> dict:
    """Score `relation`'s candidate pairs on Spark with `settings` (DuckDB SQL; translated here); write the pairs
    >= min_probability into DuckDB table `table` (`model.write_pairs`). `prior_of(linker)` estimates the prior on the
    Spark linker; returns its provenance."""
    from splink import Linker, SparkAPI

    from . import model as lm

    spark = spark_session()
    with exchange_folder() as ex:
        con.execute(
            f"COPY (SELECT source || ':' || record_id AS uid, * FROM {relation} ORDER BY uid) "
            f"TO '{ex / 'records.parquet'}' (FORMAT parquet)"
        )
        # Splink breaks lineage by writing Parquet under the checkpoint folder (on a cluster a shared path): into
        # this scoring's exchange folder, removed with it
        spark.sparkContext.setCheckpointDir(str(ex / "checkpoints"))
        records = spark.read.parquet(str(ex / "records.parquet"))
        work = spark_settings(settings)
        work.update(link_type="dedupe_only", unique_id_column_name="uid")
        work.pop("source_dataset_column_name", None)
        api = SparkAPI(
            spark_session=spark,
            break_lineage_method="parquet",
            num_partitions_on_repartition=int(spark.conf.get("spark.sql.shuffle.partitions")),
        )
        linker = Linker(api.register(records, dataset_display_name="records"), work, log_level=40)
        prior = prior_of(linker)
        pred = linker.inference.predict(threshold_match_probability=min_probability)
        out = str(ex / "pairs")
        spark.table(pred.physical_name).select("uid_l", "uid_r", "match_probability", "match_weight").write.mode(
            "overwrite"
        ).parquet(out)
        lm.write_pairs(con, table, f"read_parquet('{out}/*.parquet')")
    return prior
