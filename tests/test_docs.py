"""The documentation as a newcomer finds it: the site builds with `mkdocs build --strict` (a broken link or anchor
fails), README stays a front door, nothing points outside the repository, and every setting the code reads is in
the configuration page."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
MKDOCS = Path(sys.executable).with_name("mkdocs")


def _build(project: Path, out: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(MKDOCS), "build", "--strict", "--site-dir", str(out)],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )


def test_the_site_builds_strictly(tmp_path):
    proc = _build(REPO, tmp_path / "site")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert (tmp_path / "site" / "index.html").exists()
    assert (tmp_path / "site" / "concepts" / "contracts.html").exists()


def test_a_broken_link_fails_the_build(tmp_path):
    """The strict build is a real check: a link to a page that does not exist fails it."""
    project = tmp_path / "project"
    shutil.copytree(REPO / "docs", project / "docs")
    shutil.copy(REPO / "mkdocs.yml", project / "mkdocs.yml")
    page = project / "docs" / "concepts" / "glossary.md"
    page.write_text(page.read_text() + "\nSee [a page that is not there](nowhere.md).\n")
    proc = _build(project, tmp_path / "site")
    assert proc.returncode != 0 and "nowhere.md" in proc.stdout + proc.stderr


def test_readme_is_a_front_door():
    lines = (REPO / "README.md").read_text().splitlines()
    assert len(lines) <= 200, len(lines)
    assert [n for n, line in enumerate(lines, 1) if len(line) > 120] == []
    text = "\n".join(lines)
    assert "make run" in text and "make test" in text


# the repository's files: tracked, and new ones not ignored
TRACKED = subprocess.run(
    ["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=REPO, capture_output=True, text=True
).stdout.split()
OUTSIDE = re.compile(r"\.\./shared|DOMAIN\.md|SPLINK\.md|STACK\.md|ARCHITECTURE\.md")


@pytest.mark.skipif(not TRACKED, reason="not a git checkout: the tracked files cannot be listed")
def test_nothing_points_outside_the_repository():
    """The contracts, the glossary and the linkage's traps are in docs/; a user's clone has no ../shared. (Tests
    that compare with ../shared where it exists skip without it, and are not counted here.)"""
    found = []
    for name in TRACKED:
        path = REPO / name
        if name.startswith(("tests/", "bench/results/")) or path.suffix in (".png", ".parquet") or not path.is_file():
            continue
        for n, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            if OUTSIDE.search(line):
                found.append(f"{name}:{n}: {line.strip()[:100]}")
    assert found == []


SETTING = re.compile(r"""["'](DTSEN_[A-Z_]+)["']""")
# DCI identifier types of the API, not settings
NOT_SETTINGS = {"DTSEN_PERSON_ID", "DTSEN_FAMILY_ID"}


def test_every_setting_the_code_reads_is_documented():
    read = set()
    for folder in ("dtsen", "assets", "orchestration", "dbt_project"):
        for path in (REPO / folder).rglob("*"):
            if path.suffix in (".py", ".yml", ".yaml", ".sql") and "target" not in path.parts:
                read |= set(SETTING.findall(path.read_text())) - NOT_SETTINGS
    documented = set(re.findall(r"`(DTSEN_[A-Z_]+)`", (REPO / "docs" / "operations" / "configuration.md").read_text()))
    assert {"DTSEN_DATA", "DTSEN_WAREHOUSE", "DTSEN_PSEUDONYM_KEY"} <= read  # the reader finds what it should
    assert read - documented == set()
