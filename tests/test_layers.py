"""The layers import downward only (docs: Architecture): the domain package knows nothing of Dagster, the Dagster
library knows nothing of the assets, the assets nothing of the code location that merges them, and nothing but the
operating code on top imports the code location. Every import counts, those made inside functions included."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _imports(path: Path, package: str) -> set[str]:
    """Every module a file of `package` imports, at any depth of its code (relative imports resolved)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            found.add(module)
            found |= {f"{module}.{a.name}" for a in node.names}
    return found


def _modules(folder: str) -> dict[str, set[str]]:
    return {
        str(p.relative_to(REPO)): _imports(p, ".".join(p.relative_to(REPO).parts[:-1]))
        for p in sorted((REPO / folder).rglob("*.py"))
        if "__pycache__" not in p.parts
    }


def _offending(folder: str, forbidden: tuple[str, ...]) -> dict[str, list[str]]:
    out = {}
    for file, imported in _modules(folder).items():
        bad = sorted(m for m in imported if any(m == f or m.startswith(f + ".") for f in forbidden))
        if bad:
            out[file] = bad
    return out


def test_the_domain_package_imports_nothing_of_dagster_or_the_layers_above():
    assert _offending("dtsen", ("dagster", "dagster_dbt", "dagster_duckdb", "assets", "orchestration")) == {}


def test_the_dagster_library_imports_no_asset_and_nothing_above_it():
    assert _offending("orchestration/lib", ("assets", "orchestration.definitions", "orchestration.operate")) == {}


def test_the_assets_import_neither_the_code_location_nor_the_operating_code():
    assert _offending("assets", ("orchestration.definitions", "orchestration.operate")) == {}


def test_only_the_operating_code_imports_the_code_location():
    users = {
        file
        for folder in ("dtsen", "assets", "orchestration")
        for file, imported in _modules(folder).items()
        if "orchestration.definitions" in imported or any(m.startswith("orchestration.definitions.") for m in imported)
    }
    assert users and all(f.startswith("orchestration/operate/") for f in users), users


def test_the_checker_sees_imports_inside_functions_and_relative_ones(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("def f():\n    from orchestration.lib import partitions\n    from ..web import app\n")
    found = _imports(probe, "dtsen.api")
    assert {"orchestration.lib", "orchestration.lib.partitions", "dtsen.web", "dtsen.web.app"} <= found


@pytest.mark.slow
def test_dagster_definitions_validate():
    """`make validate`: the code location loads as the webserver and the daemon load it."""
    proc = subprocess.run(
        [str(Path(sys.executable).with_name("dagster")), "definitions", "validate", "-w", "workspace.yaml"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "Validation successful" in proc.stdout + proc.stderr
