from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from dtsen.synth import SynthConfig, synth

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
CHECK_CONTRACT = SHARED / "tools" / "check_contract.py"


@pytest.fixture(scope="session")
def landing(tmp_path_factory) -> Path:
    """A 20 k-person, three-month synthetic landing folder shared by the tests that only read it."""
    out = tmp_path_factory.mktemp("landing")
    synth(SynthConfig(persons=20_000, seed=7, months=3), str(out))
    return out


@pytest.fixture(scope="session")
def small_landing(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("small_landing")
    synth(SynthConfig(persons=3_000, seed=11, months=2), str(out))
    return out


def needs_shared():
    return pytest.mark.skipif(
        not CHECK_CONTRACT.exists(),
        reason=f"{CHECK_CONTRACT} is absent: the contract checker lives in ../shared, "
        "which a user's clone does not have",
    )


# tests never write into a developer's run history: a fresh, empty Dagster home per test session
os.environ["DAGSTER_HOME"] = tempfile.mkdtemp(prefix="dtsen_test_dagster_home_")
# the tests run in demo mode (synthetic data, the public development keys allowed); the tests of the refusal outside
# it unset it themselves
os.environ["DTSEN_DEMO"] = "1"


NO_GENERIC_BASELINE = {"ops": {"dtsen__linkage_evaluation": {"config": {"generic_baseline": False}}}}


@pytest.fixture(scope="session")
def pipeline(landing, tmp_path_factory):
    """The whole monthly pipeline (ingest -> DTSEN -> welfare -> dbt marts -> published) run through Dagster on the
    20 k landing folder for its first month, into a fresh warehouse. Returns (MonthRun, warehouse path, landing)."""
    import dagster as dg

    from orchestration.operate.runner import materialize_month

    data = tmp_path_factory.mktemp("pipeline")
    warehouse = data / "warehouse.duckdb"
    run = materialize_month(
        str(landing), "2025-01", str(data), instance=dg.DagsterInstance.ephemeral(), run_config=NO_GENERIC_BASELINE
    )
    assert run.success, run.errors
    return run, warehouse, landing


def _env(home: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DTSEN_")}
    env["DAGSTER_HOME"] = str(home)
    env["DTSEN_DEMO"] = "1"
    return env


def cli(home: Path, *args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    """`dtsen ...` in a subprocess with the given Dagster home and none of the caller's DTSEN_* settings."""
    return subprocess.run(
        [sys.executable, "-m", "orchestration.operate.cli", *args],
        cwd=REPO,
        env=_env(home),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture(scope="session")
def demo(tmp_path_factory):
    """`make run`'s demo (1,000 persons, three months) in a subprocess with its own Dagster home: what an operator
    has after README's first command. Returns (Dagster home, data folder, the command's stdout)."""
    root = tmp_path_factory.mktemp("operate")
    home = root / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "orchestration" / "dagster.yaml", home / "dagster.yaml")
    data = root / "data"
    proc = cli(home, "demo", "--persons", "1000", "--months", "3", "--data", str(data))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return home, data, proc.stdout
