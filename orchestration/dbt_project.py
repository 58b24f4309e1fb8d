"""The dbt project object, kept apart from `@dbt_assets` so it imports on a fresh clone (no manifest yet).

`make setup` (and so `make run` / `make test`) prepares the manifest with
`dagster-dbt project prepare-and-package --file orchestration/dbt_project.py`; `dagster dev` re-parses on start.
"""
from pathlib import Path

from dagster_dbt import DbtProject

DBT_PROJECT_DIR = Path(__file__).resolve().parent.parent / "dbt_project"

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)
dbt_project.prepare_if_dev()
