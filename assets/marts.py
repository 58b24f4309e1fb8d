"""dbt models, seeds and tests as Dagster assets and asset checks (dagster-dbt).

Seeds (the program rules) form group `rules`, models groups `staging`, `intermediate`, `marts` and
`restricted`; every dbt test is an asset check. One `dbt build` per monthly partition, with the partition as the
DTSEN snapshot; a failing rule test fails the step, so nothing downstream (publishing, disbursement) runs on it.
"""

import os
import shutil
import sys
import warnings
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtCliResource, dbt_assets

from dtsen import privacy
from dtsen import warehouse as wh
from orchestration.dbt_project import dbt_project
from orchestration.partitions import monthly_partitions, one_month_per_run
from orchestration.resources import WarehouseResource

GROUP_BY_FOLDER = {
    "staging": "staging",
    "intermediate": "intermediate",
    "marts": "marts",
    "restricted": "restricted",
    "history": "history",
}


def test_description(test: dict) -> str:
    """What a dbt test asserts, for the UI: its own description (yml), else one made from the generic test."""
    own = (test.get("meta") or {}).get("description") or test.get("description")
    if own:
        return own
    meta = test.get("test_metadata") or {}
    kwargs = dict(meta.get("kwargs") or {})
    column = kwargs.pop("column_name", None)
    kwargs.pop("model", None)
    args = ", ".join(f"{k}={v}" for k, v in sorted(kwargs.items()) if v not in (None, "", []))
    name = meta.get("name") or test.get("name", "test")
    target = f"column {column}" if column else "the model"
    return f"dbt {name} on {target}" + (f" ({args})" if args else "")


class DtsenDbtTranslator(DagsterDbtTranslator):
    def get_group_name(self, dbt_resource_props):
        if dbt_resource_props["resource_type"] == "seed":
            return "rules"
        fqn = dbt_resource_props.get("fqn", [])
        return GROUP_BY_FOLDER.get(fqn[1] if len(fqn) > 2 else "", "marts")

    def get_asset_check_spec(self, asset_spec, manifest, unique_id, project):
        """dbt tests as checks judged per month (the build is per snapshot), each with a description."""
        spec = super().get_asset_check_spec(asset_spec, manifest, unique_id, project)
        if spec is None:
            return None
        test = manifest["nodes"].get(unique_id) or manifest.get("unit_tests", {}).get(unique_id) or {}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", dg.PreviewWarning)
            return dg.AssetCheckSpec(
                spec.name,
                asset=spec.asset_key,
                description=test_description(test),
                additional_deps=spec.additional_deps,
                metadata=spec.metadata,
                blocking=spec.blocking,
                partitions_def=monthly_partitions,
            )


TRANSLATOR = DtsenDbtTranslator(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True))


def dbt_executable() -> str:
    """dbt from this environment's bin folder (DbtCliResource otherwise needs it on PATH)."""
    local = Path(sys.executable).with_name("dbt")
    return str(local) if local.exists() else (shutil.which("dbt") or "dbt")


class DtsenDbtCliResource(DbtCliResource):
    """dagster-dbt asks `dbt --version` in a subprocess before every invocation (seconds per run); the dbt that
    runs is this environment's, so its version is dbt-core's. And it needs no in-process adapter (below)."""

    @cached_property
    def _cli_version(self):
        from importlib.metadata import version as installed

        from packaging import version

        return version.parse(installed("dbt-core"))

    def _initialize_dbt_core_adapter(self, args):
        """No adapter in this process: dagster-dbt builds one (loading every dbt macro: 2.9 s per run, whatever the
        size of the month) before it starts dbt, only to serve `fetch_row_counts` / `fetch_column_metadata`, which
        these assets do not call; it accepts None (the Fusion engine has no adapter either)."""
        return None


def dbt_resource() -> DbtCliResource:
    return DtsenDbtCliResource(project_dir=dbt_project, dbt_executable=dbt_executable())


def run_target(warehouse: WarehouseResource) -> Path:
    """dbt's target folder for one warehouse, beside it (`dbt/<file name>/`): one dbt at a time per warehouse (the
    duckdb_writer pool), and its saved parse stays valid from one month to the next. dbt re-parses the whole project
    (2-3 s at any size) when its profile changes, and the warehouse path is part of the profile: in one folder
    shared by every warehouse (tests, benches, a second deployment), each run on another warehouse threw the parse
    away for the next. The run's log (dbt.log) is there too."""
    return Path(warehouse.beside("dbt", Path(warehouse.file).stem))


def prepare_dbt(warehouse: WarehouseResource) -> Path:
    """Parse the dbt project for this warehouse, as its monthly runs will (same profile, same target folder), so the
    first month's build starts from a saved parse like every later month's (`make setup` does it for the default
    warehouse, `dtsen prepare-dbt` for any). Returns the target folder."""
    target = run_target(warehouse)
    with warehouse_env(warehouse):
        dbt_resource().cli(["parse"], target_path=target).wait()
    return target


@contextmanager
def warehouse_env(warehouse: WarehouseResource):
    """dbt runs as a subprocess: hand it the warehouse file and memory limit through its profile's env vars."""
    saved = {k: os.environ.get(k) for k in ("DTSEN_WAREHOUSE", "DTSEN_DUCKDB_MEMORY")}
    os.environ["DTSEN_WAREHOUSE"] = warehouse.file
    os.environ["DTSEN_DUCKDB_MEMORY"] = warehouse.duckdb_memory
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    dagster_dbt_translator=TRANSLATOR,
    partitions_def=monthly_partitions,
    pool="duckdb_writer",
    backfill_policy=one_month_per_run,
)
def dtsen_dbt_models(context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource):
    if privacy.using_development_key():
        context.log.warning(
            f"{privacy.KEY_ENV} is not set: NIK/KK are pseudonymised with the public DEVELOPMENT key; "
            f"set a secret key before real data is loaded"
        )
    # the month to build is read by the models from dtsen.marts_snapshot (a --vars value would make dbt re-parse
    # the whole project whenever the month changes)
    with warehouse.connect() as con:
        wh.set_marts_snapshot(con, context.partition_key)
    with warehouse_env(warehouse):
        yield from dbt.cli(["build"], context=context, target_path=run_target(warehouse)).stream()


marts_assets = [dtsen_dbt_models]
