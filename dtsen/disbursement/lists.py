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

from dtsen import builds
from dtsen import warehouse as wh
from dtsen.builds import Area

from . import files

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
    # every issue of a period's files (the first, and each approved correction): the rows' fingerprint, append-only
    """CREATE TABLE IF NOT EXISTS disbursement.issue (period VARCHAR NOT NULL, fingerprint VARCHAR NOT NULL,
        files_written INTEGER NOT NULL, reason VARCHAR, run_id VARCHAR, issued_at TIMESTAMP NOT NULL)""",
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


def due_programs(con: duckdb.DuckDBPyConnection, month: str, rules: str = "rules") -> list[str]:
    """Programs that pay in the month (its month number in payment_months, inside the active window), by the rule
    seeds in schema `rules` (the build area's)."""
    number = str(int(month[5:7]))
    rows = con.execute(
        f"""SELECT program FROM {rules}.program_parameters
                          WHERE list_contains(string_split(trim(payment_months), ' '), ?)
                            AND (active_from IS NULL OR active_from <= ?) AND (active_to IS NULL OR active_to >= ?)
                          ORDER BY program""",
        [number, month, month],
    ).fetchall()
    return [r[0] for r in rows]


def channel_rule(con: duckdb.DuckDBPyConnection, rule: str, rules: str = "rules") -> int:
    row = con.execute(f"SELECT value FROM {rules}.channel_rules WHERE rule = ?", [rule]).fetchall()
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
# and by the release check that recomputes the entitlements; {marts} and {rules} are the build area's schemas
PROGRAM_PAYMENTS = {
    "PKH": ("{marts}.eligibility_pkh", "NULL::VARCHAR", "tranche_amount"),
    "SEMBAKO": ("{marts}.eligibility_sembako", "NULL::VARCHAR", "payment_amount"),
    "PBI": (
        "{marts}.eligibility_pbi",
        "person_id",
        "monthly_premium * (SELECT months_per_payment FROM {rules}.program_parameters WHERE program = 'PBI')",
    ),
    "PIP": ("{marts}.eligibility_pip", "person_id", "annual_amount"),
}


def program_payment(program: str, area: Area) -> tuple[str, str, str]:
    """(mart, person id column, amount) of a program in a build area."""
    names = {"marts": area.marts, "rules": area.rules}
    return tuple(part.format(**names) for part in PROGRAM_PAYMENTS[program])


def payment_rows_sql(month: str, due: list[str], area: Area) -> str:
    units = {}
    for program in PROGRAM_PAYMENTS:
        mart, person, amount = program_payment(program, area)
        units[program] = f"""SELECT '{program}' AS program, family_id, {person} AS person_id, {amount} AS amount,
                                 snapshot, rule_version, province_code AS unit_province_code
                          FROM {mart} WHERE is_recipient"""
    parts = [units[p] for p in due if p in units]
    if not parts:
        return ""
    return f"""
    WITH units AS ({" UNION ALL ".join(parts)}),
    cr AS (SELECT max(value) FILTER (WHERE rule = 'pos_elderly_age') AS elderly_age,
                  max(value) FILTER (WHERE rule = 'pos_if_severe_disability') = 1 AS on_disability,
                  max(value) FILTER (WHERE rule = 'pos_if_remote_village') = 1 AS on_remote,
                  max(value) FILTER (WHERE rule = 'pos_if_previous_not_collected') = 1 AS on_not_collected
           FROM {area.rules}.channel_rules),
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
        LEFT JOIN {area.restricted}.payee_identity y USING (family_id)
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
    LEFT JOIN {area.restricted}.person_identity i ON i.person_id = r.person_id
    ORDER BY disbursement_id
    """


@dataclass
class Preview:
    """What a period would pay if issued now, without writing anything."""

    period: str
    area: str
    due_programs: list[str]
    by_file: list[tuple]  # (program, channel, rows, amount, lines hash)
    fingerprint: str

    @property
    def rows(self) -> int:
        return sum(int(g[2]) for g in self.by_file)

    @property
    def total_amount(self) -> int:
        return sum(int(g[3]) for g in self.by_file)


