"""dbt models, seeds and tests as Dagster assets and asset checks (dagster-dbt).

Seeds (the program rules) form group `rules`, models groups `staging`, `intermediate`, `marts`, `restricted` and
`history`; every dbt test is an asset check. One `dbt build` per monthly partition, with the partition as the
DTSEN snapshot; a failing rule test fails the step, so nothing downstream (publishing, disbursement) runs on it.
"""

import dagster as dg
from dagster_dbt import DbtCliResource, dbt_assets, get_asset_key_for_model

from dtsen import credentials, filemodes, privacy
from dtsen import warehouse as wh
from orchestration.lib.dbt import TRANSLATOR, run_target, warehouse_env
from orchestration.lib.dbt_project import dbt_project
from orchestration.lib.partitions import monthly_partitions, one_month_per_run
from orchestration.lib.resources import DataResource


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    dagster_dbt_translator=TRANSLATOR,
    partitions_def=monthly_partitions,
    pool="duckdb_writer",
    backfill_policy=one_month_per_run,
)
def dtsen_dbt_models(context: dg.AssetExecutionContext, dbt: DbtCliResource, data: DataResource):
    try:  # before dbt starts: its plugin keys the pseudonyms with the same secret
        notes = credentials.require(privacy.PSEUDONYM_KEY)
    except credentials.SecretError as e:
        raise dg.Failure(description=str(e)) from None
    for note in notes:
        context.log.warning(f"{credentials.DEMO_NOTICE}: {note}")
    # the month to build is read by the models from dtsen.marts_snapshot (a --vars value would make dbt re-parse
    # the whole project whenever the month changes)
    with data.connect() as con:
        wh.set_marts_snapshot(con, context.partition_key)
    target = run_target(data)
    try:
        with warehouse_env(data):
            yield from dbt.cli(["build"], context=context, target_path=target).stream()
    finally:  # dagster-dbt copies the project's saved parse in with its own mode: owner-only like every output
        filemodes.private(str(target))


def model_key(model: str) -> dg.AssetKey:
    """The asset key of a dbt model (never written by hand: a model's schema is part of its key)."""
    return get_asset_key_for_model([dtsen_dbt_models], model)


defs = dg.Definitions(assets=[dtsen_dbt_models])
