"""Subscriptions end to end: subscribe over the API, a snapshot is published by the pipeline's assets, the
subscriber is notified on loopback; re-runs do not notify twice; a subscriber that keeps failing is a dead letter.
And the server picks up a new snapshot without a restart, while a writer holds the warehouse."""

from __future__ import annotations

import os
import shutil
import time

import dagster as dg
import duckdb
import requests

from assets.exchange import registry_snapshot, subscriber_notifications
from dtsen.api import notify
from dtsen.api.server import EVENT_TYPES
from orchestration.lib.resources import DataResource
from tests.api.conftest import Api, Server, envelope, expression, idtype


def _subscribe(api, callbacks, criteria: dict, events, client="dev"):
    msg = {
        "transaction_id": "T-sub",
        "subscribe_request": [
            {
                "reference_id": "SUB-REF-1",
                "timestamp": "2025-03-01T00:00:00+07:00",
                "subscribe_criteria": {"reg_event_type": events, **criteria},
            }
        ],
    }
    r = api.post(
        "/registry/subscribe",
        envelope("subscribe", msg, sender=client, sender_uri=callbacks.url),
        client=client,
        validate=False,
    )
    assert r.status_code == 200, r.text
    item = r.json()["message"]["subscribe_response"][0]
    assert item["status"] == "succ", item
    return item["subscriptions"][0]["code"]


def _materialize_march(warehouse, monkeypatch, state, api_config):
    monkeypatch.setenv("DTSEN_API_STATE", str(state))
    monkeypatch.setenv("DTSEN_API_CONFIG", str(api_config))
    result = dg.materialize(
        [registry_snapshot, subscriber_notifications],
        partition_key="2025-03",
        resources={"data": DataResource(root=str(warehouse.parent))},
        instance=dg.DagsterInstance.ephemeral(),
        selection=[registry_snapshot.key, subscriber_notifications.key],
    )
    assert result.success
    return result.asset_materializations_for_node("exchange__subscriber_notifications")[0].metadata


def test_subscribe_publish_notify_end_to_end(api, server, callbacks, exchange_demo, monkeypatch, api_config):
    folder = exchange_demo.parent / "exchange"
    prev, expected = notify.events(str(folder), "2025-03")
    assert prev == "2025-02" and expected
    kinds = {e["event"] for e in expected}
    assert {"RECIPIENT_CHANGED", "ELIGIBILITY_CHANGED"} & kinds, kinds
    # a subscriber interested in everything that happens to the people of the province with the most events
    con = duckdb.connect()
    province = con.execute(
        "SELECT province_code FROM read_parquet(?) WHERE list_contains(?, person_id) "
        "GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1",
        [str(folder / "2025-03" / "person.parquet"), [e["person_id"] for e in expected]],
    ).fetchone()[0]
    code = _subscribe(api, callbacks, expression("Member", {"province_code": province}), list(EVENT_TYPES))
    bad = _subscribe(api, callbacks, expression("Member", {"province_code": province}), ["DEATH", "MOVED"])
    unsub = api.post(
        "/registry/unsubscribe",
        envelope(
            "unsubscribe",
            {"transaction_id": "T-unsub", "timestamp": "2025-03-01T00:00:00Z", "subscription_codes": [bad, "SUB-none"]},
            total=2,
        ),
        validate=False,
    )
    assert [s["status"] for s in unsub.json()["message"]["subscription_status"]] == ["unsubscribe", "not_found"]

    meta = _materialize_march(exchange_demo, monkeypatch, server.state, api_config)
    assert meta["delivered"].value == 1 and meta["dead_letters"].value == 0
    got = callbacks.wait("/registry/notify")
    assert len(got) == 1  # the unsubscribed one heard nothing
    body = got[0]["body"]
    assert body["header"]["action"] == "notify" and body["header"]["receiver_id"] == "dev"
    events = body["message"]["notify_event"]
    assert {e["data"]["subscription_code"] for e in events} == {code}
    sent = {(e["data"]["reg_event_type"], c["person_id"]) for e in events for c in e["data"]["changes"]}
    in_province = set(
        con.execute(
            "SELECT person_id FROM read_parquet(?) WHERE province_code = ? UNION "
            "SELECT person_id FROM read_parquet(?) WHERE province_code = ?",
            [
                str(folder / "2025-03" / "person.parquet"),
                province,
                str(folder / "2025-02" / "person.parquet"),
                province,
            ],
        ).fetchall()
    )
    want = {(e["event"], e["person_id"]) for e in expected if (e["person_id"],) in in_province}
    assert sent == want and sent
    for e in events:
        ids = {c["id"] for c in e["data"]["changes"]}
        assert {r["member_identifier"][0]["identifier_value"] for r in e["data"]["reg_records"]} == ids

    # the same month again: nothing is sent twice
    meta = _materialize_march(exchange_demo, monkeypatch, server.state, api_config)
    assert meta["already_delivered"].value == 1 and meta["delivered"].value == 0
    assert len(callbacks.received) == 1
    api.post(
        "/registry/unsubscribe",
        envelope(
            "unsubscribe",
            {"transaction_id": "T-unsub-2", "timestamp": "2025-03-01T00:00:00Z", "subscription_codes": [code]},
            total=1,
        ),
        validate=False,
    )


