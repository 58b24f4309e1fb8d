"""Assets of the `welfare` group: the proxy means test and every DTSEN family's desil. Thin over `dtsen.welfare`."""

import os

import dagster as dg
from pydantic import Field

from assets.linkage import CROSSWALK, FAMILY, PERSON
from dtsen.charts import desil_profile_chart, png_markdown
from dtsen.welfare.pmt import PmtSettings
from dtsen.welfare.ranking import rank_snapshot
from orchestration.lib.metadata import md_table
from orchestration.lib.partitions import monthly_check, monthly_partitions, one_month_per_run
from orchestration.lib.resources import DataResource

FAMILY_WELFARE = dg.AssetKey(["welfare", "family_welfare"])
WARN = dg.AssetCheckSeverity.WARN  # quality signals: they warn, they do not hold payments back
TARGETING = dg.AssetKey(["welfare", "targeting_evaluation"])


class PmtConfig(dg.Config):
    alpha: float = Field(default=1.0, description="ridge penalty (shrinks small regional effects)")
    min_regency_sample: int = Field(default=30, description="survey families a regency needs for its own effect")
    folds: int = Field(default=5, description="cross-validation folds for the out-of-sample R^2")


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            FAMILY_WELFARE,
            deps=[PERSON, FAMILY, CROSSWALK, dg.AssetKey(["sources", "susenas"])],
            group_name="welfare",
            kinds={"duckdb", "scikitlearn"},
            description="Proxy means test fitted on the consumption survey (log per-capita consumption on "
            "housing, assets, family composition, head's education and work, regional "
            "effects); predicted consumption, national and provincial desil of every DTSEN "
            "family (welfare.family_welfare; model in welfare.pmt_model).",
        ),
        dg.AssetSpec(
            TARGETING,
            deps=[FAMILY_WELFARE],
            group_name="welfare",
            kinds={"duckdb"},
            description="Exclusion and inclusion errors of the bottom 40% against the synthetic truth, "
            "national and per province, PMT beside P3KE's desil and floor area per capita "
            "(welfare.targeting_evaluation; empty without truth).",
        ),
    ],
    partitions_def=monthly_partitions,
    backfill_policy=one_month_per_run,
    pool="duckdb_writer",
    check_specs=[
        monthly_check(
            "every_family_ranked",
            FAMILY_WELFARE,
            blocking=True,
            description="every DTSEN family of the snapshot has a desil 1-10",
        ),
        monthly_check(
            "desil_holds_a_tenth", FAMILY_WELFARE, description="each national desil holds 10% of people (+-2 points)"
        ),
        monthly_check(
            "out_of_sample_fit", FAMILY_WELFARE, description="cross-validated R^2 of the PMT is at least 0.3"
        ),
    ],
)
def family_welfare(context: dg.AssetExecutionContext, config: PmtConfig, data: DataResource):
    month = context.partition_key
    settings = PmtSettings(alpha=config.alpha, min_regency_sample=config.min_regency_sample, folds=config.folds)
    with data.connect() as con:
        res = rank_snapshot(con, month, os.path.join(data.layout.landing, "truth"), settings)
        shares = con.execute(
            """SELECT desil, sum(members) / (SELECT sum(members) FROM welfare.family_welfare
                                WHERE snapshot = ?) AS share, count(*) AS families
                                FROM welfare.family_welfare WHERE snapshot = ? GROUP BY desil ORDER BY desil""",
            [month, month],
        ).df()
        missing = con.execute(
            """SELECT count(*) FROM dtsen.family f ANTI JOIN (SELECT * FROM welfare.family_welfare
                                 WHERE snapshot = ? AND desil BETWEEN 1 AND 10) w USING (family_id)
                                 WHERE f.snapshot = ?""",
            [month, month],
        ).fetchall()[0][0]
    chart = desil_profile_chart(
        res.profile,
        f"What the national desil separate, snapshot {month}",
        os.path.join(data.layout.reports, "welfare", month, "desil_profile.png"),
    )
    meta = {
        "families": res.families,
        "families_without_regsosek_proxies": res.families_without_proxies,
        "survey_families": res.model.n_train,
        "survey_year": res.survey_year,
        "regency_effects": len(res.model.regencies),
        "r2_out_of_sample": round(res.model.r2_cv, 4),
        "r2_in_sample": round(res.model.r2_in_sample, 4),
        "rmse_log_out_of_sample": round(res.model.rmse_cv, 4),
        "model_id": res.model_id,
        "desil_profile": dg.MetadataValue.md(png_markdown(chart, "desil profile")),
        "desil_profile_table": dg.MetadataValue.md(md_table(res.profile.round(4))),
        "desil_profile_png": dg.MetadataValue.path(chart),
    }
    if res.evaluation is not None:
        nat = res.evaluation[res.evaluation["scope"] == "national"]
        meta["targeting_errors_bottom40"] = dg.MetadataValue.md(
            md_table(
                nat[
                    ["method", "families", "poor_families", "ranked_bottom40", "exclusion_error", "inclusion_error"]
                ].round(4)
            )
        )
        pmt_row = nat[nat["method"] == "pmt"].iloc[0]
        meta["exclusion_error"] = round(float(pmt_row["exclusion_error"]), 4)
        meta["inclusion_error"] = round(float(pmt_row["inclusion_error"]), 4)
    targeting_meta = {"evaluated": res.evaluation is not None}
    if res.evaluation is not None:
        for k in ("targeting_errors_bottom40", "exclusion_error", "inclusion_error"):
            targeting_meta[k] = meta[k]
    yield dg.MaterializeResult(asset_key=FAMILY_WELFARE, metadata=meta)
    yield dg.MaterializeResult(asset_key=TARGETING, metadata=targeting_meta)
    yield dg.AssetCheckResult(
        asset_key=FAMILY_WELFARE,
        check_name="every_family_ranked",
        passed=bool(missing == 0),
        metadata={"families_without_desil": int(missing)},
    )
    worst = float((shares["share"] - 0.1).abs().max()) if len(shares) else 1.0
    yield dg.AssetCheckResult(
        asset_key=FAMILY_WELFARE,
        check_name="desil_holds_a_tenth",
        severity=WARN,
        passed=bool(len(shares) == 10 and worst <= 0.02),
        metadata={"largest_deviation_points": round(worst * 100, 2)},
    )
    yield dg.AssetCheckResult(
        asset_key=FAMILY_WELFARE,
        check_name="out_of_sample_fit",
        severity=WARN,
        passed=bool(res.model.r2_cv >= 0.3),
        metadata={"r2_out_of_sample": round(res.model.r2_cv, 4)},
    )


defs = dg.Definitions(assets=[family_welfare])
