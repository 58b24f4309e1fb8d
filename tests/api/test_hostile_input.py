"""Hostile input against a real `dtsen serve`: a JSON document nested a thousand deep, lone surrogates, NIKs hidden
in every part of a query, a client over its rate, a message from another time. Each is answered with the standard's
error (never a 500), audited with its client, and no raw identifier reaches the API's store."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

import requests

from dtsen.api.store import Store
from tests.api.conftest import envelope, expression, idtype, search_message

NIK = "3201014506900004"  # 16 digits: a NIK's shape (not necessarily anyone's)


def _audit(server) -> list[dict]:
    con = sqlite3.connect(server.state)
    con.row_factory = sqlite3.Row
    rows = [dict(r) for r in con.execute("SELECT * FROM audit ORDER BY seq")]
    con.close()
    return rows


def _raw(api, body: bytes, path: str = "/registry/sync/search", client: str = "dev") -> requests.Response:
    return api.post(path, body, client=client, validate=False, headers={"Content-Type": "application/json"})


def test_deep_json_and_lone_surrogates_are_a_400_and_audited(api, server):
    before = len(_audit(server))
    deep = b'{"header":' + b"[" * 1000 + b"]" * 1000 + b"}"
    r = _raw(api, deep)
    assert r.status_code == 400 and r.json()["header"]["status"] == "rjct"
    assert "nests deeper than 32" in r.json()["header"]["status_reason_message"]
    surrogate = (
        b'{"signature":"","header":{"version":"1.0.0","message_id":"\\ud800","message_ts":"2025-01-01T00:00:00Z",'
        b'"action":"search","sender_id":"dev","total_count":1},"message":{}}'
    )
    for path in ("/registry/sync/search", "/registry/search"):
        r = _raw(api, surrogate, path)
        assert r.status_code == 400, r.text
        body = r.json()
        status = body["header"]["status"] if "header" in body else body["message"]["ack_status"]
        assert status in ("rjct", "ERR")
    invalid_utf8 = b'{"signature":"","header":{"message_id":"\xff\xfe"},"message":{}}'
    assert _raw(api, invalid_utf8).status_code == 400
    rows = [r for r in _audit(server)[before:] if r["action"] == "search"]  # (a first token request is audited too)
    assert len(rows) == 4 and {r["http_status"] for r in rows} == {400} and {r["client_id"] for r in rows} == {"dev"}
    assert requests.get(server.url + "/health", timeout=5).json()["status"] == "ok"  # and it keeps serving


def test_no_raw_identifier_reaches_the_store_whatever_the_query(api, server, callbacks, exchange_demo):
    """NIKs in an identifier query, in an expression's and a predicate's values, in an unknown attribute, in the
    message and transaction ids and in an asynchronous search whose answer (with the person's NIK and name) is kept
    for txn/status: the whole store, every table, holds none of them (the audit keeps their pseudonyms; the kept
    answer is encrypted)."""
    import duckdb

    nik = duckdb.execute(
        "SELECT nik FROM read_parquet(?) WHERE nik IS NOT NULL ORDER BY person_id LIMIT 1",
        [str(exchange_demo.parent / "exchange" / "2025-03" / "person.parquet")],
    ).fetchall()[0][0]
    queries = [
        idtype("NIK", nik),
        idtype("NIK", NIK),
        idtype("KK", NIK),
        expression("Member", {"village_code": NIK}),
        expression("Member", {"nik": {"$eq": NIK}}),
        {"query_type": "predicate", "query": [{"seq_num": 1, "expression1": {"attribute_name": "age",
                                                                               "operator": "eq",
                                                                               "attribute_value": NIK}}]},
    ]  # fmt: skip
    for q in queries:
        api.search(q, validate=False)
    api.post(
        "/registry/sync/search",
        envelope("search", search_message(idtype("NIK", NIK), transaction_id=f"T-{NIK}"), message_id=f"M{NIK}"),
        validate=False,
    )
    # an asynchronous search: its answer (the person's NIK and name) is kept for txn/status
    ack = api.post(
        "/registry/search",
        envelope("search", search_message(idtype("NIK", nik)), sender_uri=callbacks.url),
        validate=False,
    )
    assert ack.status_code == 202
    answered = callbacks.wait("/registry/on-search")
    assert nik in str(answered[-1]["body"])  # the answer itself carries it, to its client only
    stored = server.state.read_bytes() + b"".join(
        p.read_bytes() for p in server.state.parent.glob(server.state.name + "-*") if p.is_file()
    )
    assert NIK.encode() not in stored and nik.encode() not in stored
    con = sqlite3.connect(server.state)
    try:
        dump = "\n".join(con.iterdump())
        answers = [r[0] for r in con.execute("SELECT response FROM txn WHERE response IS NOT NULL")]
    finally:
        con.close()
    assert NIK not in dump and nik not in dump
    assert answers and all(a.startswith("fernet:") for a in answers)
    assert "pseudonym:" in dump  # what was asked is still answerable to `dtsen audit --nik`


def test_a_store_from_before_is_encrypted_when_opened(tmp_path):
    """A store written before answers were encrypted: its answers are encrypted in place when it is opened, and the
    plain text is gone from the file (deleted content overwritten, the journal checkpointed)."""
    path = tmp_path / "state.sqlite"
    store = Store(str(path), key=b"k" * 32)
    store.con.execute(
        "INSERT INTO txn VALUES ('c1', 't1', 'dev', 'search', 'succ', '[]', ?, 'x', 'x')",
        ('{"name": "SITI AMINAH", "nik": "' + NIK + '"}',),
    )
    store.close()
    again = Store(str(path), key=b"k" * 32)
    try:
        assert again.con.execute("SELECT response FROM txn").fetchone()[0].startswith("fernet:")
        assert again.find_txn("dev", "correlation_id", "c1")[0]["response"]["nik"] == NIK
    finally:
        again.close()
    files = [path, *path.parent.glob(path.name + "-*")]
    assert not any(NIK.encode() in p.read_bytes() for p in files if p.is_file())


def test_the_rate_limit_is_shared_said_and_audited_with_its_client(api, server, tmp_path):
    """The limit is counted in the store (every worker and a restart see the same minute), a 429 says when to come
    back (Retry-After) and is audited with its client."""
    codes = [api.search(idtype("NIK", "1"), client="limited").status_code for _ in range(4)]
    assert 429 in codes
    r = api.search(idtype("NIK", "1"), client="limited")
    assert r.status_code == 429 and 1 <= int(r.headers["Retry-After"]) <= 60
    limited = [a for a in _audit(server) if a["http_status"] == 429]
    assert limited and {a["client_id"] for a in limited} == {"limited"}
    # a second store on the same file (another worker, or the server restarted) sees the same minute
    other = Store(str(server.state))
    try:
        assert other.take_request("limited", 3) is not None
    finally:
        other.close()


def test_a_message_from_another_time_is_refused(api):
    for ts in (datetime.now(UTC) - timedelta(minutes=10), datetime.now(UTC) + timedelta(minutes=10)):
        r = api.post(
            "/registry/sync/search",
            envelope("search", search_message(idtype("NIK", "1")), message_ts=ts.isoformat()),
            validate=False,
        )
        assert r.status_code == 400 and r.json()["header"]["status_reason_code"] == "rjct.message_ts.invalid"
