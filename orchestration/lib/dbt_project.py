"""The dbt project object, kept apart from `@dbt_assets` so it imports on a fresh clone (no manifest yet).

`make setup` (and so `make run` / `make test`) prepares the manifest with
`dagster-dbt project prepare-and-package --file orchestration/lib/dbt_project.py`; `dagster dev` re-parses on start.
dagster-dbt looks for the `dbt` executable on PATH when it parses; the code server that `dagster dev` starts has the
environment's Python but not necessarily its bin folder on PATH, so that folder is put first here.
"""

import os
import sys
from pathlib import Path

from dagster_dbt import DbtProject

DBT_PROJECT_DIR = Path(__file__).resolve().parents[2] / "dbt_project"

_bin = Path(sys.executable).parent
if (_bin / "dbt").exists() and str(_bin) not in os.environ.get("PATH", "").split(os.pathsep):
    os.environ["PATH"] = f"{_bin}{os.pathsep}{os.environ.get('PATH', '')}"

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)
dbt_project.prepare_if_dev()
