"""History marts over the demo's three months (the session `demo` fixture, built by `make run`'s demo): every month
kept and published as its own partition, program changes that explain themselves, and the analyst queries of the docs (Eligibility marts)."""

from __future__ import annotations

import re

import duckdb

from dtsen.publish import open_catalogue
from tests.conftest import REPO

MONTHS = ["2025-01", "2025-02", "2025-03"]


def _warehouse(data):
    return duckdb.connect(str(data / "warehouse.duckdb"), read_only=True)


def test_history_marts_keep_every_built_month(demo):
    _, data, _ = demo
    con = _warehouse(data)
    try:
        for table in ("appeal_explanation_history", "eligibility_history", "exclusions_history", "programme_changes"):
            months = [r[0] for r in con.execute(f"SELECT DISTINCT snapshot FROM history.{table} ORDER BY 1").fetchall()]
            assert months == MONTHS, (table, months)
        # the latest month of the history is the current mart, row for row
        current = con.execute(
            "SELECT * EXCLUDE (snapshot) FROM marts.appeal_explanation ORDER BY family_id, program"
        ).fetchall()
        kept = con.execute(
            "SELECT * EXCLUDE (snapshot) FROM history.appeal_explanation_history "
            "WHERE snapshot = '2025-03' ORDER BY family_id, program"
        ).fetchall()
        assert kept == current and kept
        # every family and program once per month
        dup = con.execute(
            "SELECT snapshot, family_id, program FROM history.appeal_explanation_history "
            "GROUP BY ALL HAVING count(*) > 1"
        ).fetchall()
        assert dup == []
    finally:
        con.close()


def test_programme_changes_explain_themselves(demo):
    _, data, _ = demo
    con = _warehouse(data)
    try:
        rows = con.execute(
            "SELECT snapshot, previous_snapshot, change, previous_decision, decision, reason "
            "FROM history.programme_changes"
        ).fetchall()
        assert rows
        for snapshot, previous, change, before, now, reason in rows:
            assert previous == (MONTHS[MONTHS.index(snapshot) - 1] if snapshot != MONTHS[0] else None)
            if change == "left":
                assert before == "recipient" and now != "recipient" and reason, (snapshot, before, now, reason)
            elif change == "entered":
                assert now == "recipient" and before != "recipient" and reason is None
            else:
                assert before == now == "recipient" and reason is None
        # changes agree with the decisions kept in the history, month by month
        for snapshot, previous in zip(MONTHS[1:], MONTHS):
            entered = con.execute(
                """SELECT count(*) FROM history.appeal_explanation_history c
                LEFT JOIN history.appeal_explanation_history p
                  ON p.family_id = c.family_id AND p.program = c.program AND p.snapshot = ?
                WHERE c.snapshot = ? AND c.decision = 'recipient' AND coalesce(p.decision, '') <> 'recipient'""",
                [previous, snapshot],
            ).fetchall()[0][0]
            assert (
                entered
                == con.execute(
                    "SELECT count(*) FROM history.programme_changes WHERE snapshot = ? AND change = 'entered'",
                    [snapshot],
                ).fetchall()[0][0]
            )
    finally:
        con.close()


def test_published_history_is_one_dataset_partitioned_by_month(demo):
    _, data, _ = demo
    published = data / "published"
    for table in ("appeal_explanation_history", "programme_changes", "programme_monthly"):
        parts = sorted(p.name for p in (published / "history" / table).iterdir() if not p.name.startswith("."))
        assert parts == [f"snapshot={m}" for m in MONTHS], (table, parts)
    cat = open_catalogue(str(published))
    try:
        months = [
            r[0] for r in cat.execute("SELECT DISTINCT snapshot FROM history.programme_changes ORDER BY 1").fetchall()
        ]
        assert months == MONTHS
        con = _warehouse(data)
        try:
            live = con.execute("SELECT count(*) FROM history.appeal_explanation_history").fetchall()[0][0]
        finally:
            con.close()
        assert cat.execute("SELECT count(*) FROM history.appeal_explanation_history").fetchall()[0][0] == live
    finally:
        cat.close()


def test_the_docs_analyst_queries_run_on_the_demo(demo):
    _, data, _ = demo
    text = (REPO / "docs" / "stages" / "marts.md").read_text()
    block = re.search(r"<!-- analyst-queries -->\s*```sql\n(.*?)```", text, re.S).group(1)
    queries = [q.strip() for q in re.split(r";\s*\n", block) if q.strip().strip(";")]
    assert len(queries) == 5
    cat = open_catalogue(str(data / "published"))
    try:
        for q in queries:
            sql = "\n".join(line for line in q.splitlines() if not line.strip().startswith("--"))
            assert cat.execute(sql.rstrip(";")).fetchall(), q
    finally:
        cat.close()


def test_payment_history_follows_every_payment_and_its_collection(demo):
    _, data, _ = demo
    con = _warehouse(data)
    try:
        paid = con.execute(
            "SELECT period, program, sum(amount) FROM disbursement.payment_row GROUP BY ALL ORDER BY ALL"
        ).fetchall()
        kept = con.execute(
            "SELECT period, program, sum(paid_amount) FROM history.payment_history GROUP BY ALL ORDER BY ALL"
        ).fetchall()
        assert kept == paid and [p[0] for p in paid][-1] == "2025-03"
        collected = con.execute("""SELECT coalesce(sum(p.amount), 0) FROM disbursement.payment_row p
            WHERE p.disbursement_id IN (SELECT disbursement_id FROM disbursement.reconciliation
                                        WHERE status = 'DIAMBIL')""").fetchall()[0][0]
        assert con.execute("SELECT sum(collected_amount) FROM history.payment_history").fetchall()[0][0] == collected
        assert collected > 0
        statuses = dict(con.execute("SELECT status, count(*) FROM history.payment_history GROUP BY 1").fetchall())
        assert {"collected", "premium_paid"} <= set(statuses), statuses
        # January's non-collectors were moved to PT Pos later: the history says so
        assert con.execute("SELECT count(*) FROM history.payment_history WHERE rerouted").fetchall()[0][0] > 0
        total = con.execute("SELECT count(*) FROM history.payment_history").fetchall()[0][0]
    finally:
        con.close()
    parts = sorted(p.name for p in (data / "published" / "history" / "payment_history").iterdir())
    assert parts == [f"period={m}" for m in MONTHS]
    cat = open_catalogue(str(data / "published"))
    try:
        assert cat.execute("SELECT count(*) FROM history.payment_history").fetchall()[0][0] == total
    finally:
        cat.close()
