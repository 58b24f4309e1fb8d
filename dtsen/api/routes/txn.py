"""Transaction status, synchronous and asynchronous: a client's earlier transaction by its transaction id,
correlation id or reference ids."""

from __future__ import annotations

import json
import uuid

from fastapi import APIRouter, Request

from dtsen.api.routes.common import ack, registry_call
from dtsen.api.service import JSONResponse, Service
from dtsen.api.store import now_iso

router = APIRouter()


def txn_answer(service: Service, client, message) -> dict:
    req = message["txnstatus_request"]
    rows = service.store.find_txn(client.client_id, req["attribute_type"], req["attribute_value"])
    if not rows:
        status = {
            "transaction_id": message["transaction_id"],
            "correlation_id": "",
            "search_response": [
                {
                    "reference_id": req["reference_id"],
                    "timestamp": now_iso(),
                    "status": "rjct",
                    "status_reason_code": "rjct.reference_id.invalid",
                    "status_reason_message": "no transaction of this client matches",
                }
            ],
        }
        correlation_id = ""
    else:
        row = rows[-1]
        correlation_id = row["correlation_id"]
        status = row["response"] or {
            "transaction_id": row["transaction_id"],
            "correlation_id": correlation_id,
            "search_response": [
                {"reference_id": r, "timestamp": row["updated"], "status": "pdng"}
                for r in json.loads(row["reference_ids"])
            ],
        }
    return {
        "transaction_id": message["transaction_id"],
        "correlation_id": correlation_id,
        "txnstatus_response": {"txn_type": req["txn_type"], "txn_status": status},
    }


def sync_txn(service: Service, client, header, message, audit):
    answer = txn_answer(service, client, message)
    return JSONResponse(
        {
            "signature": "",
            "header": service.header_out("txn-on-status", "succ", client.client_id, 1, 1),
            "message": answer,
        }
    )


@router.post("/registry/sync/txn/status")
async def registry_sync_txn_status(request: Request):
    return await registry_call(
        request,
        action="txn-status",
        scope="registry.txn-status",
        schema="TxnStatusRequest",
        sync=True,
        answer_action="txn-on-status",
        work=sync_txn,
    )


def async_txn(service: Service, client, header, message, audit):
    base = service.callback_base(header, client)
    correlation_id = uuid.uuid4().hex

    def answer():
        envelope = {
            "signature": "",
            "header": service.header_out("txn-on-status", "succ", client.client_id, 1, 1),
            "message": txn_answer(service, client, message),
        }
        service.post_callback(base + "/registry/txn/on-status", client, envelope)

    service.pool.submit(answer)
    return ack("ACK", correlation_id)


@router.post("/registry/txn/status")
async def registry_txn_status(request: Request):
    return await registry_call(
        request,
        action="txn-status",
        scope="registry.txn-status",
        schema="TxnStatusRequest",
        sync=False,
        answer_action="txn-on-status",
        work=async_txn,
    )
