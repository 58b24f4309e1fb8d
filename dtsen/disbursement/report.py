"""A short text report of a month's disbursement and of the latest reconciliation (printed by the demo)."""

from __future__ import annotations

import duckdb


def month_report(con: duckdb.DuckDBPyConnection, month: str) -> list[str]:
    lines = []
    rows = con.execute(
        """SELECT program, count(*) AS n, sum(amount) AS amount,
                                 count(*) FILTER (WHERE channel = 'POS') AS pos,
                                 count(*) FILTER (WHERE routing_reason LIKE '%previous_not_collected%') AS rerouted
                          FROM disbursement.payment_row WHERE period = ? GROUP BY 1 ORDER BY 1""",
        [month],
    ).fetchall()
    if not rows:
        return [f"  no payment rows for {month}"]
    for program, n, amount, pos, rerouted in rows:
        extra = (
            ""
            if program == "PBI"
            else f"; PT Pos {pos / n:.1%}"
            + (f", of which {rerouted:,} moved there after not collecting last time" if rerouted else "")
        )
        lines.append(f"  {program:8s} {n:>7,} payments  Rp {amount:>15,}{extra}")
    shares = con.execute(
        """SELECT channel, count(*) AS n, sum(count(*)) OVER () AS total
                            FROM disbursement.payment_row WHERE period = ? AND channel <> 'BPJS'
                            GROUP BY 1 ORDER BY 2 DESC""",
        [month],
    ).fetchall()
    if shares:
        lines.append("  channel shares (cash): " + ", ".join(f"{c} {n / t:.1%}" for c, n, t in shares))
    absorbed = con.execute(
        """SELECT channel, sum(paid_amount), sum(collected_amount), sum(not_collected_amount),
                                     sum(dormant_amount)
                              FROM disbursement.absorption WHERE rekon_period = ? AND period = ?
                              GROUP BY 1 ORDER BY 1""",
        [month, month],
    ).fetchall()
    if absorbed:
        lines.append(
            "  absorption (collected / paid): "
            + ", ".join(f"{c} {col / paid:.1%}" for c, paid, col, _, _ in absorbed if paid)
        )
        flags = con.execute("SELECT count(*) FROM disbursement.review_flag WHERE rekon_period = ?", [month]).fetchall()[
            0
        ][0]
        not_col = sum(int(x[3]) for x in absorbed)
        dormant = sum(int(x[4]) for x in absorbed)
        lines.append(
            f"  not collected Rp {not_col:,}; dormant (> 105 days) Rp {dormant:,}; "
            f"families flagged for review {flags:,}"
        )
    return lines
