"""history.payment_history: per period, program and family, what was paid and what became of it, across months.

Recomputed whole from the payment rows, the banks' and PT Pos' reconciliation statuses and the dormant funds
after each payment run and each reconciliation (cheap: a few aggregations), so it always shows the latest
knowledge: a period is `awaiting_reconciliation` until its files come back, then `collected`, `partly_collected`
or `not_collected` (PBI-JK premiums go to BPJS Kesehatan and are `premium_paid`: nobody collects them);
`rerouted` says the family was moved to PT Pos because it had not collected before, `dormant` that credited money
lay untouched past the dormant limit.
"""

from __future__ import annotations

import duckdb

from dtsen.disbursement import lists, reconciliation

SQL = """
CREATE OR REPLACE TABLE history.payment_history AS
WITH status AS (
    SELECT disbursement_id, bool_or(status = 'DIAMBIL') AS collected, bool_or(status = 'GAGAL') AS failed,
           bool_or(status = 'RETUR') AS returned
    FROM disbursement.reconciliation GROUP BY 1
),
dormant AS (SELECT DISTINCT disbursement_id FROM disbursement.dormant),
payments AS (
    SELECT p.period, p.snapshot, p.program, p.family_id, p.province_code, p.channel, p.amount, p.routing_reason,
           s.disbursement_id IS NOT NULL AS reconciled, coalesce(s.collected, false) AS collected,
           coalesce(s.failed, false) AS failed, coalesce(s.returned, false) AS returned,
           d.disbursement_id IS NOT NULL AS dormant
    FROM disbursement.payment_row p
    LEFT JOIN status s USING (disbursement_id)
    LEFT JOIN dormant d USING (disbursement_id)
),
-- PBI-JK pays per member and members may live in different provinces: the family counts where most of its
-- payments of the period went, ties to the lower code (any_value gave a different province between two builds)
province AS (
    SELECT period, program, family_id, arg_min(province_code, (-n, province_code)) AS province_code
    FROM (SELECT period, program, family_id, province_code, count(*) AS n FROM payments GROUP BY ALL)
    GROUP BY ALL
)
SELECT period, min(snapshot) AS snapshot, program, family_id, any_value(pr.province_code) AS province_code,
       string_agg(DISTINCT channel, ',' ORDER BY channel) AS channels,
       count(*) AS payments,
       sum(amount)::BIGINT AS paid_amount,
       coalesce(sum(amount) FILTER (WHERE collected), 0)::BIGINT AS collected_amount,
       coalesce(sum(amount) FILTER (WHERE reconciled AND NOT collected), 0)::BIGINT AS not_collected_amount,
       CASE WHEN bool_and(channel = 'BPJS') THEN 'premium_paid'
            WHEN NOT bool_or(reconciled) THEN 'awaiting_reconciliation'
            WHEN bool_and(collected) THEN 'collected'
            WHEN bool_or(collected) THEN 'partly_collected'
            ELSE 'not_collected' END AS status,
       bool_or(coalesce(routing_reason, '') LIKE '%previous_not_collected%') AS rerouted,
       bool_or(dormant) AS dormant,
       bool_or(failed) AS failed,
       bool_or(returned) AS returned
FROM payments JOIN province pr USING (period, program, family_id)
GROUP BY period, program, family_id
ORDER BY period, program, family_id
"""


def build_payment_history(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Rebuild history.payment_history; returns families per status over all periods."""
    lists.ensure_schema(con)
    for stmt in reconciliation.DDL:
        con.execute(stmt)
    con.execute("CREATE SCHEMA IF NOT EXISTS history")
    con.execute(SQL)
    return dict(con.execute("SELECT status, count(*) FROM history.payment_history GROUP BY 1 ORDER BY 1").fetchall())
