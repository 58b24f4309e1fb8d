"""dbt in Dagster: the translator (groups, checks judged per month, test descriptions), the dbt CLI resource, and
dbt's target folder and profile for a warehouse. The `@dbt_assets` themselves are in `assets/marts.py`."""

import os
import shutil
import sys
import warnings
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtCliResource

from dtsen import filemodes
from orchestration.lib.dbt_project import dbt_project
from orchestration.lib.partitions import monthly_partitions
from orchestration.lib.resources import DataResource

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
        """No adapter in this process: dagster-dbt builds one (loading every dbt macro: seconds per run, whatever the
        size of the month) before it starts dbt, only to serve `fetch_row_counts` / `fetch_column_metadata`, which
        these assets do not call; it accepts None (the Fusion engine has no adapter either)."""
        return None


def dbt_resource() -> DbtCliResource:
    return DtsenDbtCliResource(project_dir=dbt_project, dbt_executable=dbt_executable())


def run_target(data: DataResource, area: str = "main") -> Path:
    """dbt's target folder for one warehouse (`dbt/<warehouse file name>/` under the data root): one dbt at a time
    per warehouse (the duckdb_writer pool), and its saved parse stays valid from one month to the next. dbt parses
    the whole project again when its profile changes, and the warehouse path is part of the profile: in one folder
    shared by every warehouse (tests, benches, a second deployment), each run on another warehouse threw the parse
    away for the next. The run's log (dbt.log) is there too. A backfill's build (the rebuild area, its own dbt
    target) has a folder of its own beside it, `dbt/<warehouse file name>-rebuild/`."""
    return Path(data.layout.dbt_target_of(area))


def prepare_dbt(data: DataResource) -> Path:
    """Parse the dbt project for this warehouse, as its monthly runs will (same profile, same target folder), so the
    first month's build starts from a saved parse like every later month's (`make setup` does it for the default
    warehouse, `dtsen prepare-dbt` for any). Returns the target folder."""
    target = run_target(data)
    with warehouse_env(data):
        dbt_resource().cli(["parse"], target_path=target).wait()
    filemodes.private(str(target))  # dagster-dbt copies the project's saved parse in with its own mode
    return target


@contextmanager
def warehouse_env(data: DataResource):
    """dbt runs as a subprocess: hand it the warehouse file and memory limit through its profile's env vars."""
    saved = {k: os.environ.get(k) for k in ("DTSEN_WAREHOUSE", "DTSEN_DUCKDB_MEMORY")}
    os.environ["DTSEN_WAREHOUSE"] = data.layout.warehouse
    os.environ["DTSEN_DUCKDB_MEMORY"] = data.duckdb_memory
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
