"""dbt models, seeds and tests as Dagster assets and asset checks (dagster-dbt).

Seeds (the program rules) form group `rules`, models groups `staging`, `intermediate`, `marts`, `restricted` and
`history`; every dbt test is an asset check. One `dbt build` per monthly partition, with the partition as the
DTSEN snapshot; a failing rule test fails the step, so nothing downstream (publishing, disbursement) runs on it.

A month older than the one the current marts hold (a backfill of history) is built into the rebuild area
(`dtsen.builds`: dbt's `rebuild` target, schemas `rebuild_*`), so the current marts keep the newest month whatever
month was rebuilt last; history gets the rebuilt month either way. Every materialisation says which area it built
(`dtsen/area`): the disbursement sensor never pays from a rebuild.
"""

import dagster as dg
from dagster_dbt import DbtCliResource, dbt_assets, get_asset_key_for_model

from dtsen import builds, credentials, filemodes, privacy
from orchestration.lib.dbt import TRANSLATOR, run_target, warehouse_env
from orchestration.lib.dbt_project import dbt_project
from orchestration.lib.partitions import monthly_partitions, one_month_per_run
from orchestration.lib.resources import DataResource

# dbt's arguments for each build area: the profile's default target (`embedded`) for the current marts, the
# `rebuild` target (dbt_project/profiles.yml) for a rebuild. The default is left implicit: dbt's saved parse is
# checked against the --target given, so naming it would throw away the parse `dtsen prepare-dbt` saved.
TARGET_ARGS = {builds.MAIN: [], builds.REBUILD: ["--target", "rebuild"]}


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
    # the whole project whenever the month changes); its area from dtsen.marts_area
    with data.connect() as con:
        every_model = set(context.selected_asset_keys) >= set(dtsen_dbt_models.keys)
        area = builds.begin_build(con, context.partition_key, every_model)
    if not area.is_current:
        context.log.info(
            f"{area.month} is older than the month the current marts hold: built into the rebuild area "
            f"({area.marts}, ...); the current marts and the payment run are left as they are"
        )
    target = run_target(data, area.name)
    tag = {"dtsen/area": area.name}
    try:
        with warehouse_env(data):
            for event in dbt.cli(["build", *TARGET_ARGS[area.name]], context=context, target_path=target).stream():
                yield event.with_metadata({**event.metadata, **tag}) if isinstance(event, dg.Output) else event
    finally:  # dagster-dbt copies the project's saved parse in with its own mode: owner-only like every output
        filemodes.private(str(target))
    with data.connect() as con:
        builds.finish_build(con, area)


def model_key(model: str) -> dg.AssetKey:
    """The asset key of a dbt model (never written by hand: a model's schema is part of its key)."""
    return get_asset_key_for_model([dtsen_dbt_models], model)


defs = dg.Definitions(assets=[dtsen_dbt_models])
