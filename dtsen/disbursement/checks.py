"""Release checks on a period's payment rows. All four must pass before any file is written (blocking checks).

1. no_duplicate_unit: a family (family programs) or person (PBI, PIP) appears at most once per program and period,
   whatever the channel.
2. no_excluded_or_deceased: no row for an excluded family, an excluded person, a deceased payee/beneficiary, or a
   cash payment without a payee.
3. totals_equal_entitlements: per due program, rows and amounts equal the recipients and entitlements of the
   eligibility marts (recomputed from the marts, not from the rows).
4. within_quota_and_budget: per program and province no more units than the scaled quota; per program the
   period's total within annual_budget x months_per_payment / 12 x quota_scale.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb

from dtsen import builds
from dtsen.builds import Area

from .lists import PROGRAM_PAYMENTS, due_programs, program_payment


@dataclass
class ReleaseCheck:
    name: str
    passed: bool
    description: str
    details: dict = field(default_factory=dict)


def _rows(con, sql, params):
    return con.execute(sql, params).fetchall()


def no_duplicate_unit(con: duckdb.DuckDBPyConnection, month: str) -> ReleaseCheck:
    dups = _rows(
        con,
        """SELECT program, coalesce(person_id, family_id) AS unit, count(*) AS n,
                                string_agg(channel, ',' ORDER BY channel) AS channels
                         FROM disbursement.payment_row WHERE period = ?
                         GROUP BY program, coalesce(person_id, family_id) HAVING count(*) > 1
                         ORDER BY 1, 2 LIMIT 20""",
        [month],
    )
    return ReleaseCheck(
        "no_duplicate_unit",
        not dups,
        "a family or person appears once per program and period",
        {"duplicates": [f"{p}:{u} x{n} ({c})" for p, u, n, c in dups]},
    )


def no_excluded_or_deceased(con: duckdb.DuckDBPyConnection, month: str, area: Area) -> ReleaseCheck:
    bad = _rows(
        con,
        f"""
        WITH rows AS (SELECT * FROM disbursement.payment_row WHERE period = ?),
        dead AS (SELECT person_id FROM {area.intermediate}.int_persons__aged WHERE is_deceased),
        xp AS (SELECT person_id FROM {area.marts}.exclusions WHERE unit = 'person'),
        xf AS (SELECT family_id FROM {area.marts}.exclusions WHERE unit = 'family')
        SELECT disbursement_id,
               CASE WHEN family_id IN (SELECT family_id FROM xf) THEN 'excluded family'
                    WHEN person_id IN (SELECT person_id FROM xp) THEN 'excluded person'
                    WHEN person_id IN (SELECT person_id FROM dead) THEN 'deceased beneficiary'
                    WHEN payee_person_id IN (SELECT person_id FROM dead) THEN 'deceased payee'
                    WHEN payee_person_id IN (SELECT person_id FROM xp) AND program <> 'PBI' THEN 'excluded payee'
                    WHEN payee_person_id IS NULL AND program <> 'PBI' THEN 'no payee' END
        FROM rows
        WHERE family_id IN (SELECT family_id FROM xf) OR person_id IN (SELECT person_id FROM xp)
           OR person_id IN (SELECT person_id FROM dead) OR payee_person_id IN (SELECT person_id FROM dead)
           OR (payee_person_id IN (SELECT person_id FROM xp) AND program <> 'PBI')
           OR (payee_person_id IS NULL AND program <> 'PBI')
        ORDER BY 1 LIMIT 20""",
        [month],
    )
    return ReleaseCheck(
        "no_excluded_or_deceased",
        not bad,
        "no excluded family/person, no deceased payee or person",
        {"rows": [f"{d}: {why}" for d, why in bad]},
    )


def totals_equal_entitlements(con: duckdb.DuckDBPyConnection, month: str, area: Area) -> ReleaseCheck:
    due = due_programs(con, month, area.rules)
    got = {
        p: (int(n), int(a or 0))
        for p, n, a in _rows(
            con,
            "SELECT program, count(*), sum(amount) FROM disbursement.payment_row WHERE period = ? GROUP BY 1",
            [month],
        )
    }
    mismatches, expected = [], {}
    for program in sorted(set(due) | set(got)):
        if program in due and program in PROGRAM_PAYMENTS:
            mart, _, amount = program_payment(program, area)
            n, a = _rows(con, f"SELECT count(*), sum({amount}) FROM {mart} WHERE is_recipient", [])[0]
            exp = (int(n), int(a or 0))
        else:
            exp = (0, 0)  # a program that is not due must not pay
        expected[program] = exp
        if got.get(program, (0, 0)) != exp:
            mismatches.append(f"{program}: rows/amount {got.get(program, (0, 0))} != entitlements {exp}")
    return ReleaseCheck(
        "totals_equal_entitlements",
        not mismatches,
        "rows and amounts per program equal the recipients and entitlements of the marts",
        {"mismatches": mismatches, "expected": {k: list(v) for k, v in expected.items()}},
    )


def within_quota_and_budget(con: duckdb.DuckDBPyConnection, month: str, area: Area) -> ReleaseCheck:
    over_quota = _rows(
        con,
        f"""
        WITH scale AS (SELECT any_value(quota_scale) AS s FROM {area.intermediate}.int_rules__versioned),
        units AS (SELECT program, province_code, count(DISTINCT coalesce(person_id, family_id)) AS n
                  FROM disbursement.payment_row WHERE period = ? GROUP BY ALL)
        SELECT u.program, u.province_code, u.n, CAST(floor(coalesce(q.quota, 0) * scale.s) AS BIGINT) AS quota
        FROM units u CROSS JOIN scale
        LEFT JOIN {area.rules}.program_quota q ON q.program = u.program AND q.province_code = u.province_code
        WHERE u.n > floor(coalesce(q.quota, 0) * scale.s) ORDER BY 1, 2""",
        [month],
    )
    over_budget = _rows(
        con,
        f"""
        WITH scale AS (SELECT any_value(quota_scale) AS s FROM {area.intermediate}.int_rules__versioned),
        totals AS (SELECT program, sum(amount) AS total FROM disbursement.payment_row WHERE period = ? GROUP BY 1)
        SELECT t.program, t.total, p.annual_budget * p.months_per_payment / 12.0 * scale.s AS budget
        FROM totals t JOIN {area.rules}.program_parameters p USING (program) CROSS JOIN scale
        WHERE t.total > p.annual_budget * p.months_per_payment / 12.0 * scale.s ORDER BY 1""",
        [month],
    )
    return ReleaseCheck(
        "within_quota_and_budget",
        not over_quota and not over_budget,
        "units per program and province within the quota; totals within the period's budget",
        {
            "over_quota": [f"{p}/{prov}: {n} > {q}" for p, prov, n, q in over_quota],
            "over_budget": [f"{p}: {t:,} > {b:,.0f}" for p, t, b in over_budget],
        },
    )


def release_checks(con: duckdb.DuckDBPyConnection, month: str) -> list[ReleaseCheck]:
    area = builds.area_of(con, month)  # the build area the rows were made from
    return [
        no_duplicate_unit(con, month),
        no_excluded_or_deceased(con, month, area),
        totals_equal_entitlements(con, month, area),
        within_quota_and_budget(con, month, area),
    ]
