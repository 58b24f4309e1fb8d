"""Software-defined assets of the `registries` group: one per delivered source (`dtsen.registries.sources`),
partitioned by delivery month, and the delivered files themselves as external assets of the `landing` group.

Thin wrappers: the work is `dtsen.registries.ingest`. The region reference is a step of its own (every other
source is checked against it); the month's deliveries are one step that ingests them side by side
(`build_deliveries_asset`). Each asset carries its own checks (counts reconcile, no duplicate record id, quarantine
share under the warn and the hard ceiling) evaluated on what was written.
"""

import dagster as dg
import duckdb
import pandas as pd

from dtsen.registries.files import DeliveryFileError
from dtsen.registries.ingest import IngestResult, NoRegionReference, RolledBack, ingest, ingest_month
from dtsen.registries.sources import DELIVERIES, SOURCES, Source, source
from orchestration.lib.metadata import md_table
from orchestration.lib.partitions import monthly_check, monthly_partitions, one_month_per_run
from orchestration.lib.resources import DataResource, IngestSettings
from orchestration.lib.sources import REGION_KEY, landing_key, source_key

GROUP = "registries"


def evaluate_checks(
    con: duckdb.DuckDBPyConnection, spec: Source, res: IngestResult, settings: IngestSettings
) -> list[dg.AssetCheckResult]:
    """Checks on what the warehouse now holds for this delivery (not on in-memory counts alone)."""
    key = source_key(spec)
    held = (
        [
            dg.AssetCheckResult(
                asset_key=key,
                check_name="list_not_shrunk",
                passed=not res.held,
                severity=dg.AssetCheckSeverity.ERROR,
                description=res.held or None,
            )
        ]
        if spec.excludes
        else []
    )
    if not res.delivered:
        meta = {"note": res.note}
        return held + [dg.AssetCheckResult(asset_key=key, check_name=n, passed=True, metadata=meta) for n in CHECKS]
    month = res.delivery
    partition_value = month
    if spec.partition_column == "survey_year":
        partition_value = res.note.split()[-1]
    where = f"{spec.partition_column} = ?"
    tables = [spec.table, *spec.extra_tables]
    stored_by_file = " UNION ALL ".join(
        f"SELECT file, count(*) AS n FROM {t} WHERE {where} GROUP BY file" for t in tables
    )
    per_file = con.execute(
        f"""
        WITH logged AS (SELECT file, sum(rows_read) AS records FROM sources.ingest_log
                        WHERE source = ? AND delivery = ? GROUP BY file),
        stored AS (SELECT file, sum(n) AS n FROM ({stored_by_file}) GROUP BY file),
        quarantined AS (SELECT file, count(DISTINCT line) AS n FROM sources.quarantine
                        WHERE source = ? AND delivery = ? GROUP BY file)
        SELECT l.file, l.records, coalesce(s.n, 0), coalesce(q.n, 0) FROM logged l
        LEFT JOIN stored s USING (file) LEFT JOIN quarantined q USING (file) ORDER BY l.file""",
        [spec.name, month, *([partition_value] * len(tables)), spec.name, month],
    ).fetchall()
    stored = sum(r[2] for r in per_file)
    quarantined = sum(r[3] for r in per_file)
    logged = sum(r[1] for r in per_file)
    unbalanced = [f"{f}: {n:,} records, {s:,} stored, {q:,} quarantined" for f, n, s, q in per_file if n != s + q]
    dups = con.execute(
        f"SELECT count(*) - count(DISTINCT {spec.key}) FROM {spec.table} WHERE {where}", [partition_value]
    ).fetchall()[0][0]
    share = quarantined / logged if logged else 0.0
    refused = dg.AssetCheckResult(
        asset_key=key,
        check_name="no_refused_file",
        passed=not res.refused,
        severity=dg.AssetCheckSeverity.WARN,
        description="; ".join(f"{f}: {why}" for f, why in res.refused.items()) or None,
        metadata={"refused": dg.MetadataValue.json(res.refused)},
    )
    return [
        dg.AssetCheckResult(
            asset_key=key,
            check_name="rows_reconcile",
            passed=not unbalanced,
            description="; ".join(unbalanced) or None,
            metadata={
                "records_in_files": int(logged),
                "rows_stored": int(stored),
                "rows_quarantined": int(quarantined),
                "files": dg.MetadataValue.json(
                    {f: {"records": int(n), "stored": int(s), "quarantined": int(q)} for f, n, s, q in per_file}
                ),
            },
        ),
        dg.AssetCheckResult(
            asset_key=key,
            check_name="no_duplicate_record_id",
            passed=bool(dups == 0),
            metadata={"duplicate_ids": int(dups)},
        ),
        dg.AssetCheckResult(
            asset_key=key,
            check_name="quarantine_share_warn",
            passed=bool(share <= settings.quarantine_warn_share),
            severity=dg.AssetCheckSeverity.WARN,
            metadata={"share": float(round(share, 6)), "ceiling": settings.quarantine_warn_share},
        ),
        dg.AssetCheckResult(
            asset_key=key,
            check_name="quarantine_share_max",
            passed=bool(share <= settings.quarantine_fail_share or quarantined <= settings.quarantine_fail_min_rows),
            severity=dg.AssetCheckSeverity.ERROR,
            metadata={
                "share": float(round(share, 6)),
                "ceiling": settings.quarantine_fail_share,
                "quarantined_rows": int(quarantined),
                "rows_floor": settings.quarantine_fail_min_rows,
            },
        ),
        refused,
        *held,
    ]


