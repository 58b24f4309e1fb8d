"""Notifications to subscribers after a snapshot is published: what changed between the previous registry
snapshot and this one, matched against every active subscription, POSTed to `<notify_uri>/registry/notify`.

Events (per person; a Group subscription hears of its families' members):
    DEATH                a death registered since the previous snapshot
    MOVED                another village than in the previous snapshot
    ELIGIBILITY_CHANGED  eligibility for PKH, Sembako, PBI-JK or PIP changed
    RECIPIENT_CHANGED    recipient status of one of them changed
    NEW                  a person new to DTSEN
    ID_MERGED, ID_SPLIT  the DTSEN id was merged into another, or split from one (id events of the snapshot)
A subscription's criteria (a query as in search) are evaluated on the new and on the previous snapshot, so "leaving
village X" reaches a subscriber of village X. Region and field scope are the subscriber's, as in search.

Each (subscription, snapshot) is delivered at most once: a re-run skips delivered ones and retries the others; a
delivery that fails CALLBACK_TRIES times in a run is recorded as a dead letter (retried by the next run).
"""

from __future__ import annotations

import os
import time
import uuid

import duckdb
import httpx
import orjson

from dtsen.api import exchange, registry
from dtsen.api.config import ApiConfig
from dtsen.api.store import Store, now_iso
from dtsen.api.tokens import TokenIssuer

VERSION = "1.0.0"
TRIES = 3

PROG = exchange.PROGRAMMES
EVENTS_SQL = f"""
WITH c AS (SELECT * FROM read_parquet(?)), p AS (SELECT * FROM read_parquet(?)),
j AS (SELECT c.*, p.person_id AS prev_id, p.is_deceased AS prev_deceased, p.village_code AS prev_village,
             {", ".join(f"p.{x}_eligible AS prev_{x}_eligible, p.{x}_recipient AS prev_{x}_recipient" for x in PROG)}
      FROM c LEFT JOIN p USING (person_id))
SELECT person_id, family_id, 'DEATH' AS event, strftime(death_date, '%Y-%m-%d') AS detail FROM j
    WHERE prev_id IS NOT NULL AND is_deceased AND NOT coalesce(prev_deceased, false)
UNION ALL
SELECT person_id, family_id, 'MOVED', prev_village || ' -> ' || village_code FROM j
    WHERE prev_id IS NOT NULL AND village_code IS DISTINCT FROM prev_village
UNION ALL
SELECT person_id, family_id, 'ELIGIBILITY_CHANGED', concat_ws(', ', {
    ", ".join(
        f"CASE WHEN {x}_eligible IS DISTINCT FROM prev_{x}_eligible THEN '{x.upper()} ' || "
        f"CASE WHEN {x}_eligible THEN 'eligible' ELSE 'not eligible' END END"
        for x in PROG
    )
}) FROM j
    WHERE prev_id IS NOT NULL AND ({" OR ".join(f"{x}_eligible IS DISTINCT FROM prev_{x}_eligible" for x in PROG)})
UNION ALL
SELECT person_id, family_id, 'RECIPIENT_CHANGED', concat_ws(', ', {
    ", ".join(
        f"CASE WHEN {x}_recipient IS DISTINCT FROM prev_{x}_recipient THEN '{x.upper()} ' || "
        f"CASE WHEN {x}_recipient THEN 'recipient' ELSE 'not recipient' END END"
        for x in PROG
    )
}) FROM j
    WHERE prev_id IS NOT NULL AND ({" OR ".join(f"{x}_recipient IS DISTINCT FROM prev_{x}_recipient" for x in PROG)})
UNION ALL
SELECT person_id, family_id, 'NEW', NULL FROM j WHERE prev_id IS NULL
"""
ID_EVENTS_SQL = """
SELECT e.id AS person_id, coalesce(c.family_id, p.family_id) AS family_id,
       CASE e.event WHEN 'merged_into' THEN 'ID_MERGED' ELSE 'ID_SPLIT' END AS event, e.related_id AS detail
FROM read_parquet(?) e
LEFT JOIN read_parquet(?) c ON c.person_id = e.id
LEFT JOIN read_parquet(?) p ON p.person_id = e.id
WHERE e.kind = 'person' AND e.event IN ('merged_into', 'split_from')
"""


def previous_snapshot(folder: str, month: str) -> str | None:
    earlier = [s for s in exchange.snapshots(folder) if s < month]
    return earlier[-1] if earlier else None


def events(folder: str, month: str) -> tuple[str | None, list[dict]]:
    """The previous snapshot and the events between it and `month` (none without a previous one)."""
    prev = previous_snapshot(folder, month)
    if prev is None:
        return None, []
    cur_p, prev_p = (os.path.join(folder, s, "person.parquet") for s in (month, prev))
    con = duckdb.connect()
    rows = con.execute(
        f"SELECT * FROM ({EVENTS_SQL}) UNION ALL SELECT * FROM ({ID_EVENTS_SQL}) ORDER BY event, person_id",
        [cur_p, prev_p, os.path.join(folder, month, "id_event.parquet"), cur_p, prev_p],
    ).fetchall()
    con.close()
    return prev, [dict(zip(("person_id", "family_id", "event", "detail"), r)) for r in rows]


def _matching(snap: registry.Snapshot, where: str, params: list, entity: str) -> set[str]:
    col, table = ("family_id", "family") if entity == registry.GROUP else ("person_id", "person")
    return {r[0] for r in snap.cursor().execute(f"SELECT {col} FROM {table} WHERE {where}", params).fetchall()}


