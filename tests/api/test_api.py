"""The data-exchange API (DCI Social Registry API v1.0.0) over loopback: a real `dtsen serve` on the demo's
snapshots; every request and response validated against the vendored specification with openapi-core."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import sqlite3
import subprocess
import sys
import time

import duckdb
import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa

from dtsen.api import spec
from tests.api.conftest import envelope, expression, idtype, search_message
from tests.conftest import REPO


def _exchange(warehouse, table: str = "person", month: str = "2025-03") -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    path = warehouse.parent / "exchange" / month / f"{table}.parquet"
    con.execute(f"CREATE VIEW {table} AS SELECT * FROM read_parquet('{path}')")
    return con


def _records(r: requests.Response, i: int = 0) -> list[dict]:
    item = r.json()["message"]["search_response"][i]
    assert item["status"] == "succ", item
    return item["data"]["reg_records"]


def _audit(server) -> list[dict]:
    con = sqlite3.connect(server.state)
    con.row_factory = sqlite3.Row
    rows = [dict(r) for r in con.execute("SELECT * FROM audit ORDER BY seq")]
    con.close()
    return rows


# ---------------------------------------------------------------- the specification files
VENDORED_REVISION = {
    "social_api_v1.0.0.yaml": "691046e7613ba6b6af2ca220a358fc8cb20b3825b6d4255ea430ac18304c6728",
    "authz_core_api_v1.0.0.yaml": "13fd442a97f291db8c66da160d0acf76b60115595af18e54b9a1a1e0779f2d06",
    "jwks_core_api_v1.0.0.yaml": "55887bb6f14afa462c5d5acbda5908b4048b998655bdc121c8a97b785d779dd9",
}


def test_the_vendored_spec_is_the_published_one_with_its_licence():
    for name in (spec.SOCIAL, spec.AUTHZ, spec.JWKS, "LICENSE.md", "README.md"):
        assert (spec.SPEC_DIR / name).exists(), name
    assert "Apache License" in (spec.SPEC_DIR / "LICENSE.md").read_text()
    # byte-identical to the revision of the standard this server implements (repairs happen at load time only):
    # the social file is the first published v1.0.0 revision; the standard has published a later one since, which
    # the DCI layer's issue moves to
    for name, digest in VENDORED_REVISION.items():
        assert hashlib.sha256((spec.SPEC_DIR / name).read_bytes()).hexdigest() == digest, name
    shared = REPO.parent / "shared" / "specs" / "dci"
    if shared.exists():  # the files whose revision did not change since are the published ones
        for name in (spec.AUTHZ, spec.JWKS):
            assert (spec.SPEC_DIR / name).read_bytes() == (shared / name).read_bytes()
    doc = spec.load(spec.SOCIAL)
    assert doc["components"]["schemas"]["Error"]["properties"]["code"]["enum"][:3] == [
        "err.request.bad",
        "err.request.unauthorized",
        "err.request.forbidden",
    ]


# ---------------------------------------------------------------- token API


def test_token_api_and_jwks_follow_their_specs(api):
    r = requests.post(
        api.url + "/oauth2/client/token",
        timeout=10,
        headers={"timestamp": "Tue, 06 Mar 2020 GMT"},
        data={"grant_type": "client_credentials", "client_id": "dev", "client_secret": "dev-secret"},
    )
    assert r.status_code == 200
    api.validate(r, spec.AUTHZ)
    body = r.json()
    assert body["token_type"].lower() == "bearer" and int(body["expires_in"]) > 0
    keys = requests.get(api.url + "/.well-known/jwks.json", timeout=10)
    api.validate(keys, spec.JWKS)
    jwk = keys.json()["keys"][0]
    assert jwt.get_unverified_header(body["access_token"])["kid"] == jwk["kid"]
    claims = jwt.decode(body["access_token"], jwt.PyJWK(jwk).key, algorithms=["RS256"], audience="dtsen-registry")
    assert claims["sub"] == "dev" and "registry.search" in claims["scope"].split()

    for data, status, error in (
        ({"grant_type": "client_credentials", "client_id": "dev", "client_secret": "wrong"}, 401, "invalid_client"),
        ({"grant_type": "client_credentials", "client_id": "nobody", "client_secret": "x"}, 401, "invalid_client"),
        ({"grant_type": "password", "client_id": "dev", "client_secret": "dev-secret"}, 400, "unsupported_grant_type"),
        (
            {
                "grant_type": "client_credentials",
                "client_id": "bank-demo",
                "client_secret": "bank-secret",
                "scope": "registry.subscribe",
            },
            400,
            "invalid_scope",
        ),
    ):
        bad = requests.post(api.url + "/oauth2/client/token", data=data, timeout=10)
        assert bad.status_code == status and bad.json()["error"] == error, (data, bad.text)


def test_every_auth_failure_is_refused_with_401_and_audited(api, server, issuer):
    client = issuer.config.clients["dev"]
    expired, _ = issuer.issue(client, ttl=-60)
    other_audience, _ = issuer.issue(client, audience="someone-else")
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    claims = {
        "iss": "dtsen",
        "sub": "dev",
        "aud": "dtsen-registry",
        "iat": int(time.time()),
        "exp": int(time.time()) + 600,
        "scope": "registry.search",
    }
    forged = jwt.encode(claims, other_key, algorithm="RS256", headers={"kid": issuer.jwk["kid"]})
    unsigned = jwt.encode(claims, None, algorithm="none")
    # HS256 "signed" with the public key as the HMAC secret (the classic algorithm-confusion attack)
    seg = [base64.urlsafe_b64encode(json.dumps(x).encode()).rstrip(b"=") for x in ({"alg": "HS256"}, claims)]
    pem = issuer.public_key.public_bytes(
        encoding=__import__("cryptography.hazmat.primitives.serialization", fromlist=["x"]).Encoding.PEM,
        format=__import__(
            "cryptography.hazmat.primitives.serialization", fromlist=["x"]
        ).PublicFormat.SubjectPublicKeyInfo,
    )
    sig = base64.urlsafe_b64encode(hmac.new(pem, b".".join(seg), hashlib.sha256).digest()).rstrip(b"=")
    confused = b".".join([*seg, sig]).decode()
    ghost, _ = issuer.issue(type(client)(**{**client.__dict__, "client_id": "ghost"}))
    body = envelope("search", search_message(idtype("NIK", "1101010101010001")))
    before = len(_audit(server))
    for name, token in (
        ("none", None),
        ("garbage", "not-a-jwt"),
        ("expired", expired),
        ("wrong audience", other_audience),
        ("forged", forged),
        ("alg none", unsigned),
        ("HS256 with the public key", confused),
        ("unknown client", ghost),
    ):
        r = api.post("/registry/sync/search", body, client=None, token=token)
        assert r.status_code == 401, (name, r.text)
        assert r.json()["errors"][0]["code"] == "err.request.unauthorized", name
    rows = _audit(server)[before:]
    assert len(rows) == 8 and {r["outcome"] for r in rows} == {"err.request.unauthorized"}
    assert all(r["records"] == 0 for r in rows)


# ---------------------------------------------------------------- search


def test_sync_search_by_each_identifier_type(api, exchange_demo):
    con = _exchange(exchange_demo)
    nik, person_id, family_id, kk, name = con.execute(
        "SELECT nik, person_id, family_id, no_kk, name FROM person WHERE nik IS NOT NULL AND no_kk IS NOT NULL "
        "ORDER BY person_id LIMIT 1"
    ).fetchone()
    members = con.execute("SELECT count(*) FROM person WHERE family_id = ?", [family_id]).fetchone()[0]
    r = api.search(
        idtype("NIK", nik),
        idtype("DTSEN_PERSON_ID", person_id),
        idtype("KK", kk, "Group"),
        idtype("DTSEN_FAMILY_ID", family_id, "Group"),
        idtype("NIK", "9999999999999999"),
    )
    assert r.status_code == 200
    header = r.json()["header"]
    assert header["action"] == "on-search" and header["status"] == "succ" and header["total_count"] == 5
    by_nik, by_id, by_kk, by_family, nothing = (_records(r, i) for i in range(5))
    assert by_nik == by_id and len(by_nik) == 1
    person = by_nik[0]
    assert person["@type"] == "Member"
    assert {"identifier_type": "NIK", "identifier_value": nik, "@type": "Identifier"} in person["member_identifier"]
    assert person["demographic_info"]["name"]["given_name"] == name
    assert by_kk == by_family and len(by_kk) == 1
    family = by_kk[0]
    assert family["@type"] == "Group" and family["group_size"] is not None
    assert len(family["member_list"]) == members
    assert family["group_head_info"]["@type"] == "Member"
    assert nothing == []
    page = r.json()["message"]["search_response"][4]["pagination"]
    assert page["total_count"] == 0


def test_expressions_and_predicates_answer_what_duckdb_answers(api, exchange_demo):
    con = _exchange(exchange_demo, "family")
    village, n = con.execute(
        "SELECT village_code, count(*) FROM family GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 1"
    ).fetchone()
    low = con.execute("SELECT count(*) FROM family WHERE village_code = ? AND desil <= 4", [village]).fetchone()[0]
    r = api.search(
        expression("Group", {"village_code": village}, pagination={"page_size": 1000}),
        expression(
            "Group",
            {"$and": [{"village_code": {"$eq": village}}, {"desil": {"$le": 4}}]},
            pagination={"page_size": 1000},
        ),
    )
    everyone, poor = _records(r, 0), _records(r, 1)
    assert len(everyone) == n and len(poor) == low
    assert all(g["poverty_score"] <= 4 for g in poor)
    assert r.json()["message"]["search_response"][1]["pagination"]["total_count"] == low

    pcon = _exchange(exchange_demo)
    old_recipients = pcon.execute(
        "SELECT person_id FROM person WHERE age >= 60 AND (pkh_recipient OR sembako_recipient) ORDER BY person_id"
    ).fetchall()
    predicate = {
        "query_type": "predicate",
        "response_entity": "Member",
        "pagination": {"page_size": 1000},
        "query": [
            {"seq_num": 1, "expression1": {"attribute_name": "age", "operator": "ge", "attribute_value": 60}},
            {
                "seq_num": 2,
                "expression1": {"attribute_name": "pkh_recipient", "operator": "eq", "attribute_value": True},
                "condition": "or",
                "expression2": {"attribute_name": "sembako_recipient", "operator": "eq", "attribute_value": True},
            },
        ],
    }
    got = [m["member_identifier"][0]["identifier_value"] for m in _records(api.search(predicate))]
    assert got == [p[0] for p in old_recipients] and got


def test_pagination_and_sort(api, exchange_demo):
    con = _exchange(exchange_demo)
    province, total = con.execute(
        "SELECT province_code, count(*) FROM person GROUP BY 1 ORDER BY 2 DESC LIMIT 1"
    ).fetchone()
    assert total > 10
    ask = {"$and": [{"province_code": province}]}
    pages = [
        _records(
            api.search(
                expression(
                    "Member",
                    ask,
                    pagination={"page_size": 4, "page_number": p},
                    sort=[{"attribute_name": "age", "sort_order": "desc"}],
                )
            )
        )
        for p in (1, 2)
    ]
    ids = [m["member_identifier"][0]["identifier_value"] for page in pages for m in page]
    ages = [next(a["value"] for a in m["additional_attributes"] if a["name"] == "age") for page in pages for m in page]
    assert len(ids) == len(set(ids)) == 8 and ages == sorted(ages, reverse=True)
    over = api.search(expression("Member", ask, pagination={"page_size": 5000}))
    item = over.json()["message"]["search_response"][0]
    assert item["status"] == "rjct" and item["status_reason_code"] == "rjct.pagination.invalid"


def test_async_search_acks_then_posts_the_answer_and_txn_status_tells_it(api, callbacks, issuer, exchange_demo):
    nik = _exchange(exchange_demo).execute("SELECT nik FROM person WHERE nik IS NOT NULL LIMIT 1").fetchone()[0]
    body = envelope("search", search_message(idtype("NIK", nik), transaction_id="T-async"), sender_uri=callbacks.url)
    r = api.post("/registry/search", body)
    assert r.status_code == 202 and r.json()["message"]["ack_status"] == "ACK"
    correlation_id = r.json()["message"]["correlation_id"]
    got = callbacks.wait("/registry/on-search")[0]
    answer = got["body"]
    # the callback is itself a valid on-search request of the spec, signed by a token our JWKS verifies
    request = requests.Request(
        "POST", api.url + "/registry/on-search", json=answer, headers={"Authorization": got["headers"]["Authorization"]}
    ).prepare()
    from openapi_core.contrib.requests import RequestsOpenAPIRequest

    api.specs[spec.SOCIAL].validate_request(RequestsOpenAPIRequest(request))
    token = got["headers"]["Authorization"].split()[1]
    assert jwt.decode(token, issuer.public_key, algorithms=["RS256"], audience="dev")["iss"] == "dtsen"
    assert answer["message"]["correlation_id"] == correlation_id
    assert answer["message"]["search_response"][0]["data"]["reg_records"][0]["demographic_info"]["identifier"]

    status = api.post(
        "/registry/sync/txn/status",
        envelope(
            "txn-status",
            {
                "transaction_id": "T-status",
                "txnstatus_request": {
                    "reference_id": "S-1",
                    "txn_type": "search",
                    "attribute_type": "transaction_id",
                    "attribute_value": "T-async",
                },
            },
            total=1,
        ),
    )
    assert status.status_code == 200
    st = status.json()["message"]["txnstatus_response"]
    assert st["txn_status"]["correlation_id"] == correlation_id
    assert st["txn_status"]["search_response"] == answer["message"]["search_response"]

    # asynchronous status: ACK, then the same answer at /registry/txn/on-status
    r = api.post(
        "/registry/txn/status",
        envelope(
            "txn-status",
            {
                "transaction_id": "T-status-2",
                "txnstatus_request": {
                    "reference_id": "S-2",
                    "txn_type": "search",
                    "attribute_type": "correlation_id",
                    "attribute_value": correlation_id,
                },
            },
            total=1,
            sender_uri=callbacks.url,
        ),
    )
    assert r.status_code == 202
    on_status = callbacks.wait("/registry/txn/on-status")[0]["body"]
    assert on_status["header"]["action"] == "txn-on-status"
    assert on_status["message"]["txnstatus_response"]["txn_status"]["correlation_id"] == correlation_id
    # another client never sees this transaction
    other = api.post(
        "/registry/sync/txn/status",
        envelope(
            "txn-status",
            {
                "transaction_id": "T-x",
                "txnstatus_request": {
                    "reference_id": "S-3",
                    "txn_type": "search",
                    "attribute_type": "transaction_id",
                    "attribute_value": "T-async",
                },
            },
            sender="dinsos",
            total=1,
        ),
        client="dinsos",
    )
    item = other.json()["message"]["txnstatus_response"]["txn_status"]["search_response"][0]
    assert item["status"] == "rjct" and item["status_reason_code"] == "rjct.reference_id.invalid"


def test_async_search_refuses_an_unregistered_callback(api):
    for uri in (
        "http://evil.example.org/",
        "http://127.0.0.1.evil.example/",
        "http://user@127.0.0.1:8080/",
        "file:///etc/passwd",
        None,
    ):
        extra = {} if uri is None else {"sender_uri": uri}
        r = api.post(
            "/registry/search",
            envelope("search", search_message(idtype("NIK", "1")), **extra),
            validate=uri is not None and uri.startswith("http"),
        )
        assert r.status_code == 400, uri
        assert r.json()["message"]["ack_status"] == "ERR"
        assert r.json()["message"]["error"]["code"] == "err.sender_uri.invalid"


# ---------------------------------------------------------------- scope


def test_a_regency_office_sees_its_regency_only_and_cannot_tell_what_exists_elsewhere(api, exchange_demo, regency):
    con = _exchange(exchange_demo)
    inside = con.execute(
        "SELECT nik FROM person WHERE regency_code = ? AND nik IS NOT NULL LIMIT 1", [regency]
    ).fetchone()
    outside = con.execute(
        "SELECT nik, regency_code FROM person WHERE regency_code <> ? AND nik IS NOT NULL LIMIT 1", [regency]
    ).fetchone()
    assert inside and outside
    r = api.search(
        idtype("NIK", inside[0]), idtype("NIK", outside[0]), idtype("NIK", "9999999999999999"), client="dinsos"
    )
    assert len(_records(r, 0)) == 1
    # a person of another regency and a NIK nobody has get the very same answer
    strip = [
        {k: v for k, v in item.items() if k not in ("reference_id", "timestamp")}
        for item in r.json()["message"]["search_response"][1:]
    ]
    assert strip[0] == strip[1] and strip[0]["data"]["reg_records"] == []
    mine = api.search(expression("Group", {"regency_code": regency}, pagination={"page_size": 1000}), client="dinsos")
    n = con.execute("SELECT count(DISTINCT family_id) FROM person WHERE regency_code = ?", [regency]).fetchone()[0]
    assert len(_records(mine)) == n
    everything = api.search(
        expression("Member", {"desil": {"$ge": 1}}, pagination={"page_size": 1000}), client="dinsos"
    )
    assert {m["demographic_info"]["address"]["administrative_area_code"][:4] for m in _records(everything)} == {regency}
    theirs = api.search(expression("Group", {"regency_code": outside[1]}), client="dinsos")
    assert theirs.status_code == 403 and theirs.json()["errors"][0]["code"] == "err.request.forbidden"


def test_a_bank_sees_payee_fields_and_analytics_pseudonyms_only(api, exchange_demo):
    con = _exchange(exchange_demo)
    nik, pseudo = con.execute(
        "SELECT nik, nik_pseudo FROM person WHERE nik IS NOT NULL ORDER BY person_id LIMIT 1"
    ).fetchone()
    bank = _records(api.search(idtype("NIK", nik), client="bank-demo"))[0]
    text = json.dumps(bank)
    assert nik in text and bank["demographic_info"]["name"]["given_name"]
    assert "is_disabled" not in bank and '"desil"' not in text and "eligible" not in text
    for criteria in (
        expression("Member", {"desil": 1}),
        {
            **idtype("NIK", nik),
            "query_type": "predicate",
            "query": [{"expression1": {"attribute_name": "desil", "operator": "eq", "attribute_value": 1}}],
        },
    ):
        refused = api.search(criteria, client="bank-demo")
        assert refused.status_code == 403 and refused.json()["errors"][0]["code"] == "err.request.forbidden"

    rows = _records(
        api.search(expression("Member", {"desil": {"$le": 10}}, pagination={"page_size": 200}), client="analytics-demo")
    )
    assert rows
    text = json.dumps(rows)
    raw = {
        r[0]
        for r in con.execute(
            "SELECT nik FROM person WHERE nik IS NOT NULL UNION SELECT no_kk FROM person WHERE no_kk IS NOT NULL"
        ).fetchall()
    }
    assert not any(v in text for v in raw)
    assert all("name" not in m["demographic_info"] and "birth_date" not in m["demographic_info"] for m in rows)
    village = con.execute("SELECT village_code FROM person WHERE nik = ?", [nik]).fetchone()[0]
    same_village = _records(
        api.search(
            expression("Member", {"village_code": village}, pagination={"page_size": 1000}), client="analytics-demo"
        )
    )
    assert {"@type": "Identifier", "identifier_type": "NIK_PSEUDONYM", "identifier_value": pseudo} in [
        i for m in same_village for i in m["member_identifier"]
    ]
    refused = api.search(idtype("NIK", nik), client="analytics-demo")
    assert refused.status_code == 403


# ---------------------------------------------------------------- hostile input


def test_bad_input_gets_the_standards_error_and_the_server_keeps_serving(api, server):
    before = len(_audit(server))
    ok = envelope("search", search_message(idtype("NIK", "1")))
    cases = []

    def expect(r, status, code=None, reason=None):
        cases.append(r)
        assert r.status_code == status, r.text
        body = r.json()
        if code and "errors" in body:
            assert body["errors"][0]["code"] == code
        elif code or reason:
            h = body["header"]
            assert h["status"] == "rjct"
            if reason:
                assert h["status_reason_code"] == reason
            if code:
                assert h["status_reason_message"].startswith(code)

    expect(
        api.post("/registry/sync/search", b"{not json", headers={"content-type": "application/json"}, validate=False),
        400,
        "err.request.bad",
    )
    expect(
        api.post("/registry/sync/search", json.dumps(ok), headers={"content-type": "text/plain"}, validate=False),
        415,
        "err.request.bad",
    )
    big = envelope("search", search_message(idtype("NIK", "1" * 70_000)))
    expect(api.post("/registry/sync/search", big, validate=False), 413, "err.request.bad")
    unknown = envelope("search", search_message({"query_type": "sql", "query": "SELECT * FROM person"}))
    expect(api.post("/registry/sync/search", unknown, validate=False), 400, "err.request.bad")
    wrong_type = envelope("search", search_message(idtype("NIK", "1")), total="one")
    expect(
        api.post("/registry/sync/search", wrong_type, validate=False),
        400,
        "err.request.bad",
        "rjct.total_count.invalid",
    )
    expect(
        api.post("/registry/sync/search", envelope("search", search_message(idtype("NIK", "1")), total=3)),
        400,
        "err.request.bad",
        "rjct.total_count.invalid",
    )
    expect(
        api.post(
            "/registry/sync/search",
            envelope("search", search_message(idtype("NIK", "1")), message_ts="yesterday"),
            validate=False,
        ),
        400,
        None,
        "rjct.message_ts.invalid",
    )
    expect(
        api.post("/registry/sync/search", envelope("subscribe", search_message(idtype("NIK", "1"))), validate=False),
        400,
        None,
        "rjct.action.invalid",
    )
    expect(
        api.post("/registry/sync/search", envelope("search", search_message(idtype("NIK", "1")), sender="bank-demo")),
        400,
        "err.sender_id.invalid",
    )
    expect(
        api.post("/registry/sync/search", envelope("search", search_message(idtype("NIK", "1")), version="2.0.0")),
        400,
        "err.version.not_supported",
    )
    first = api.post("/registry/sync/search", ok)
    assert first.status_code == 200
    expect(api.post("/registry/sync/search", ok), 409, "err.request.bad", "rjct.message_id.duplicate")
    # values and names that try to reach the SQL: values are bound, names looked up, so nothing happens
    injected = api.search(idtype("NIK", "1' OR '1'='1"), expression("Member", {"village_code": "x' OR 1=1 --"}))
    assert [i["data"]["reg_records"] for i in injected.json()["message"]["search_response"]] == [[], []]
    name = api.search(
        expression("Member", {"age; DROP TABLE person; --": 1}), expression("Member", {"age": {"$regex": ".*"}})
    )
    assert [i["status_reason_code"] for i in name.json()["message"]["search_response"]] == [
        "rjct.search_criteria.invalid",
        "rjct.search_criteria.invalid",
    ]
    deep = {"$and": [{"age": 1}]}
    for _ in range(10):
        deep = {"$and": [deep]}
    too_deep = api.search(expression("Member", deep))
    assert too_deep.json()["message"]["search_response"][0]["status"] == "rjct"
    # async endpoints answer bad envelopes with ERR acks
    err = api.post("/registry/search", envelope("search", search_message(idtype("NIK", "1")), total=9))
    assert err.status_code == 400 and err.json()["message"]["ack_status"] == "ERR"
    assert requests.get(server.url + "/health", timeout=5).json()["status"] == "ok"
    assert api.search(idtype("NIK", "1")).status_code == 200
    refused = [r for r in _audit(server)[before:] if r["outcome"] != "succ"]
    assert len(refused) >= len(cases) + 1  # every refusal is in the audit log


def test_a_client_over_its_rate_is_told_to_slow_down(api):
    codes = [api.search(idtype("NIK", "1"), client="limited").status_code for _ in range(5)]
    assert codes[:2] == [200, 200] and codes[-1] == 429  # 3 a minute, the token request counts as none
    r = api.search(idtype("NIK", "1"), client="limited")
    assert r.json()["header"]["status_reason_message"].startswith("err.request.too_many_requests")
    assert api.search(idtype("NIK", "1")).status_code == 200  # other clients are not slowed


# ---------------------------------------------------------------- audit


def test_the_audit_log_answers_who_looked_at_a_person_and_cannot_be_altered(api, server, exchange_demo, regency):
    con = _exchange(exchange_demo)
    nik, person_id = con.execute(
        "SELECT nik, person_id FROM person WHERE regency_code <> ? AND nik IS NOT NULL ORDER BY person_id DESC LIMIT 1",
        [regency],
    ).fetchone()
    api.search(idtype("NIK", nik), client="dev")
    api.search(idtype("NIK", nik), client="bank-demo")
    api.search(idtype("NIK", nik), client="dinsos")  # out of its region: returns nothing, still logged
    rows = _audit(server)
    assert not any(nik in (r["query"] or "") for r in rows)  # the log keeps pseudonyms, never the NIK
    looked = [r for r in rows if person_id in (r["person_ids"] or "")]
    assert {r["client_id"] for r in looked} >= {"dev", "bank-demo"}
    assert "dinsos" not in {r["client_id"] for r in looked}

    env = {"DTSEN_API_STATE": str(server.state), "PATH": "/usr/bin:/bin", "DTSEN_DEMO": "1"}
    out = subprocess.run(
        [sys.executable, "-m", "orchestration.operate.cli", "audit", "--nik", nik, "--data", str(exchange_demo.parent)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    lines = [json.loads(x) for x in out.stdout.splitlines()[1:]]
    assert {"dev", "bank-demo", "dinsos"} <= {r["client_id"] for r in lines}
    assert person_id in out.stdout.splitlines()[0]

    db = sqlite3.connect(server.state)
    for sql in ("UPDATE audit SET client_id = 'nobody'", "DELETE FROM audit", "DELETE FROM audit_id"):
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            db.execute(sql)
    db.close()


def test_dtsen_api_token_prints_a_working_token(api, api_config, regency):
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "orchestration.operate.cli",
            "api",
            "token",
            "--client",
            "dinsos",
            "--config",
            str(api_config),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0 and "DEVELOPMENT key" in out.stderr
    token = out.stdout.strip()
    r = api.post(
        "/registry/sync/search",
        envelope("search", search_message(expression("Group", {"regency_code": regency})), sender="dinsos"),
        client=None,
        token=token,
    )
    assert r.status_code == 200
    missing = subprocess.run(
        [sys.executable, "-m", "orchestration.operate.cli", "api", "token", "--client", "nobody"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert missing.returncode == 2 and "no client 'nobody'" in missing.stderr
