"""Assets of the `dtsen` group: the unified registry built by linkage, and its evaluation.

Thin wrappers over `dtsen.linkage`. `dtsen/person`, `dtsen/family` and `dtsen/crosswalk` are written together by
one linkage run per month (a multi-asset); `dtsen/linkage_evaluation` measures it when ground truth is present.
"""

import json
import os

import dagster as dg
import pandas as pd
from pydantic import Field

from dtsen.charts import png_markdown
from dtsen.linkage import model as lm
from dtsen.linkage.clusters import MAX_PER_SOURCE
from dtsen.linkage.evaluate import evaluate_snapshot
from dtsen.linkage.pipeline import build_snapshot, delivery_filter
from dtsen.linkage.reports import model_chart, write_reports
from orchestration.lib.metadata import md_table
from orchestration.lib.partitions import monthly_check, monthly_partitions, one_month_per_run
from orchestration.lib.resources import DataResource

GROUP = "dtsen"
PERSON, FAMILY, CROSSWALK = (dg.AssetKey(["dtsen", n]) for n in ("person", "family", "crosswalk"))
SOURCE_DEPS = [dg.AssetKey(["sources", s]) for s in ("dtks", "regsosek", "p3ke", "usulan")]


class LinkageConfig(dg.Config):
    model_path: str = Field(default=str(lm.MODEL_PATH), description="saved Splink model (JSON)")
    threshold: float = Field(default=lm.DEFAULT_THRESHOLD, description="match probability to cluster at")
    backend: str = Field(
        default=os.environ.get("DTSEN_LINKAGE_ENGINE") or "duckdb",
        description="where candidate pairs are scored: duckdb (in the warehouse) or spark (Splink's "
        "Spark engine: local mode, or the cluster in DTSEN_SPARK_MASTER)",
    )


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            PERSON,
            deps=SOURCE_DEPS,
            group_name=GROUP,
            kinds={"duckdb", "splink"},
            description="DTSEN persons: one stable id per person with golden-record attributes and the "
            "source record each field came from (dtsen.person; dtsen.person_lineage per field).",
        ),
        dg.AssetSpec(
            FAMILY,
            deps=[PERSON],
            group_name=GROUP,
            kinds={"duckdb"},
            description="DTSEN families: one current family per person, with head and KK (dtsen.family).",
        ),
        dg.AssetSpec(
            CROSSWALK,
            deps=[PERSON],
            group_name=GROUP,
            kinds={"duckdb"},
            description="Every accepted source record of the snapshot -> DTSEN person and family id "
            "(dtsen.crosswalk); id history in dtsen.person_id_history.",
        ),
    ],
    check_specs=[
        monthly_check(
            "every_record_linked",
            CROSSWALK,
            blocking=True,
            description="every accepted record of the snapshot's deliveries is in the crosswalk once",
        ),
        monthly_check(
            "no_oversized_cluster",
            PERSON,
            description="no person holds more records than one person has: a record and a duplicate "
            "registration per source",
        ),
        monthly_check(
            "one_family_per_person",
            FAMILY,
            blocking=True,
            description="every person belongs to exactly one family of the snapshot",
        ),
    ],
    partitions_def=monthly_partitions,
    backfill_policy=one_month_per_run,
    pool="duckdb_writer",
)
def dtsen_registry(context: dg.AssetExecutionContext, config: LinkageConfig, data: DataResource):
    month = context.partition_key
    with data.connect() as con:
        res = build_snapshot(
            con, month, model_path=config.model_path, threshold=config.threshold, backend=config.backend
        )
        weights_png = model_chart(res.settings, month, os.path.join(data.layout.reports, "linkage", month))
        missing, dup = con.execute(
            """
            WITH acc AS (SELECT source, delivery, record_id FROM sources.person_record
                         WHERE (source, delivery) IN (SELECT source, delivery FROM dtsen.crosswalk WHERE snapshot = ?
                                                      GROUP BY ALL))
            SELECT (SELECT count(*) FROM acc a ANTI JOIN (SELECT * FROM dtsen.crosswalk WHERE snapshot = ?) c
                        USING (source, delivery, record_id)),
                   (SELECT count(*) - count(DISTINCT (source, delivery, record_id)) FROM dtsen.crosswalk
                        WHERE snapshot = ?)""",
            [month, month, month],
        ).fetchall()[0]
        expected = sum(
            con.execute(f"SELECT count(*) FROM sources.{s}_person WHERE {delivery_filter(s, d)}").fetchall()[0][0]
            for s, d in res.deliveries.items()
        )
        fam_bad = con.execute(
            """SELECT count(*) FROM (SELECT person_id FROM dtsen.crosswalk WHERE snapshot = ?
                                 GROUP BY person_id HAVING count(DISTINCT family_id) <> 1)""",
            [month],
        ).fetchall()[0][0]
        ids = con.execute(
            "SELECT event, count(*) FROM dtsen.person_id_history WHERE snapshot = ? GROUP BY 1", [month]
        ).fetchall()
    linked_ok = missing == 0 and dup == 0 and res.records == expected
    yield dg.MaterializeResult(
        asset_key=PERSON,
        metadata={
            "persons": res.persons,
            "records": res.records,
            "links_scored": res.links,
            "largest_cluster": res.largest_cluster,
            "oversized_clusters_split": res.split_clusters,
            "deliveries": dg.MetadataValue.json(res.deliveries),
            "id_events": dg.MetadataValue.json({e: int(n) for e, n in ids}),
            "seconds": dg.MetadataValue.json({k: round(v, 2) for k, v in res.seconds.items()}),
            "threshold": config.threshold,
            "parameters": dg.MetadataValue.json(res.parameters),
            "match_weights": dg.MetadataValue.md(png_markdown(weights_png, "match weights")),
        },
    )
    yield dg.MaterializeResult(asset_key=FAMILY, metadata={"families": res.families})
    yield dg.MaterializeResult(asset_key=CROSSWALK, metadata={"rows": res.records})
    yield dg.AssetCheckResult(
        asset_key=CROSSWALK,
        check_name="every_record_linked",
        passed=bool(linked_ok),
        metadata={
            "accepted_records": int(expected),
            "in_crosswalk": res.records,
            "missing": int(missing),
            "duplicated": int(dup),
        },
    )
    yield dg.AssetCheckResult(
        asset_key=PERSON,
        check_name="no_oversized_cluster",
        passed=bool(res.largest_cluster <= MAX_PER_SOURCE * len(res.deliveries)),
        metadata={"largest_cluster": res.largest_cluster},
    )
    yield dg.AssetCheckResult(
        asset_key=FAMILY,
        check_name="one_family_per_person",
        passed=bool(fam_bad == 0),
        metadata={"persons_with_several_families": int(fam_bad)},
    )