def test_a_subscriber_that_keeps_failing_becomes_a_dead_letter(
    api, server, callbacks, exchange_demo, monkeypatch, api_config
):
    callbacks.status = 503
    code = _subscribe(api, callbacks, {}, ["RECIPIENT_CHANGED", "ELIGIBILITY_CHANGED"])
    meta = _materialize_march(exchange_demo, monkeypatch, server.state, api_config)
    assert meta["dead_letters"].value == 1
    assert len([r for r in callbacks.received if r["path"] == "/registry/notify"]) == notify.TRIES
    assert code in str(meta["dead_letter_table"].value)
    callbacks.status = 200  # the subscriber is back: the next run delivers it
    meta = _materialize_march(exchange_demo, monkeypatch, server.state, api_config)
    assert meta["delivered"].value == 1 and meta["dead_letters"].value == 0
    api.post(
        "/registry/unsubscribe",
        envelope(
            "unsubscribe",
            {"transaction_id": "T-unsub-3", "timestamp": "2025-03-01T00:00:00Z", "subscription_codes": [code]},
            total=1,
        ),
        validate=False,
    )


def test_a_new_snapshot_is_served_without_a_restart_while_a_writer_holds_the_warehouse(exchange_demo, tmp_path):
    folder = tmp_path / "exchange"
    folder.mkdir()
    src = exchange_demo.parent / "exchange"
    for month in ("2025-01", "2025-02"):
        shutil.copytree(src / month, folder / month)
    warehouse = tmp_path / "warehouse.duckdb"
    writer = duckdb.connect(str(warehouse))  # a pipeline run holding the warehouse for writing
    writer.execute("CREATE TABLE busy AS SELECT 1 AS x")
    server = Server(warehouse, tmp_path / "state" / "state.sqlite")
    try:
        api = Api(server)
        ask = expression("Group", {"desil": {"$ge": 1}})

        def served_month():
            r = api.search(ask)
            assert r.status_code == 200
            return r.json()["message"]["search_response"][0]["data"]["snapshot"]

        assert served_month() == "2025-02"
        staging = folder / ".2025-03-incoming"
        shutil.copytree(src / "2025-03", staging)
        os.replace(staging, folder / "2025-03")  # what exchange.export does: a rename, never half a month
        for _ in range(50):  # the server looks for a new month at most once a second
            if served_month() == "2025-03":
                break
            time.sleep(0.1)
        assert served_month() == "2025-03"
        assert requests.get(server.url + "/health", timeout=5).json()["snapshot"] == "2025-03"
        assert api.search(idtype("DTSEN_FAMILY_ID", "none", "Group")).status_code == 200
    finally:
        server.stop()
        writer.close()
