"""Where a month's dbt build lives: the current area, which analysts, the API's snapshot and the payment run read,
or the rebuild area, which a backfill of an earlier month builds into, so that history never moves "current".

    area      schemas                                                   holds
    main      staging, intermediate, marts, restricted, rules           the newest month built (current)
    rebuild   rebuild_staging, rebuild_intermediate, rebuild_marts,     the earlier month rebuilt last
              rebuild_restricted, rebuild_rules

The history schema (`history`, every month side by side) is shared: a rebuild of January replaces January's rows
there and nothing else. A month is built into `main` when it is not older than the month `main` holds (a first
build, the next month, or the current month again), into `rebuild` otherwise. `dtsen.marts_area` records which
month each area holds and whether its build finished; the dbt asset writes it before and after `dbt build` (dbt's
target of the same name, `dbt_project/profiles.yml`, names the schemas), and every reader asks `area_of(month)` for
the schemas that hold a month, instead of assuming the marts hold it.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from dtsen import warehouse as wh

MAIN = "main"
REBUILD = "rebuild"
AREAS = (MAIN, REBUILD)
# the schemas an area has (history is shared by both)
AREA_SCHEMAS = ("staging", "intermediate", "marts", "restricted", "rules")
BUILDING, BUILT, PARTIAL = "building", "built", "partial"


class MonthNotBuilt(ValueError):
    """The marts of a month are in neither area (or their build did not finish)."""


@dataclass(frozen=True)
class Area:
    name: str
    month: str
    # what a finished build makes of it: BUILT, or PARTIAL for a subset of the models over another month's
    finishes_as: str = BUILT

    def schema(self, schema: str) -> str:
        if schema not in AREA_SCHEMAS:
            return schema
        return schema if self.name == MAIN else f"{self.name}_{schema}"

    @property
    def staging(self) -> str:
        return self.schema("staging")

    @property
    def intermediate(self) -> str:
        return self.schema("intermediate")

    @property
    def marts(self) -> str:
        return self.schema("marts")

    @property
    def restricted(self) -> str:
        return self.schema("restricted")

    @property
    def rules(self) -> str:
        return self.schema("rules")

    @property
    def is_current(self) -> bool:
        return self.name == MAIN


def ensure(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("CREATE SCHEMA IF NOT EXISTS dtsen")
    con.execute(wh.MARTS_AREA_DDL)
    con.execute(wh.MARTS_SNAPSHOT_DDL)


def _exists(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    return bool(
        con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() "
            "AND schema_name = ? AND table_name = ?",
            [schema, table],
        ).fetchall()[0][0]
    )


def _areas(con: duckdb.DuckDBPyConnection) -> dict[str, tuple[str, str]]:
    """area -> (month, state), on a read-only connection too. A warehouse built before areas existed holds its one
    build in main: its month is the snapshot of intermediate.int_rules__versioned."""
    rows = {}
    if _exists(con, "dtsen", "marts_area"):
        rows = {a: (m, s) for a, m, s in con.execute("SELECT area, month, state FROM dtsen.marts_area").fetchall()}
    if MAIN not in rows and _exists(con, "intermediate", "int_rules__versioned"):
        month = con.execute("SELECT any_value(snapshot) FROM intermediate.int_rules__versioned").fetchall()[0][0]
        if month:
            rows[MAIN] = (str(month), BUILT)
    return rows


def current_month(con: duckdb.DuckDBPyConnection) -> str | None:
    """The month the current marts hold (None before the first build finished)."""
    month, state = _areas(con).get(MAIN, (None, None))
    return month if state == BUILT else None


def area_for_build(con: duckdb.DuckDBPyConnection, month: str) -> Area:
    """Where a build of `month` goes: main unless main holds a later month (then it is a rebuild of history)."""
    main = _areas(con).get(MAIN)
    return Area(MAIN if main is None or month >= main[0] else REBUILD, month)


def begin_build(con: duckdb.DuckDBPyConnection, month: str, every_model: bool = True) -> Area:
    """Record that `month` is being built (and tell the models which month: dtsen.marts_snapshot); returns its area.
    Until `finish_build`, the area answers for no month: readers refuse rather than read a half-built month.
    A build of some models only (`every_model` False) completes the area only if it already held this month;
    over another month's models it leaves the area PARTIAL, which answers for no month either."""
    ensure(con)
    area = area_for_build(con, month)
    if not every_model and _areas(con).get(area.name) != (month, BUILT):
        area = Area(area.name, month, PARTIAL)
    with wh.transaction(con):
        con.execute("DELETE FROM dtsen.marts_area WHERE area = ?", [area.name])
        con.execute("INSERT INTO dtsen.marts_area VALUES (?, ?, ?, now())", [area.name, month, BUILDING])
        con.execute("DELETE FROM dtsen.marts_snapshot")
        con.execute("INSERT INTO dtsen.marts_snapshot VALUES (?)", [month])
    return area


def finish_build(con: duckdb.DuckDBPyConnection, area: Area) -> None:
    con.execute(
        "UPDATE dtsen.marts_area SET state = ?, changed_at = now() WHERE area = ? AND month = ?",
        [area.finishes_as, area.name, area.month],
    )


def area_of(con: duckdb.DuckDBPyConnection, month: str) -> Area:
    """The area whose finished build holds `month`; MonthNotBuilt (saying what each area holds) otherwise."""
    areas = _areas(con)
    for name in AREAS:
        held, state = areas.get(name, (None, None))
        if held == month and state == BUILT:
            return Area(name, month)
    held = ", ".join(f"{name}: {m} ({s})" for name, (m, s) in sorted(areas.items())) or "nothing built yet"
    raise MonthNotBuilt(
        f"the marts of {month} are not built (the warehouse holds {held}): run monthly_pipeline for {month} first"
    )


def held(con: duckdb.DuckDBPyConnection) -> dict[str, tuple[str, str]]:
    """area -> (month, state), for status reports."""
    return _areas(con)
