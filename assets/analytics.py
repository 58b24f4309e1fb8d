"""Assets of the `analytics` group: the marts published for analysts, and the program report with charts."""

import os

import dagster as dg

from assets.marts import model_key
from dtsen import builds
from dtsen.charts import bar_chart, error_by_group_chart, png_markdown
from dtsen.publish import publish
from orchestration.lib.metadata import md_table
from orchestration.lib.partitions import monthly_partitions, one_month_per_run
from orchestration.lib.resources import DataResource

MART_MODELS = [
    "eligibility_pkh",
    "eligibility_sembako",
    "eligibility_pbi",
    "eligibility_pip",
    "exclusions",
    "appeal_explanation",
    "program_budget_by_province_desil",
    "targeting_accuracy_by_province",
]
MART_KEYS = [model_key(m) for m in MART_MODELS]
HISTORY_MODELS = [
    "appeal_explanation_history",
    "eligibility_history",
    "exclusions_history",
    "programme_changes",
    "programme_monthly",
]
HISTORY_KEYS = [model_key(m) for m in HISTORY_MODELS]


@dg.asset(
    key=["analytics", "published_marts"],
    deps=[*MART_KEYS, *HISTORY_KEYS],
    group_name="analytics",
    partitions_def=monthly_partitions,
    backfill_policy=one_month_per_run,
    kinds={"parquet", "duckdb"},
    pool="duckdb_writer",
    description="The marts and rule seeds as Parquet per snapshot, the history marts as one Parquet dataset "
    "per table partitioned by snapshot, plus analytics.duckdb (views over the latest month and "
    "over every month), under published/ below the data root: analysts read these, never the "
    "live file.",
)
def published_marts(context: dg.AssetExecutionContext, data: DataResource) -> dg.MaterializeResult:
    out = data.layout.published
    with data.connect(read_only=True) as con:
        counts = publish(con, context.partition_key, out)
    return dg.MaterializeResult(
        metadata={
            "folder": dg.MetadataValue.path(os.path.join(out, context.partition_key)),
            "catalogue": dg.MetadataValue.path(os.path.join(out, "analytics.duckdb")),
            "tables": dg.MetadataValue.json(counts),
        }
    )


@dg.asset(
    key=["analytics", "program_report"],
    deps=MART_KEYS,
    group_name="analytics",
    partitions_def=monthly_partitions,
    backfill_policy=one_month_per_run,
    kinds={"duckdb", "matplotlib"},
    pool="duckdb_writer",
    description="Recipients and budget per program, by province, and targeting error by province, as tables "
    "and charts (PNG in the UI and under `reports/marts/<snapshot>/`).",
)
def program_report(context: dg.AssetExecutionContext, data: DataResource) -> dg.MaterializeResult:
    month = context.partition_key
    with data.connect(read_only=True) as con:
        marts = builds.area_of(con, month).marts  # a rebuilt earlier month is read from the rebuild area
        programs = con.execute(f"""SELECT program, sum(eligible) AS eligible, sum(recipients) AS recipients,
                                         sum(cut_by_quota) AS cut_by_quota, sum(persons_covered) AS persons_covered,
                                         sum(annual_budget) AS annual_budget
                                  FROM {marts}.program_budget_by_province_desil GROUP BY program
                                  ORDER BY program""").df()
        by_prov = con.execute(f"""SELECT coalesce(province_name, 'UNKNOWN') AS province,
                                        sum(recipients) FILTER (WHERE program = 'PKH') AS pkh_families,
                                        sum(recipients) FILTER (WHERE program = 'SEMBAKO') AS sembako_families,
                                        sum(annual_budget) / 1e6 AS budget_million
                                 FROM {marts}.program_budget_by_province_desil GROUP BY 1 ORDER BY 1""").df()
        targeting = con.execute(f"""SELECT province_name AS province, scope, poor_families, pmt_exclusion_error,
                                          pmt_inclusion_error, p3ke_exclusion_error, floor_area_exclusion_error
                                   FROM {marts}.targeting_accuracy_by_province
                                   ORDER BY scope = 'national' DESC, province_name""").df()
        exclusions = con.execute(
            f"SELECT reason, count(*) AS n FROM {marts}.exclusions GROUP BY 1 ORDER BY 2 DESC"
        ).df()
        rule_version = con.execute(f"SELECT any_value(rule_version) FROM {marts}.exclusions").fetchall()[0][0]
    out = os.path.join(data.layout.reports, "marts", month)
    charts = {
        "recipient_families_by_province": bar_chart(
            by_prov.fillna(0),
            "province",
            ["pkh_families", "sembako_families"],
            f"Recipient families by province, {month}",
            os.path.join(out, "recipients_by_province.png"),
            "families",
            horizontal=True,
            labels={"pkh_families": "PKH", "sembako_families": "Sembako"},
        ),
        "budget_by_province": bar_chart(
            by_prov,
            "province",
            ["budget_million"],
            f"Annual budget, all programs (million rupiah), {month}",
            os.path.join(out, "budget_by_province.png"),
            "million rupiah",
            horizontal=True,
        ),
    }
    by_province = targeting[targeting["scope"] == "province"]
    if len(by_province):
        nat = targeting[targeting["scope"] == "national"]
        national = (
            {c: float(nat[c].iloc[0]) for c in ("pmt_exclusion_error", "pmt_inclusion_error")} if len(nat) else {}
        )
        charts["targeting_error_by_province"] = error_by_group_chart(
            by_province,
            "province",
            {
                "pmt_exclusion_error": "PMT exclusion",
                "pmt_inclusion_error": "PMT inclusion",
                "p3ke_exclusion_error": "P3KE desil exclusion",
            },
            "poor_families",
            national,
            f"Bottom-40% targeting errors by province, {month} (n = truly poor families)",
            os.path.join(out, "targeting_error_by_province.png"),
        )
    meta = {
        "programs": dg.MetadataValue.md(md_table(programs)),
        "program_summary": dg.MetadataValue.json(
            {
                r.program: {
                    "eligible": int(r.eligible),
                    "recipients": int(r.recipients),
                    "cut_by_quota": int(r.cut_by_quota),
                    "annual_budget": int(r.annual_budget),
                }
                for r in programs.itertuples()
            }
        ),
        "exclusions": dg.MetadataValue.md(md_table(exclusions)),
        "rule_version": rule_version or "",
    }
    for name, path in charts.items():
        meta[name] = dg.MetadataValue.md(png_markdown(path, name))
        meta[f"{name}_png"] = dg.MetadataValue.path(path)
    return dg.MaterializeResult(metadata=meta)


defs = dg.Definitions(assets=[published_marts, program_report])
