"""The DTSEN data-exchange service: the DCI Social Registry API v1.0.0 over the latest registry snapshot.

    POST /oauth2/client/token      client_credentials -> bearer JWT (RS256)
    GET  /.well-known/jwks.json    the public key that verifies our tokens (and our callbacks)
    POST /registry/sync/search     search, answered in the response
    POST /registry/search          search, ACK now, answer POSTed to <sender_uri>/registry/on-search
    POST /registry/sync/txn/status, /registry/txn/status   status (and answer) of an asynchronous search
    POST /registry/subscribe, /registry/unsubscribe        subscriptions (notified by the pipeline after each
                                                           published snapshot: dtsen.api.notify)

Every registry endpoint needs a bearer token; every request, refused ones included, is appended to the audit log.
Errors: 401/403 as the spec's HttpErrorResponse `{"errors": [{"code": "err.request.unauthorized", ...}]}`; every
other refusal (400 bad envelope, 409 replay, 413 too large, 415 not JSON, 429 too many, 503 nothing to serve) on
an asynchronous endpoint as the ACK Response with `ack_status: ERR` and the spec's error code, on a synchronous
endpoint as the answer envelope with `header.status: rjct`, the spec's header reason code where one fits and the
error code in `status_reason_message` (what the spec's `default` responses allow).
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import httpx
import orjson
from fastapi import Request
from fastapi.responses import JSONResponse as _StarletteJSON
from jsonschema import Draft4Validator

from dtsen import privacy
from dtsen.api import registry, spec
from dtsen.api.config import ApiConfig, Client
from dtsen.api.store import Store, now_iso
from dtsen.api.tokens import TokenError, TokenIssuer

log = logging.getLogger("dtsen.api")
VERSION = "1.0.0"
MAX_BATCH = 100
MAX_JSON_DEPTH = 32  # the deepest legitimate message (a predicate of nested expressions) is about 20
CALLBACK_TIMEOUT = 10.0
CALLBACK_TRIES = 3

SUBSCRIBE_SCHEMA = {
    "type": "object",
    "required": ["transaction_id", "subscribe_request"],
    "properties": {
        "transaction_id": {"type": "string", "maxLength": 99},
        "subscribe_request": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["reference_id", "timestamp", "subscribe_criteria"],
                "properties": {
                    "reference_id": {"type": "string"},
                    "timestamp": {"type": "string"},
                    "subscribe_criteria": {
                        "type": "object",
                        "required": ["reg_event_type"],
                        "properties": {
                            "reg_event_type": {
                                "oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]
                            },
                            "query_type": {"type": "string", "enum": ["idtype-value", "expression", "predicate"]},
                            "response_entity": {"type": "string", "enum": ["Group", "Member"]},
                        },
                    },
                },
            },
        },
    },
}
UNSUBSCRIBE_SCHEMA = {
    "type": "object",
    "required": ["transaction_id", "timestamp", "subscription_codes"],
    "properties": {
        "transaction_id": {"type": "string", "maxLength": 99},
        "timestamp": {"type": "string"},
        "subscription_codes": {"type": "array", "minItems": 1, "maxItems": MAX_BATCH, "items": {"type": "string"}},
    },
}
EVENT_TYPES = ("DEATH", "MOVED", "ELIGIBILITY_CHANGED", "RECIPIENT_CHANGED", "ID_MERGED", "ID_SPLIT", "NEW")


def _validator(component: str) -> Draft4Validator:
    doc = spec.load(spec.SOCIAL)
    return Draft4Validator({**doc, "$ref": f"#/components/schemas/{component}"})


class JSONResponse(_StarletteJSON):
    """JSON answers serialised by orjson (a page of 1,000 families with their members is megabytes)."""

    def render(self, content) -> bytes:
        return orjson.dumps(content, default=str)


class ApiError(Exception):
    def __init__(
        self, http_status: int, code: str, message: str, reason: str | None = None, retry_after: float | None = None
    ):
        super().__init__(message)
        self.http_status, self.code, self.message, self.reason = http_status, code, message, reason
        self.retry_after = retry_after

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(max(math.ceil(self.retry_after), 1))} if self.retry_after is not None else {}


def json_depth(doc) -> int:
    """How deep a parsed JSON document nests (counted without recursion: a hostile document is not a stack)."""
    deepest, todo = 0, [(doc, 1)]
    while todo:
        node, depth = todo.pop()
        if isinstance(node, (dict, list)):
            deepest = max(deepest, depth)
            if depth > MAX_JSON_DEPTH:
                return depth
            todo.extend((v, depth + 1) for v in (node.values() if isinstance(node, dict) else node))
    return deepest


def _parse_ts(value) -> datetime | None:
    if not isinstance(value, str) or "T" not in value:
        return None
    try:
        ts = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return ts if ts.tzinfo is not None else None


def pseudonymise_query(criteria: dict, key: bytes | None = None) -> dict:
    """The search criteria as the audit log keeps them: NIK and KK values replaced by their pseudonyms."""
    out = json.loads(json.dumps(criteria, default=str))
    q = out.get("query")
    if isinstance(q, dict) and str(q.get("type", "")).upper() in ("NIK", "KK") and q.get("value") is not None:
        q["value"] = "pseudonym:" + privacy.pseudonymise(str(q["value"]), key)
    return out


class Service:
    """Everything the endpoints share: configuration, tokens, the served snapshot, the state store."""

    def __init__(self, config: ApiConfig, exchange_dir: str, state_path: str, http: httpx.Client | None = None):
        self.config = config
        self.tokens = TokenIssuer(config)
        self.registry = registry.Registry(exchange_dir)
        os.makedirs(os.path.dirname(os.path.abspath(state_path)), mode=0o700, exist_ok=True)
        self.pseudonym_key = privacy.pseudonym_key()
        self.store = Store(state_path, self.pseudonym_key)
        self._callback_tokens: dict[str, tuple[str, float]] = {}
        self.pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="dci-async")
        self.http = http or httpx.Client(timeout=CALLBACK_TIMEOUT)
        self.validators = {
            "SearchRequest": _validator("SearchRequest"),
            "TxnStatusRequest": _validator("TxnStatusRequest"),
            "subscribe": Draft4Validator(SUBSCRIBE_SCHEMA),
            "unsubscribe": Draft4Validator(UNSUBSCRIBE_SCHEMA),
        }

    def close(self):
        self.pool.shutdown(wait=False, cancel_futures=True)  # answers not yet computed are lost with the process;
        self.store.close()  # their transactions stay `pdng` for txn/status

    # ---- envelope
    def header_out(
        self,
        action: str,
        status: str,
        client_id: str | None,
        total: int = 0,
        completed: int = 0,
        reason: str | None = None,
        reason_message: str | None = None,
    ) -> dict:
        h = {
            "version": VERSION,
            "message_id": uuid.uuid4().hex,
            "message_ts": now_iso(),
            "action": action,
            "status": status,
            "total_count": total,
            "completed_count": completed,
            "sender_id": self.config.issuer,
            "receiver_id": client_id or "",
            "is_msg_encrypted": False,
        }
        if reason:
            h["status_reason_code"] = reason
        if reason_message:
            h["status_reason_message"] = reason_message[:999]
        return h

    def authenticate(self, request: Request, scope: str) -> Client:
        auth = request.headers.get("authorization", "")
        if not auth.lower().startswith("bearer ") or not auth[7:].strip():
            raise ApiError(401, "err.request.unauthorized", "a bearer token is required")
        try:
            claims = self.tokens.verify(auth[7:].strip())
        except TokenError as e:
            raise ApiError(401, "err.request.unauthorized", e.message) from None
        client = self.config.clients.get(claims.get("sub"))
        if client is None:
            raise ApiError(401, "err.request.unauthorized", "the token's client is not configured")
        if scope not in str(claims.get("scope", "")).split() or scope not in client.scopes:
            raise ApiError(403, "err.request.forbidden", f"the token does not grant {scope}")
        return client

    def check_rate(self, client: Client) -> None:
        """The client's rate, counted in the store (so every worker and a restart see the same minute)."""
        if client.rate_per_minute <= 0:
            return
        wait = self.store.take_request(client.client_id, client.rate_per_minute)
        if wait is not None:
            raise ApiError(
                429,
                "err.request.too_many_requests",
                f"more than {client.rate_per_minute} requests per minute",
                retry_after=wait,
            )

    async def read_envelope(self, request: Request) -> dict:
        ctype = request.headers.get("content-type", "")
        if ctype.split(";")[0].strip().lower() != "application/json":
            raise ApiError(415, "err.request.bad", f"content type must be application/json, got {ctype!r}")
        limit = self.config.max_body_bytes
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > limit):
            raise ApiError(413, "err.request.bad", f"body larger than {limit} bytes")
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                raise ApiError(413, "err.request.bad", f"body larger than {limit} bytes")
        try:  # strict: UTF-8 only, no lone surrogate (orjson refuses both)
            doc = orjson.loads(bytes(body))
        except orjson.JSONDecodeError as e:
            raise ApiError(400, "err.request.bad", f"malformed JSON (or not UTF-8): {e}"[:300]) from None
        if json_depth(doc) > MAX_JSON_DEPTH:
            raise ApiError(400, "err.request.bad", f"the JSON nests deeper than {MAX_JSON_DEPTH} levels")
        if not isinstance(doc, dict):
            raise ApiError(400, "err.request.bad", "the body must be an object {signature, header, message}")
        return doc

    def check_header(self, doc: dict, action: str, client: Client, message_schema: str) -> tuple[dict, dict]:
        header, message = doc.get("header"), doc.get("message")
        if not isinstance(header, dict):
            raise ApiError(400, "err.request.bad", "header is required")
        for name in ("message_id", "message_ts", "action", "sender_id", "total_count"):
            if name not in header:
                raise ApiError(400, "err.request.bad", f"header.{name} is required")
        if not isinstance(header["message_id"], str) or not header["message_id"] or len(header["message_id"]) > 99:
            raise ApiError(400, "err.request.bad", "header.message_id must be a non-empty string")
        if header.get("version", VERSION) != VERSION:
            raise ApiError(
                400, "err.version.not_supported", f"only version {VERSION} is served", "rjct.version.invalid"
            )
        ts = _parse_ts(header["message_ts"])
        if ts is None:
            raise ApiError(
                400,
                "err.request.bad",
                "header.message_ts must be an ISO 8601 date-time with time zone",
                "rjct.message_ts.invalid",
            )
        window = self.config.message_ts_window_seconds
        if abs((datetime.now(UTC) - ts).total_seconds()) > window:
            raise ApiError(
                400,
                "err.request.bad",
                f"header.message_ts is more than {window} seconds from the registry's clock (a replayed or delayed "
                f"message, or a client clock that drifts)",
                "rjct.message_ts.invalid",
            )
        if header["action"] != action:
            raise ApiError(
                400, "err.request.bad", f"header.action must be {action!r} on this endpoint", "rjct.action.invalid"
            )
        if header["sender_id"] != client.client_id:
            raise ApiError(400, "err.sender_id.invalid", "header.sender_id is not the token's client")
        if header.get("is_msg_encrypted"):
            raise ApiError(400, "err.encryption.invalid", "encrypted messages are not supported by this registry")
        if not isinstance(header["total_count"], int) or isinstance(header["total_count"], bool):
            raise ApiError(400, "err.request.bad", "header.total_count must be an integer", "rjct.total_count.invalid")
        if not isinstance(message, dict):
            raise ApiError(400, "err.request.bad", "message is required")
        errors = sorted(self.validators[message_schema].iter_errors(message), key=lambda e: list(e.path))
        if errors:
            e = errors[0]
            where = "message" + "".join(f"[{p!r}]" if isinstance(p, int) else f".{p}" for p in e.path)
            raise ApiError(400, "err.request.bad", f"{where}: {e.message}"[:900])
        return header, message

    def check_batch(self, header: dict, items: list) -> None:
        if header["total_count"] != len(items):
            raise ApiError(
                400,
                "err.request.bad",
                f"header.total_count is {header['total_count']} but the message holds {len(items)} requests",
                "rjct.total_count.invalid",
            )
        if len(items) > MAX_BATCH:
            raise ApiError(
                400,
                "err.request.bad",
                f"at most {MAX_BATCH} requests in one message",
                "rjct.total_count.limit_exceeded",
            )

    def check_replay(self, header: dict) -> None:
        if not self.store.first_time(header["sender_id"], header["message_id"]):
            raise ApiError(
                409, "err.request.bad", "message_id already received from this sender", "rjct.message_id.duplicate"
            )

    def callback_base(self, header: dict, client: Client) -> str:
        uri = header.get("sender_uri")
        if not isinstance(uri, str) or not uri.startswith(("http://", "https://")) or not client.callback_allowed(uri):
            raise ApiError(
                400,
                "err.sender_uri.invalid",
                "header.sender_uri is missing or not a callback URL registered for this client",
            )
        return uri.rstrip("/")

    # ---- search
    def parse_or_reject(self, criteria: dict, client: Client, out: dict) -> registry.Criteria | None:
        """The criteria checked against the client's rights: 403 for anything it may not ask; criteria the registry
        cannot run mark `out` rejected with the spec's reason code, and None is returned."""
        try:
            return registry.parse(criteria, client, self.config.max_page_size)
        except registry.Forbidden as e:
            raise ApiError(403, "err.request.forbidden", str(e)) from None
        except registry.QueryError as e:
            out.update(status="rjct", status_reason_code=e.code, status_reason_message=str(e)[:999])
            return None

    def run_searches(self, message: dict, client: Client) -> tuple[dict, list[str], list[str], list]:
        snap = self.registry.current()
        if snap is None:
            raise ApiError(503, "err.service.unavailable", "no registry snapshot has been published yet")
        results, persons, families, queries = [], [], [], []
        for item in message["search_request"]:
            criteria = item.get("search_criteria") or {}
            queries.append(pseudonymise_query(criteria, self.pseudonym_key))
            out = {"reference_id": item["reference_id"], "timestamp": now_iso(), "locale": "ind"}
            c = self.parse_or_reject(criteria, client, out)
            if c is None:
                results.append(out)
                continue
            found = snap.search(c, client)
            persons += found.person_ids
            families += found.family_ids
            out.update(
                status="succ",
                data={
                    "version": VERSION,
                    "reg_type": "ns:dtsen:RegistryType:DTSEN",
                    "reg_record_type": c.entity,
                    "snapshot": snap.snapshot,
                    "reg_records": found.records,
                },
                pagination={"page_size": c.page_size, "page_number": c.page_number, "total_count": found.total},
            )
            results.append(out)
        return {"transaction_id": message["transaction_id"], "search_response": results}, persons, families, queries

    def callback_token(self, client: Client) -> str:
        """A token for our callbacks to `client` (audience: the client), reused for half its lifetime."""
        cached = self._callback_tokens.get(client.client_id)
        if cached and cached[1] > time.monotonic():
            return cached[0]
        token, ttl = self.tokens.issue(client, audience=client.client_id)
        self._callback_tokens[client.client_id] = (token, time.monotonic() + ttl / 2)
        return token

    def post_callback(self, url: str, client: Client, envelope: dict) -> int | None:
        token = self.callback_token(client)
        last = None
        for attempt in range(CALLBACK_TRIES):
            try:
                r = self.http.post(
                    url,
                    content=orjson.dumps(envelope, default=str),
                    headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
                )
                last = r.status_code
                if r.status_code < 500:
                    return r.status_code
            except httpx.HTTPError as e:
                log.warning("callback %s failed: %s", url, e)
            time.sleep(0.2 * (attempt + 1))
        return last
