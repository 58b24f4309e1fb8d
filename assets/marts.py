"""dbt models, seeds and tests as Dagster assets and asset checks (dagster-dbt).

Seeds (the program rules) form group `rules`, models groups `staging`, `intermediate`, `marts` and
`restricted`; every dbt test is an asset check. One `dbt build` per monthly partition, with the partition as the
DTSEN snapshot; a failing rule test fails the step, so nothing downstream (publishing, disbursement) runs on it.
"""
import json
import os
import shutil
import sys
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtCliResource, dbt_assets

from orchestration.dbt_project import dbt_project
from orchestration.partitions import monthly_partitions, one_month_per_run
from orchestration.resources import WarehouseResource

GROUP_BY_FOLDER = {"staging": "staging", "intermediate": "intermediate", "marts": "marts", "restricted": "restricted"}


class DtsenDbtTranslator(DagsterDbtTranslator):
    def get_group_name(self, dbt_resource_props):
        if dbt_resource_props["resource_type"] == "seed":
            return "rules"
        fqn = dbt_resource_props.get("fqn", [])
        return GROUP_BY_FOLDER.get(fqn[1] if len(fqn) > 2 else "", "marts")


TRANSLATOR = DtsenDbtTranslator(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True))


def dbt_executable() -> str:
    """dbt from this environment's bin folder (DbtCliResource otherwise needs it on PATH)."""
    local = Path(sys.executable).with_name("dbt")
    return str(local) if local.exists() else (shutil.which("dbt") or "dbt")


def dbt_resource() -> DbtCliResource:
    return DbtCliResource(project_dir=dbt_project, dbt_executable=dbt_executable())


@contextmanager
def warehouse_env(warehouse: WarehouseResource):
    """dbt runs as a subprocess: hand it the warehouse file and memory limit through its profile's env vars."""
    saved = {k: os.environ.get(k) for k in ("DTSEN_WAREHOUSE", "DTSEN_DUCKDB_MEMORY")}
    os.environ["DTSEN_WAREHOUSE"] = os.path.abspath(warehouse.path)
    os.environ["DTSEN_DUCKDB_MEMORY"] = warehouse.memory_limit
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@dbt_assets(manifest=dbt_project.manifest_path, project=dbt_project, dagster_dbt_translator=TRANSLATOR,
            partitions_def=monthly_partitions, pool="duckdb_writer",
            backfill_policy=one_month_per_run)
def dtsen_dbt_models(context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource):
    with warehouse_env(warehouse):
        yield from dbt.cli(["build", "--vars", json.dumps({"snapshot": context.partition_key})],
                           context=context).stream()


marts_assets = [dtsen_dbt_models]
