"""One memory budget (DTSEN_MEMORY_BUDGET, default 16 GiB) sets every engine's limit."""

from __future__ import annotations

import pytest

from dtsen import warehouse as wh
from dtsen.linkage.spark import SparkConfig
from orchestration.lib.resources import DataResource


def test_parse_bytes():
    assert wh.parse_bytes("16GiB") == 16 * 2**30
    assert wh.parse_bytes("4GB") == 4 * 10**9
    assert wh.parse_bytes("512m") == 512 * 2**20
    with pytest.raises(ValueError, match="not a memory size"):
        wh.parse_bytes("lots")


def test_default_budget_gives_duckdb_and_spark_a_quarter(monkeypatch):
    monkeypatch.delenv(wh.MEMORY_BUDGET_ENV, raising=False)
    monkeypatch.delenv("DTSEN_SPARK_DRIVER_MEMORY", raising=False)
    assert wh.memory_budget() == 16 * 2**30
    assert wh.duckdb_memory_limit() == "4096MiB"
    assert SparkConfig().driver_memory == "4096m"


def test_budget_reaches_the_warehouse_connection(monkeypatch, tmp_path):
    monkeypatch.setenv(wh.MEMORY_BUDGET_ENV, "8GiB")
    res = DataResource(root=str(tmp_path))
    with res.connect() as con:
        limit = con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0]
    assert limit.replace(" ", "") in ("2.0GiB", "2GiB", "2048.0MiB")
    assert SparkConfig().driver_memory == "2048m"
    assert DataResource(root=str(tmp_path), memory_limit="1GB").duckdb_memory == "1GB"