class EvaluationConfig(dg.Config):
    generic_baseline: bool = Field(
        default=False,
        description="also train and score the generic Splink set-up (costs a training run per month: opt in)",
    )
    reports_dir: str = Field(default="", description="where charts are written (default: reports/ below the data root)")


@dg.asset(
    key=dg.AssetKey(["dtsen", "linkage_evaluation"]),
    deps=[PERSON, CROSSWALK],
    group_name=GROUP,
    partitions_def=monthly_partitions,
    backfill_policy=one_month_per_run,
    kinds={"duckdb", "splink"},
    pool="duckdb_writer",
    description="Pairwise precision/recall/F1 and B-cubed of the DTSEN linkage against the synthetic ground "
    "truth, beside the NIK-only join (and, with config generic_baseline, a generic Splink set-up); "
    "misses and false merges by kind (twins, NIK missing, name variant, moved, NIK typo, "
    "chaining), the precision/recall curve as a PNG with the chosen threshold marked, Splink's "
    "charts as HTML (dtsen.linkage_evaluation). Skipped when the landing folder has no truth/.",
)
def linkage_evaluation(
    context: dg.AssetExecutionContext, config: EvaluationConfig, data: DataResource
) -> dg.MaterializeResult:
    month = context.partition_key
    truth = os.path.join(data.layout.landing, "truth", "truth.parquet")
    if not os.path.exists(truth):
        context.log.info(f"no ground truth at {truth}: nothing to evaluate")
        return dg.MaterializeResult(metadata={"evaluated": False, "note": f"no ground truth at {truth}"})
    with data.connect() as con:
        ev = evaluate_snapshot(con, month, truth, generic=config.generic_baseline)
        reports = config.reports_dir or data.layout.reports
        threshold = con.execute("SELECT threshold FROM dtsen.snapshot WHERE snapshot = ?", [month]).fetchall()[0][0]
        charts = write_reports(con, month, ev, os.path.join(reports, "linkage", month), threshold=threshold)
    meta = {"evaluated": True}
    for method, m in ev["methods"].items():
        meta[f"{method}_f1"] = float(round(m["f1"], 6))
        meta[f"{method}_precision"] = float(round(m["precision"], 6))
        meta[f"{method}_recall"] = float(round(m["recall"], 6))
    meta["bcubed_f1"] = float(round(ev["methods"]["dtsen_model"]["bcubed_f1"], 6))
    kinds = ev["methods"]["dtsen_model"]["by_kind"]
    meta["misses_by_kind"] = dg.MetadataValue.md(
        md_table(pd.DataFrame([{"kind": k, **v} for k, v in kinds["misses"].items()]))
    )
    meta["false_merges_by_kind"] = dg.MetadataValue.md(
        md_table(pd.DataFrame([{"kind": k, **v} for k, v in kinds["merges"].items()]))
    )
    meta["twins_merged_share"] = float(kinds["twins_merged_share"])
    meta["threshold_curve"] = dg.MetadataValue.md(md_table(ev["curve"].round(6)))
    meta["threshold_chart"] = dg.MetadataValue.md(png_markdown(charts.pop("threshold_png"), "threshold curve"))
    for name, path in charts.items():  # Splink's interactive charts: HTML files on the server
        meta[f"chart_{name}"] = dg.MetadataValue.path(os.path.abspath(path))
    meta["summary"] = dg.MetadataValue.json(json.loads(json.dumps(ev["methods"], default=float)))
    return dg.MaterializeResult(metadata=meta)


defs = dg.Definitions(assets=[dtsen_registry, linkage_evaluation])