def notify_all(config: ApiConfig, store: Store, folder: str, month: str, http: httpx.Client | None = None) -> dict:
    """Compute the events of `month` and deliver them to every active subscription; returns a summary."""
    prev, evs = events(folder, month)
    summary = {
        "snapshot": month,
        "previous": prev,
        "events": {},
        "subscriptions": 0,
        "delivered": 0,
        "already_delivered": 0,
        "dead_letters": 0,
        "nothing_to_send": 0,
    }
    for e in evs:
        summary["events"][e["event"]] = summary["events"].get(e["event"], 0) + 1
    subs = store.subscriptions()
    summary["subscriptions"] = len(subs)
    if prev is None or not subs:
        return summary
    cur_snap, prev_snap = registry.Snapshot(folder, month), registry.Snapshot(folder, prev)
    issuer = TokenIssuer(config)
    own_http = http is None
    http = http or httpx.Client(timeout=10.0)
    try:
        for sub in subs:
            client = config.clients.get(sub["client_id"])
            if client is None or "registry.subscribe" not in client.scopes:
                continue
            if store.delivered(sub["code"], month):
                summary["already_delivered"] += 1
                continue
            crit = dict(sub["criteria"])
            entity = registry.MEMBER
            try:
                if crit.get("query_type"):
                    c = registry.parse(crit, client, config.max_page_size)
                    where, params, entity = c.where, c.params, c.entity
                else:
                    params = []
                    where = registry.region_scope(client, params)
                    entity = (
                        registry.GROUP if str(crit.get("response_entity", "")).lower() == "group" else registry.MEMBER
                    )
            except (registry.QueryError, registry.Forbidden) as e:  # rights changed since subscribing
                store.record_notification(
                    sub["code"],
                    month,
                    store.attempts(sub["code"], month) + 1,
                    0,
                    None,
                    "dead_letter",
                    f"criteria no longer valid: {e}",
                )
                summary["dead_letters"] += 1
                continue
            wanted = _matching(cur_snap, where, params, entity) | _matching(prev_snap, where, params, entity)
            key = "family_id" if entity == registry.GROUP else "person_id"
            hits = [e for e in evs if e["event"] in sub["event_types"] and e[key] in wanted]
            if not hits:
                summary["nothing_to_send"] += 1
                continue
            envelope = _envelope(config, client, sub, month, prev, hits, entity, cur_snap, prev_snap)
            outcome = _deliver(http, issuer, client, store, sub, month, envelope, len(hits))
            summary["delivered" if outcome == "delivered" else "dead_letters"] += 1
    finally:
        cur_snap.close()
        prev_snap.close()
        if own_http:
            http.close()
    return summary


def _records(snap_cur, snap_prev, ids: list[str], entity: str, client) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for snap in (snap_cur, snap_prev):
        missing = [i for i in ids if i not in out]
        if not missing:
            break
        col = "family_id" if entity == registry.GROUP else "person_id"
        crit = registry.Criteria(entity, f"{col} IN (SELECT unnest(?))", [missing], col, len(missing), 1)
        found = snap.search(crit, client)
        for ident, rec in zip(found.family_ids if entity == registry.GROUP else found.person_ids, found.records):
            out[ident] = rec
    return out


def _envelope(config, client, sub, month, prev, hits, entity, cur_snap, prev_snap) -> dict:
    key = "family_id" if entity == registry.GROUP else "person_id"
    records = _records(cur_snap, prev_snap, sorted({h[key] for h in hits}), entity, client)
    by_type: dict[str, list[dict]] = {}
    for h in hits:
        by_type.setdefault(h["event"], []).append(h)
    notify = []
    for event, items in sorted(by_type.items()):
        ids = sorted({h[key] for h in items})
        notify.append(
            {
                "reference_id": sub["reference_id"] or sub["code"],
                "timestamp": now_iso(),
                "data": {
                    "version": VERSION,
                    "reg_type": "ns:dtsen:RegistryType:DTSEN",
                    "reg_event_type": event,
                    "subscription_code": sub["code"],
                    "snapshot": month,
                    "previous_snapshot": prev,
                    "changes": [{"id": h[key], "person_id": h["person_id"], "detail": h["detail"]} for h in items],
                    "reg_records": [records[i] for i in ids if i in records],
                },
            }
        )
    header = {
        "version": VERSION,
        "message_id": uuid.uuid4().hex,
        "message_ts": now_iso(),
        "action": "notify",
        "sender_id": config.issuer,
        "receiver_id": client.client_id,
        "total_count": len(notify),
        "is_msg_encrypted": False,
    }
    return {
        "signature": "",
        "header": header,
        "message": {"transaction_id": f"{month}:{sub['code']}", "notify_event": notify},
    }


def _deliver(http, issuer, client, store, sub, month, envelope, n_events) -> str:
    token, _ = issuer.issue(client, audience=client.client_id)
    url = sub["notify_uri"].rstrip("/") + "/registry/notify"
    attempt = store.attempts(sub["code"], month)
    error, status = None, None
    for i in range(TRIES):
        attempt += 1
        try:
            r = http.post(
                url,
                content=orjson.dumps(envelope, default=str),
                headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            )
            status = r.status_code
            if r.status_code < 300:
                store.record_notification(sub["code"], month, attempt, n_events, status, "delivered")
                return "delivered"
            error = f"HTTP {r.status_code}"
        except httpx.HTTPError as e:
            error = f"{type(e).__name__}: {e}"
        last = i == TRIES - 1
        store.record_notification(
            sub["code"], month, attempt, n_events, status, "dead_letter" if last else "retry", error
        )
        if not last:
            time.sleep(0.2 * (i + 1))
    return "dead_letter"
