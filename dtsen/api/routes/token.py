"""The token API (OAuth 2.0 client credentials, RFC 6749 4.4) and the JWKS that verifies the tokens."""

from __future__ import annotations

from urllib.parse import parse_qs

from fastapi import APIRouter, Request

from dtsen.api.service import JSONResponse, Service
from dtsen.api.tokens import TokenError

router = APIRouter()


@router.post("/oauth2/client/token")
async def token(request: Request):
    service: Service = request.app.state.service
    body = (await request.body())[:8192].decode("utf-8", "replace")
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    form = {k: v[0] for k, v in parse_qs(body).items()} if ctype == "application/x-www-form-urlencoded" else {}
    client_id = form.get("client_id")
    try:
        if ctype != "application/x-www-form-urlencoded":
            raise TokenError("invalid_request", "the body must be application/x-www-form-urlencoded")
        if form.get("grant_type") != "client_credentials":
            raise TokenError("unsupported_grant_type", "grant_type must be client_credentials")
        if not client_id or "client_secret" not in form:
            raise TokenError("invalid_request", "client_id and client_secret are required")
        client = service.tokens.authenticate(client_id, form["client_secret"])
        access, ttl = service.tokens.issue(client, form.get("scope"))
    except TokenError as e:
        status = 401 if e.code == "invalid_client" else 400
        service.store.audit(
            client_id=client_id,
            action="token",
            endpoint=request.url.path,
            http_status=status,
            outcome=e.code,
            detail=e.message,
        )
        return JSONResponse(
            {
                "error": e.code,
                "error_description": e.message,
                "errors": [
                    {
                        "code": "err.request.unauthorized" if status == 401 else "err.request.bad",
                        "message": e.message,
                    }
                ],
            },
            status_code=status,
            headers={"Cache-Control": "no-store"},
        )
    service.store.audit(
        client_id=client.client_id, action="token", endpoint=request.url.path, http_status=200, outcome="succ"
    )
    return JSONResponse(
        {"access_token": access, "token_type": "Bearer", "expires_in": str(ttl)},
        headers={"Cache-Control": "no-store"},
    )


@router.get("/.well-known/jwks.json")
def jwks(request: Request):
    return request.app.state.service.tokens.jwks()
