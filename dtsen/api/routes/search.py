"""Search: synchronous (`/registry/sync/search`) and asynchronous (`/registry/search`: ACK now, the answer POSTed to
the caller's callback)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request

from dtsen.api.routes.common import ack, registry_call
from dtsen.api.service import ApiError, JSONResponse, Service, pseudonymise_query
from dtsen.api.store import now_iso

router = APIRouter()


def sync_search(service: Service, client, header, message, audit):
    service.check_batch(header, message["search_request"])
    answer, persons, families, queries = service.run_searches(message, client)
    audit.update(query=queries, persons=persons, families=families, records=len(persons) + len(families))
    answer["correlation_id"] = uuid.uuid4().hex
    n_ok = sum(r["status"] == "succ" for r in answer["search_response"])
    return JSONResponse(
        {
            "signature": "",
            "header": service.header_out(
                "on-search", "succ" if n_ok else "rjct", client.client_id, len(answer["search_response"]), n_ok
            ),
            "message": answer,
        }
    )


@router.post("/registry/sync/search")
async def registry_sync_search(request: Request):
    return await registry_call(
        request,
        action="search",
        scope="registry.search",
        schema="SearchRequest",
        sync=True,
        answer_action="on-search",
        work=sync_search,
    )


def async_search(service: Service, client, header, message, audit):
    service.check_batch(header, message["search_request"])
    base = service.callback_base(header, client)
    refs = [i["reference_id"] for i in message["search_request"]]
    correlation_id = service.store.new_txn(message["transaction_id"], client.client_id, "search", refs)
    audit["query"] = [
        pseudonymise_query(i.get("search_criteria") or {}, service.pseudonym_key) for i in message["search_request"]
    ]

    def answer():
        try:
            result, persons, families, queries = service.run_searches(message, client)
            status = "succ"
        except ApiError as e:
            result = {
                "transaction_id": message["transaction_id"],
                "search_response": [
                    {
                        "reference_id": r,
                        "timestamp": now_iso(),
                        "status": "rjct",
                        "status_reason_message": f"{e.code}: {e.message}"[:999],
                    }
                    for r in refs
                ],
            }
            persons, families, queries, status = [], [], audit["query"], "rjct"
        result["correlation_id"] = correlation_id
        service.store.finish_txn(correlation_id, status, result)
        n_ok = sum(r["status"] == "succ" for r in result["search_response"])
        envelope = {
            "signature": "",
            "header": service.header_out("on-search", status, client.client_id, len(refs), n_ok),
            "message": result,
        }
        code = service.post_callback(base + "/registry/on-search", client, envelope)
        service.store.audit(
            client_id=client.client_id,
            action="on-search",
            endpoint=base + "/registry/on-search",
            http_status=code or 0,
            outcome="delivered" if code and code < 300 else "undelivered",
            transaction_id=message["transaction_id"],
            query=queries,
            person_ids=persons,
            family_ids=families,
            records=len(persons) + len(families),
        )

    service.pool.submit(answer)
    return ack("ACK", correlation_id)


@router.post("/registry/search")
async def registry_search(request: Request):
    return await registry_call(
        request,
        action="search",
        scope="registry.search",
        schema="SearchRequest",
        sync=False,
        answer_action="on-search",
        work=async_search,
    )
