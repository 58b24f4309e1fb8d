"""Reconciliation files from the banks and PT Pos back into the loop (DOMAIN rules 5 and 6).

`rekon/<YYYY-MM>/<program>_<channel>.csv`: disbursement_id, status (TERSALUR credited | DIAMBIL collected |
GAGAL failed | RETUR returned), amount, status_date (YYYY-MM-DD). Validated like every other delivery: a file-level
problem names the file; a bad row is quarantined (sources.quarantine, source `rekon`) with line, field and reason:
unknown status, bad amount or date, a disbursement_id that was never paid, an amount that differs from the paid
amount, the same id and status twice. A legitimately empty file is accepted.

Absorption (per period of payment, program, channel, bank and province): paid, credited, collected, failed and
returned amounts. A credited payment not collected within `dormant_days` (105) of its credit date, as of the end
of the reconciliation month, is dormant (returns to the treasury). A family that has not collected in
`review_after_missed_periods` (2) periods is flagged for review. The next period's lists move families whose
latest bank payment was not collected to PT Pos (dtsen.disbursement.lists).
"""

from __future__ import annotations

import glob
import os
import re
from dataclasses import dataclass, field

import duckdb
import pandas as pd
import pandera.pandas as pa

from dtsen import warehouse as wh
from dtsen.registries import schemas as sc
from dtsen.registries.engine import FileReport, month_end, write_delivery
from dtsen.registries.files import DeliveryFileError, read_csv_file

from .lists import ensure_schema

STATUSES = ("TERSALUR", "DIAMBIL", "GAGAL", "RETUR")
FILE_RE = re.compile(r"^(?P<program>[a-z]+)_(?P<channel>[a-z]+)\.csv$")
REQUIRED = ["disbursement_id", "status", "amount", "status_date"]

DDL = [
    """CREATE TABLE IF NOT EXISTS disbursement.absorption (rekon_period VARCHAR NOT NULL, period VARCHAR NOT NULL,
        program VARCHAR, channel VARCHAR, province_code VARCHAR, rows BIGINT, paid_amount BIGINT,
        credited_amount BIGINT, collected_amount BIGINT, failed_amount BIGINT, returned_amount BIGINT,
        not_collected_amount BIGINT, dormant_amount BIGINT)""",
    """CREATE TABLE IF NOT EXISTS disbursement.review_flag (rekon_period VARCHAR NOT NULL, family_id VARCHAR NOT NULL,
        missed_periods INTEGER, last_missed_period VARCHAR, reason VARCHAR)""",
    """CREATE TABLE IF NOT EXISTS disbursement.dormant (rekon_period VARCHAR NOT NULL, disbursement_id VARCHAR NOT NULL,
        family_id VARCHAR, amount BIGINT, credited_on DATE, days_not_collected INTEGER)""",
]


@dataclass
class RekonResult:
    period: str
    files: list[FileReport] = field(default_factory=list)
    by_reason: dict[str, int] = field(default_factory=dict)
    rows_accepted: int = 0
    rows_quarantined: int = 0
    warnings: list[str] = field(default_factory=list)


def rekon_schema(limit: pd.Timestamp) -> pa.DataFrameSchema:
    return pa.DataFrameSchema(
        {
            "disbursement_id": sc._col(required=True),
            "status": sc._col(sc.one_of(set(STATUSES), "status"), required=True),
            "amount": sc._col(sc.non_negative("amount"), required=True),
            "status_date": sc._col(required=True),
        },
        checks=sc.date_checks("status_date", "%Y-%m-%d", limit),
        strict=False,
        name="rekon",
    )


def ingest_rekon(con: duckdb.DuckDBPyConnection, landing: str, month: str) -> RekonResult:
    """Read every reconciliation file of the month; replace the month's rows in one transaction."""
    ensure_schema(con)
    folder = os.path.join(landing, "rekon", month)
    paths = sorted(glob.glob(os.path.join(folder, "*.csv")))
    res = RekonResult(month)
    accepted, quarantined, raws = [], [], []
    # status dates may run into the next month (a file is cut after the month's end)
    limit = month_end(month) + pd.DateOffset(months=1)
    paid = (
        con.execute("SELECT disbursement_id, amount FROM disbursement.payment_row WHERE period <= ?", [month])
        .df()
        .set_index("disbursement_id")["amount"]
    )
    for path in paths:
        if not FILE_RE.match(os.path.basename(path)):
            raise DeliveryFileError(path, "file name must be <program>_<channel>.csv (lowercase), e.g. pkh_bri.csv")
        raw = read_csv_file(path, ",", REQUIRED, "lower", allow_empty=True, dates={"status_date": "%Y-%m-%d"})
        df = raw.frame
        fails = sc.failures(rekon_schema(limit), df)
        extra = _row_problems(df, paid)
        ok, q = sc.split(df, raw.rejects, raw.path, fails, "rekon", month, extra)
        out = pd.DataFrame(
            {
                "period": month,
                "file": path,
                "line": ok["_line"].astype("int64"),
                "disbursement_id": ok["disbursement_id"],
                "status": ok["status"],
                "amount": pd.to_numeric(ok["amount"]).astype("int64"),
                "status_date": pd.to_datetime(ok["status_date__date"]),
            }
        )
        accepted.append(out)
        quarantined.append(q)
        raws.append(raw)
        res.warnings += raw.warnings
    out = pd.concat(accepted, ignore_index=True) if accepted else pd.DataFrame()
    q = (
        pd.concat(quarantined, ignore_index=True)
        if quarantined
        else pd.DataFrame(columns=["source", "delivery", "file", "line", "field", "value", "reason"])
    )
    res.files, res.by_reason = write_delivery(
        con, "rekon", month, raws, [("disbursement.reconciliation", out, "period = ?", month)], q, res.warnings
    )
    res.rows_accepted = sum(f.rows_accepted for f in res.files)
    res.rows_quarantined = sum(f.rows_quarantined for f in res.files)
    return res