CHECKS = (
    "rows_reconcile",
    "no_duplicate_record_id",
    "quarantine_share_warn",
    "quarantine_share_max",
    "no_refused_file",
)


def result_metadata(res: IngestResult) -> dict:
    if not res.delivered:
        return {"delivered": False, "note": res.note}
    meta = {
        "delivered": True,
        "rows_read": res.rows_read,
        "rows_accepted": res.rows_accepted,
        "rows_quarantined": res.rows_quarantined,
        "quarantine_share": float(round(res.quarantine_share, 6)),
        "quarantined_by_reason": dg.MetadataValue.json(res.quarantine_by_reason),
        "files": dg.MetadataValue.md(md_table(pd.DataFrame([vars(f) for f in res.files]))),
        "preview": dg.MetadataValue.md(md_table(res.preview)),
    }
    if res.nik_valid_rate is not None:
        meta["nik_valid_rate"] = float(round(res.nik_valid_rate, 6))
    if res.warnings:
        meta["warnings"] = dg.MetadataValue.md("\n".join(f"- {w}" for w in res.warnings))
    if res.note:
        meta["note"] = res.note
    if res.refused:
        meta["refused"] = dg.MetadataValue.json(res.refused)
    if res.held:
        meta["held"] = res.held
    return meta


# the delivered files themselves: external assets (agencies write them), so the graph starts at the landing folder
landing_specs = [
    dg.AssetSpec(
        landing_key(s.name),
        group_name="landing",
        kinds={"file"},
        description=f"Files delivered to the landing folder: {s.layout} (watched by {s.watched_by}).",
    )
    for s in SOURCES
]


def _checks(spec: Source) -> list[dg.AssetCheckSpec]:
    key = source_key(spec)
    held = [
        monthly_check(
            "list_not_shrunk",
            key,
            blocking=True,
            description="the list, which excludes people from aid, did not shrink to less than half of what it held "
            "(or to nothing); a delivery that did is held, its earlier rows kept, until an operator confirms it in "
            "the launchpad (resources.ingest_settings.config.confirmed_shrinks: ['<source>/<YYYY-MM>'])",
        )
    ]
    return (held if spec.excludes else []) + [
        monthly_check(
            "rows_reconcile",
            key,
            blocking=True,
            description="records in each file (counted from its bytes, not by the reader) = rows stored "
            "+ rows quarantined",
        ),
        monthly_check("no_duplicate_record_id", key, description="no record id twice in one delivery"),
        monthly_check("quarantine_share_warn", key, description="quarantined share under the warn ceiling"),
        monthly_check(
            "quarantine_share_max",
            key,
            blocking=True,
            description="quarantined share under the hard ceiling, or no more rows than its floor (blocks downstream)",
        ),
        monthly_check(
            "no_refused_file",
            key,
            description="every file of the delivery was used (a refused one, such as an unusable survey year whose "
            "year before was used, is named here, in the run's summary and in the ingest log)",
        ),
    ]


def _deps(spec: Source) -> list[dg.AssetKey]:
    return [landing_key(spec.name)] + ([] if spec.name == "referensi" else [REGION_KEY])


