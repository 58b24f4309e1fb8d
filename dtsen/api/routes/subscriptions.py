"""Subscriptions: subscribe to registry events (criteria in the search query language), unsubscribe; the
notifications themselves are sent after each month by the pipeline (`dtsen.api.notify`)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request

from dtsen.api.routes.common import registry_call
from dtsen.api.service import EVENT_TYPES, JSONResponse, Service, pseudonymise_query
from dtsen.api.store import now_iso

router = APIRouter()


def subscribe(service: Service, client, header, message, audit):
    items = message["subscribe_request"]
    service.check_batch(header, items)
    base = service.callback_base(header, client)
    out = []
    for item in items:
        crit = item["subscribe_criteria"]
        events = crit["reg_event_type"] if isinstance(crit["reg_event_type"], list) else [crit["reg_event_type"]]
        resp = {"reference_id": item["reference_id"], "timestamp": now_iso()}
        bad = [e for e in events if e not in EVENT_TYPES]
        if bad:
            resp.update(
                status="rjct",
                status_reason_code="rjct.search_criteria.invalid",
                status_reason_message=f"unknown reg_event_type {bad}; known: {list(EVENT_TYPES)}",
            )
            out.append(resp)
            continue
        # the criteria must be a query this client may run (checked now, run at each snapshot)
        if crit.get("query_type") and service.parse_or_reject(crit, client, resp) is None:
            out.append(resp)
            continue
        code = service.store.subscribe(client.client_id, item["reference_id"], events, crit, base)
        resp.update(status="succ", subscriptions=[{"code": code, "status": "subscribe", "timestamp": now_iso()}])
        out.append(resp)
    audit["query"] = [pseudonymise_query(i["subscribe_criteria"], service.pseudonym_key) for i in items]
    n_ok = sum(r["status"] == "succ" for r in out)
    return JSONResponse(
        {
            "signature": "",
            "header": service.header_out("on-subscribe", "succ" if n_ok else "rjct", client.client_id, len(out), n_ok),
            "message": {
                "transaction_id": message["transaction_id"],
                "correlation_id": uuid.uuid4().hex,
                "subscribe_response": out,
            },
        }
    )


@router.post("/registry/subscribe")
async def registry_subscribe(request: Request):
    return await registry_call(
        request,
        action="subscribe",
        scope="registry.subscribe",
        schema="subscribe",
        sync=True,
        answer_action="on-subscribe",
        work=subscribe,
    )


def unsubscribe(service: Service, client, header, message, audit):
    codes = message["subscription_codes"]
    status = [
        {"code": c, "status": "unsubscribe" if service.store.unsubscribe(client.client_id, c) else "not_found"}
        for c in codes
    ]
    n_ok = sum(s["status"] == "unsubscribe" for s in status)
    return JSONResponse(
        {
            "signature": "",
            "header": service.header_out(
                "on-unsubscribe", "succ" if n_ok else "rjct", client.client_id, len(codes), n_ok
            ),
            "message": {
                "transaction_id": message["transaction_id"],
                "correlation_id": uuid.uuid4().hex,
                "timestamp": now_iso(),
                "status": "succ" if n_ok == len(codes) else "rjct",
                "subscription_status": status,
            },
        }
    )


@router.post("/registry/unsubscribe")
async def registry_unsubscribe(request: Request):
    return await registry_call(
        request,
        action="unsubscribe",
        scope="registry.subscribe",
        schema="unsubscribe",
        sync=True,
        answer_action="on-unsubscribe",
        work=unsubscribe,
    )
