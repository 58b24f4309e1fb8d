"""Payment lists of one period: which programs pay, to whom, how much, through which channel and why.

The only step that reads raw identity (schema `restricted`, built by dbt). Rows go to
`disbursement.payment_row`, replaced for the period in one transaction.

Due programs (seed `program_parameters`): a program pays in a period when the period's month is in its
`payment_months` and the period is inside its active window. PKH pays a tranche (a quarter) in Jan/Apr/Jul/Oct,
Sembako `months_per_payment` months at once, PBI the month's premium, PIP the year's amount in its month.

Channel routing (DOMAIN rule 4; parameters in seed `channel_rules`), the only place it is written:
- PBI premiums go to BPJS Kesehatan (channel `BPJS`): no routing.
- Otherwise PT Pos (`POS`) when any of: the family has no KKS/account (`no_account`), the payee is at least
  `pos_elderly_age` (`elderly`), severely disabled (`severe_disability`), the village is remote (`remote_village`),
  or the family's latest reconciled bank payment of an earlier period was not collected
  (`previous_not_collected`). Every reason that applies is kept.
- Else the province's Himbara bank from seed `province_bank` (BSI in Aceh), reason `kks_account`.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from dtsen import warehouse as wh

CASH_CHANNELS_BANK = ("BRI", "BNI", "MANDIRI", "BTN", "BSI")
POS, BPJS = "POS", "BPJS"

DDL = [
    "CREATE SCHEMA IF NOT EXISTS disbursement",
    """CREATE TABLE IF NOT EXISTS disbursement.payment_row (period VARCHAR NOT NULL, program VARCHAR NOT NULL,
        channel VARCHAR NOT NULL, disbursement_id VARCHAR NOT NULL, family_id VARCHAR NOT NULL, person_id VARCHAR,
        payee_person_id VARCHAR, nik VARCHAR, name VARCHAR, no_kk VARCHAR, address VARCHAR, rt VARCHAR, rw VARCHAR,
        village_code VARCHAR, province_code VARCHAR, amount BIGINT NOT NULL, routing_reason VARCHAR,
        snapshot VARCHAR NOT NULL, rule_version VARCHAR NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS disbursement.reconciliation (period VARCHAR NOT NULL, file VARCHAR NOT NULL,
        line BIGINT, disbursement_id VARCHAR NOT NULL, status VARCHAR NOT NULL, amount BIGINT,
        status_date DATE)""",
]


@dataclass
class ListSummary:
    period: str
    due_programs: list[str]
    rows: int
    by_program_channel: dict[str, dict[str, int]]  # program -> channel -> rows
    total_amount: int
    rerouted_previous_not_collected: int


def ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    for stmt in DDL:
        con.execute(stmt)


def due_programs(con: duckdb.DuckDBPyConnection, month: str) -> list[str]:
    """Programs that pay in the month (its month number in payment_months, inside the active window)."""
    number = str(int(month[5:7]))
    rows = con.execute(
        """SELECT program FROM rules.program_parameters
                          WHERE list_contains(string_split(trim(payment_months), ' '), ?)
                            AND (active_from IS NULL OR active_from <= ?) AND (active_to IS NULL OR active_to >= ?)
                          ORDER BY program""",
        [number, month, month],
    ).fetchall()
    return [r[0] for r in rows]


def channel_rule(con: duckdb.DuckDBPyConnection, rule: str) -> int:
    row = con.execute("SELECT value FROM rules.channel_rules WHERE rule = ?", [rule]).fetchall()
    if not row:
        raise ValueError(f"seed channel_rules has no rule {rule!r}")
    return int(row[0][0])


def non_collectors_sql(month: str) -> str:
    """Families whose latest reconciled bank payment of an earlier period was not collected, as reported by the
    reconciliation files of earlier months (rebuilding a period's list gives the same routing whatever arrived
    since)."""
    return f"""
    WITH final AS (  -- only what was known before the period: a rebuilt list does not see later reconciliation
        SELECT r.disbursement_id, bool_or(r.status = 'DIAMBIL') AS collected
        FROM disbursement.reconciliation r WHERE r.period < '{month}' GROUP BY r.disbursement_id
    ),
    paid AS (
        SELECT p.family_id, p.period, f.collected
        FROM disbursement.payment_row p JOIN final f USING (disbursement_id)
        WHERE p.period < '{month}' AND p.channel IN {CASH_CHANNELS_BANK}
    ),
    latest AS (SELECT family_id, max(period) AS period FROM paid GROUP BY family_id)
    SELECT p.family_id FROM paid p JOIN latest l USING (family_id, period)
    GROUP BY p.family_id HAVING NOT bool_or(p.collected)
    """


# program -> (eligibility mart, person id column, amount of one payment): what a period pays, read by the lists
# and by the release check that recomputes the entitlements
PROGRAM_PAYMENTS = {
    "PKH": ("marts.eligibility_pkh", "NULL::VARCHAR", "tranche_amount"),
    "SEMBAKO": ("marts.eligibility_sembako", "NULL::VARCHAR", "payment_amount"),
    "PBI": (
        "marts.eligibility_pbi",
        "person_id",
        "monthly_premium * (SELECT months_per_payment FROM rules.program_parameters WHERE program = 'PBI')",
    ),
    "PIP": ("marts.eligibility_pip", "person_id", "annual_amount"),
}


def payment_rows_sql(month: str, due: list[str]) -> str:
    units = {
        program: f"""SELECT '{program}' AS program, family_id, {person} AS person_id, {amount} AS amount,
                                 snapshot, rule_version, province_code AS unit_province_code
                          FROM {mart} WHERE is_recipient"""
        for program, (mart, person, amount) in PROGRAM_PAYMENTS.items()
    }
    parts = [units[p] for p in due if p in units]
    if not parts:
        return ""
    return f"""
    WITH units AS ({" UNION ALL ".join(parts)}),
    cr AS (SELECT max(value) FILTER (WHERE rule = 'pos_elderly_age') AS elderly_age,
                  max(value) FILTER (WHERE rule = 'pos_if_severe_disability') = 1 AS on_disability,
                  max(value) FILTER (WHERE rule = 'pos_if_remote_village') = 1 AS on_remote,
                  max(value) FILTER (WHERE rule = 'pos_if_previous_not_collected') = 1 AS on_not_collected
           FROM rules.channel_rules),
    nc AS ({non_collectors_sql(month)}),
    routed AS (
        SELECT u.*, y.payee_person_id, y.payee_nik, y.no_kk, y.payee_name, y.address, y.rt, y.rw, y.village_code,
               y.province_code, y.province_bank,
               list_filter([
                   CASE WHEN NOT y.has_kks THEN 'no_account' END,
                   CASE WHEN y.payee_age >= cr.elderly_age THEN 'elderly' END,
                   CASE WHEN y.payee_severely_disabled AND cr.on_disability THEN 'severe_disability' END,
                   CASE WHEN y.remote_village AND cr.on_remote THEN 'remote_village' END,
                   CASE WHEN u.family_id IN (SELECT family_id FROM nc) AND cr.on_not_collected
                        THEN 'previous_not_collected' END
               ], lambda x: x IS NOT NULL) AS pos_reasons
        FROM units u
        CROSS JOIN cr
        LEFT JOIN restricted.payee_identity y USING (family_id)
    )
    SELECT '{month}' AS period, r.program,
           CASE WHEN r.program = 'PBI' THEN '{BPJS}'
                WHEN len(r.pos_reasons) > 0 OR r.province_bank IS NULL THEN '{POS}'
                ELSE r.province_bank END AS channel,
           r.program || '-' || '{month}' || '-' || coalesce(r.person_id, r.family_id) AS disbursement_id,
           r.family_id, r.person_id, r.payee_person_id,
           CASE WHEN r.person_id IS NOT NULL THEN i.nik ELSE r.payee_nik END AS nik,
           CASE WHEN r.person_id IS NOT NULL THEN i.name ELSE r.payee_name END AS name,
           r.no_kk, r.address, r.rt, r.rw, r.village_code,
           coalesce(r.unit_province_code, r.province_code) AS province_code, r.amount,
           CASE WHEN r.program = 'PBI' THEN 'premium_to_bpjs'
                WHEN len(r.pos_reasons) > 0 THEN array_to_string(r.pos_reasons, ',')
                WHEN r.province_bank IS NULL THEN 'no_province_bank'
                ELSE 'kks_account' END AS routing_reason,
           r.snapshot, r.rule_version
    FROM routed r
    LEFT JOIN restricted.person_identity i ON i.person_id = r.person_id
    ORDER BY disbursement_id
    """


def build_payment_rows(con: duckdb.DuckDBPyConnection, month: str) -> ListSummary:
    """Write the period's payment rows (replacing any earlier rows of the period)."""
    ensure_schema(con)
    snap = con.execute("SELECT any_value(snapshot) FROM intermediate.int_rules__versioned").fetchall()[0][0]
    if snap != month:
        raise ValueError(
            f"the eligibility marts hold snapshot {snap}, not {month}: build the marts for {month} "
            f"first (monthly_pipeline)"
        )
    due = due_programs(con, month)
    sql = payment_rows_sql(month, due)
    with wh.transaction(con):
        con.execute("DELETE FROM disbursement.payment_row WHERE period = ?", [month])
        if sql:
            con.execute(f"INSERT INTO disbursement.payment_row BY NAME {sql}")
    counts = con.execute(
        """SELECT program, channel, count(*) FROM disbursement.payment_row WHERE period = ?
                            GROUP BY ALL ORDER BY ALL""",
        [month],
    ).fetchall()
    by: dict[str, dict[str, int]] = {}
    for program, channel, n in counts:
        by.setdefault(program, {})[channel] = int(n)
    total, rows, rerouted = con.execute(
        """SELECT coalesce(sum(amount), 0), count(*),
                                           count(*) FILTER (WHERE routing_reason LIKE '%previous_not_collected%')
                                           FROM disbursement.payment_row WHERE period = ?""",
        [month],
    ).fetchall()[0]
    return ListSummary(
        period=month,
        due_programs=due,
        rows=int(rows),
        by_program_channel=by,
        total_amount=int(total),
        rerouted_previous_not_collected=int(rerouted),
    )