def preview(con: duckdb.DuckDBPyConnection, month: str) -> Preview:
    """The period's payment rows as the lists would make them now, summarised per file, with their fingerprint
    (`files.rows_fingerprint`: equal fingerprints, equal files)."""
    ensure_schema(con)
    area = builds.area_of(con, month)
    due = due_programs(con, month, area.rules)
    sql = payment_rows_sql(month, due, area)
    groups = con.execute(files.fingerprint_by_file_sql(sql)).fetchall() if sql else []
    return Preview(month, area.name, due, groups, files.combine_fingerprint(groups))


def issued_fingerprint(con: duckdb.DuckDBPyConnection, month: str) -> str | None:
    """The fingerprint of the rows the period's files were last issued from (None: never issued)."""
    ensure_schema(con)
    row = con.execute(
        "SELECT fingerprint FROM disbursement.issue WHERE period = ? ORDER BY issued_at DESC, rowid DESC LIMIT 1",
        [month],
    ).fetchall()
    return row[0][0] if row else None


def record_issue(
    con: duckdb.DuckDBPyConnection, month: str, written: int, approval: files.Approval | None, run_id: str
) -> str:
    """After the period's files were issued (or found unchanged): the fingerprint of the rows they hold."""
    fp = files.rows_fingerprint(con, month)
    if written or issued_fingerprint(con, month) != fp:
        con.execute(
            "INSERT INTO disbursement.issue VALUES (?, ?, ?, ?, ?, now())",
            [month, fp, written, approval.reason if approval else None, run_id],
        )
    return fp


def describe_fingerprint(fp: str) -> str:
    rows, amount, _ = fp.split(":")
    return f"{int(rows):,} rows, Rp {int(amount):,}"


def build_payment_rows(
    con: duckdb.DuckDBPyConnection,
    month: str,
    approval: files.Approval | None = None,
    backfill: bool = False,
) -> ListSummary:
    """Write the period's payment rows (replacing any earlier rows of the period), from the build area that holds
    the month (`dtsen.builds`; builds.MonthNotBuilt when neither does). Refused (files.ReissueRefused, the rows
    left as they were) when the period's files were issued from other rows and no operator approved the change, or
    when a backfill would start a money run (a period never issued, or issued from other rows)."""
    ensure_schema(con)
    area = builds.area_of(con, month)
    due = due_programs(con, month, area.rules)
    sql = payment_rows_sql(month, due, area)
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _payment_rows AS {sql or 'SELECT * FROM disbursement.payment_row LIMIT 0'}"
    )
    now = files.combine_fingerprint(
        con.execute(files.fingerprint_by_file_sql("SELECT * FROM _payment_rows")).fetchall()
    )
    issued = issued_fingerprint(con, month)
    if backfill and issued != now:
        raise files.ReissueRefused(
            f"{month}: a backfill never starts a money run ("
            + ("never issued" if issued is None else f"issued from {describe_fingerprint(issued)}")
            + f", now {describe_fingerprint(now)}); launch disbursement_job for {month} on its own"
        )
    if issued is not None and issued != now and approval is None:
        raise files.ReissueRefused(
            f"{month}: its payment files were issued from {describe_fingerprint(issued)}; the rows now give "
            f"{describe_fingerprint(now)}: an issued month is issued again only with an operator's approval: "
            f"launch disbursement_job for {month} with resource release_approval: "
            f"{{approve_changes: true, reason: '<why>'}}"
        )
    with wh.transaction(con):
        con.execute("DELETE FROM disbursement.payment_row WHERE period = ?", [month])
        con.execute("INSERT INTO disbursement.payment_row BY NAME SELECT * FROM _payment_rows")
    con.execute("DROP TABLE _payment_rows")
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