def _failure(spec: Source, month: str, e: Exception) -> str:
    """The message of a delivery that cannot be ingested (its file and problem are in the exception's text)."""
    return f"{spec.name} {month}: {e}"


def _materialize(
    context, con: duckdb.DuckDBPyConnection, spec: Source, res: IngestResult, settings: IngestSettings, **kw
) -> dg.MaterializeResult:
    for w in res.warnings:
        context.log.warning(w)
    if not res.delivered:
        context.log.info(res.note)
    return dg.MaterializeResult(
        metadata=result_metadata(res), check_results=evaluate_checks(con, spec, res, settings), **kw
    )


def build_registry_asset(spec: Source) -> dg.AssetsDefinition:
    @dg.asset(
        key=source_key(spec),
        group_name=GROUP,
        partitions_def=monthly_partitions,
        backfill_policy=one_month_per_run,
        description=spec.description,
        deps=_deps(spec),
        check_specs=_checks(spec),
        kinds={"duckdb", "python"},
        pool="duckdb_writer",
    )
    def _asset(
        context: dg.AssetExecutionContext,
        data: DataResource,
        ingest_settings: IngestSettings,
    ) -> dg.MaterializeResult:
        month = context.partition_key
        with data.connect() as con:
            try:
                res = ingest(con, data.layout.landing, month, spec.name)
            except (DeliveryFileError, NoRegionReference) as e:
                raise dg.Failure(description=_failure(spec, month, e), metadata={"error": str(e)}) from None
            return _materialize(context, con, spec, res, ingest_settings)

    return _asset


def build_deliveries_asset(specs: list[Source] | tuple[Source, ...]) -> dg.AssetsDefinition:
    """The month's deliveries (the person registries, the survey, the lists, the caseworker desk's exports) in one
    step that ingests the selected ones side by side (`ingest_month`): still one asset per source with its own
    checks, materialised on its own when selected alone. A source whose delivery cannot be ingested fails the step,
    and every other delivery of the month it wrote is put back as it was (a failed run leaves the month's
    deliveries as they were: nothing is materialised); re-executing the run from the failure runs the step again,
    every selected source. A list that excludes people and shrank sharply is held (its earlier rows stay) and its
    blocking check `list_not_shrunk` fails until an operator confirms it (ingest_settings.confirmed_shrinks)."""
    by_key = {source_key(spec): spec for spec in specs}

    @dg.multi_asset(
        name="sources__deliveries",
        specs=[
            dg.AssetSpec(
                source_key(spec),
                group_name=GROUP,
                description=spec.description,
                deps=_deps(spec),
                kinds={"duckdb", "python"},
            )
            for spec in specs
        ],
        check_specs=[c for spec in specs for c in _checks(spec)],
        can_subset=True,
        partitions_def=monthly_partitions,
        backfill_policy=one_month_per_run,
        pool="duckdb_writer",
    )
    def _assets(
        context: dg.AssetExecutionContext,
        data: DataResource,
        ingest_settings: IngestSettings,
    ):
        month = context.partition_key
        selected = [spec for key, spec in by_key.items() if key in context.selected_asset_keys]
        failures, errors, rolled_back = [], [], []  # bad deliveries; the platform's problems; those put back
        confirmed = frozenset(ingest_settings.confirmed_shrinks)
        with data.connect() as con:
            results = ingest_month(con, data.layout.landing, month, [spec.name for spec in selected], confirmed)
            for spec in selected:
                res = results[spec.name]
                if isinstance(res, (DeliveryFileError, NoRegionReference)):
                    failures.append(_failure(spec, month, res))
                elif isinstance(res, RolledBack):
                    rolled_back.append(str(res))
                elif isinstance(res, Exception):
                    errors.append(res)
            if not failures and not errors:  # a failed month materialises nothing: its deliveries are as they were
                for spec in selected:
                    yield _materialize(
                        context, con, spec, results[spec.name], ingest_settings, asset_key=source_key(spec)
                    )
        if errors:
            raise errors[0]
        if failures:
            text = "; ".join(failures) + "".join(f"; {r}" for r in rolled_back)
            raise dg.Failure(description=text, metadata={"error": "\n".join(failures + rolled_back)})

    return _assets


registry_assets = [build_registry_asset(source("referensi")), build_deliveries_asset(DELIVERIES)]

defs = dg.Definitions(assets=[*landing_specs, *registry_assets])
