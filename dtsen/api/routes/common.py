"""What every registry endpoint shares: the transport error, the ACK, and the common path of a call (size and type,
token, envelope, replay, the endpoint's work, and every outcome audited)."""

from __future__ import annotations

import logging

from fastapi import Request

from dtsen.api.service import ApiError, JSONResponse, Service
from dtsen.api.store import now_iso

log = logging.getLogger("dtsen.api")


def transport_error(e: ApiError) -> JSONResponse:
    return JSONResponse(
        {"errors": [{"code": e.code, "message": e.message}]}, status_code=e.http_status, headers=e.headers
    )


def ack(status: str, correlation_id: str, error: ApiError | None = None, http_status: int = 202) -> JSONResponse:
    body = {"message": {"ack_status": status, "timestamp": now_iso(), "correlation_id": correlation_id}}
    if error is not None:
        body["message"]["error"] = {"code": error.code, "message": error.message[:999]}
    return JSONResponse(body, status_code=http_status, headers=error.headers if error is not None else None)


async def registry_call(
    request: Request, *, action: str, scope: str, schema: str, sync: bool, answer_action: str, work
):
    """The common path of every registry endpoint: size and type, token, envelope, replay, then `work`,
    with every outcome audited."""
    client = None
    header: dict = {}
    audit = {"query": None, "persons": [], "families": [], "records": 0, "transaction_id": None}
    endpoint = request.url.path
    service: Service = request.app.state.service
    try:
        client = service.authenticate(request, scope)
        service.check_rate(client)  # after the token: a 429 is audited with its client
        doc = await service.read_envelope(request)
        header, message = service.check_header(doc, action, client, schema)
        audit["transaction_id"] = message.get("transaction_id")
        service.check_replay(header)
        response = work(service, client, header, message, audit)
        service.store.audit(
            client_id=client.client_id,
            action=action,
            endpoint=endpoint,
            http_status=response.status_code,
            outcome="succ",
            message_id=header.get("message_id"),
            transaction_id=audit["transaction_id"],
            query=audit["query"],
            person_ids=audit["persons"],
            family_ids=audit["families"],
            records=audit["records"],
        )
        return response
    except ApiError as e:
        service.store.audit(
            client_id=client.client_id if client else None,
            action=action,
            endpoint=endpoint,
            http_status=e.http_status,
            outcome=e.code,
            message_id=header.get("message_id"),
            transaction_id=audit["transaction_id"],
            query=audit["query"],
            detail=e.message,
        )
        if e.http_status in (401, 403):  # the statuses the spec answers with its HttpErrorResponse
            return transport_error(e)
        if sync:
            return JSONResponse(
                {
                    "header": service.header_out(
                        answer_action,
                        "rjct",
                        client and client.client_id,
                        reason=e.reason,
                        reason_message=f"{e.code}: {e.message}",
                    )
                },
                status_code=e.http_status,
                headers=e.headers,
            )
        return ack("ERR", "", e, http_status=e.http_status)
    except Exception as e:
        # the log names the error, never the values it may carry (a client's query may hold a NIK)
        log.error("internal error on %s: %s: %s", endpoint, type(e).__name__, service.store.scrub(str(e))[:300])
        service.store.audit(
            client_id=client.client_id if client else None,
            action=action,
            endpoint=endpoint,
            http_status=500,
            outcome="err.service.unavailable",
            message_id=header.get("message_id"),
            transaction_id=audit["transaction_id"],
            detail=f"{type(e).__name__}: {e}"[:900],
        )
        return JSONResponse(
            {"errors": [{"code": "err.service.unavailable", "message": "internal error"}]}, status_code=500
        )