def _row_problems(df: pd.DataFrame, paid: pd.Series) -> pd.DataFrame:
    """Rows that are well-formed but do not match what was paid."""
    if not len(df):
        return pd.DataFrame(columns=["index", "field", "value", "reason"])
    probs = []
    ids = df["disbursement_id"]
    unknown = ids.notna() & ~ids.isin(paid.index)
    for i in df.index[unknown]:
        probs.append((i, "disbursement_id", ids[i], "unknown disbursement_id (never paid)"))
    amount = pd.to_numeric(df["amount"], errors="coerce")
    known = ids.notna() & ids.isin(paid.index) & amount.notna()
    expect = ids[known].map(paid)
    for i in expect.index[amount[known] != expect]:
        probs.append((i, "amount", df.at[i, "amount"], f"amount differs from the paid amount {int(expect[i])}"))
    dup = df.duplicated(["disbursement_id", "status"], keep="first") & ids.notna()
    for i in df.index[dup]:
        probs.append((i, "disbursement_id", ids[i], "same disbursement_id and status twice in the file"))
    return pd.DataFrame(probs, columns=["index", "field", "value", "reason"])


def absorption(
    con: duckdb.DuckDBPyConnection, rekon_period: str, dormant_days: int = 105, review_after: int = 2
) -> dict:
    """Absorption, dormant funds and review flags as of the end of the reconciliation month."""
    ensure_schema(con)
    for stmt in DDL:
        con.execute(stmt)
    as_of = (month_end(rekon_period)).date()
    con.execute(f"""CREATE OR REPLACE TEMP TABLE _status AS
        SELECT p.period, p.program, p.channel, p.province_code, p.family_id, p.disbursement_id, p.amount,
               bool_or(r.status = 'DIAMBIL') AS collected, bool_or(r.status = 'TERSALUR') AS credited,
               bool_or(r.status = 'GAGAL') AS failed, bool_or(r.status = 'RETUR') AS returned,
               min(r.status_date) FILTER (WHERE r.status = 'TERSALUR') AS credited_on,
               count(r.status) AS statuses
        FROM disbursement.payment_row p
        LEFT JOIN (SELECT * FROM disbursement.reconciliation WHERE period <= '{rekon_period}') r USING (disbursement_id)
        WHERE p.period <= '{rekon_period}' AND p.channel <> 'BPJS'
        GROUP BY ALL""")
    with wh.transaction(con):
        for t in ("absorption", "review_flag", "dormant"):
            con.execute(f"DELETE FROM disbursement.{t} WHERE rekon_period = ?", [rekon_period])
        con.execute(f"""INSERT INTO disbursement.absorption
            SELECT '{rekon_period}', period, program, channel, province_code, count(*), sum(amount),
                   coalesce(sum(amount) FILTER (WHERE credited OR collected), 0),
                   coalesce(sum(amount) FILTER (WHERE collected), 0),
                   coalesce(sum(amount) FILTER (WHERE failed AND NOT collected), 0),
                   coalesce(sum(amount) FILTER (WHERE returned AND NOT collected), 0),
                   coalesce(sum(amount) FILTER (WHERE statuses > 0 AND NOT collected), 0),
                   coalesce(sum(amount) FILTER (WHERE credited AND NOT collected
                                               AND DATE '{as_of}' - credited_on > {dormant_days}), 0)
            FROM _status GROUP BY ALL""")
        con.execute(f"""INSERT INTO disbursement.dormant
            SELECT '{rekon_period}', disbursement_id, family_id, amount, credited_on, DATE '{as_of}' - credited_on
            FROM _status WHERE credited AND NOT collected AND DATE '{as_of}' - credited_on > {dormant_days}""")
        con.execute(f"""INSERT INTO disbursement.review_flag
            SELECT '{rekon_period}', family_id, count(DISTINCT period), max(period),
                   'not collected in ' || count(DISTINCT period) || ' periods'
            FROM _status WHERE statuses > 0 AND NOT collected
            GROUP BY family_id HAVING count(DISTINCT period) >= {review_after}""")
    by_channel = con.execute(
        """SELECT channel, sum(paid_amount) AS paid, sum(credited_amount) AS credited,
                                       sum(collected_amount) AS collected, sum(not_collected_amount) AS not_collected,
                                       sum(dormant_amount) AS dormant
                                FROM disbursement.absorption WHERE rekon_period = ? AND period = ?
                                GROUP BY channel ORDER BY channel""",
        [rekon_period, rekon_period],
    ).df()
    flags = con.execute(
        "SELECT count(*) FROM disbursement.review_flag WHERE rekon_period = ?", [rekon_period]
    ).fetchall()[0][0]
    dormant = con.execute(
        "SELECT count(*), coalesce(sum(amount), 0) FROM disbursement.dormant WHERE rekon_period = ?", [rekon_period]
    ).fetchall()[0]
    return {
        "by_channel": by_channel,
        "review_flags": int(flags),
        "dormant_rows": int(dormant[0]),
        "dormant_amount": int(dormant[1]),
    }
