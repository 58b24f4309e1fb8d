"""A real `dtsen serve` on loopback over the demo's registry snapshots, a callback server that records what it is
sent, and the spec validators (openapi-core over the vendored DCI files)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import duckdb
import pytest
import requests
import yaml
from openapi_core import OpenAPI
from openapi_core.contrib.requests import RequestsOpenAPIRequest, RequestsOpenAPIResponse
from openapi_core.validation.request.validators import V30RequestBodyValidator, V30RequestParametersValidator

from dtsen.api import config, spec
from dtsen.api.tokens import TokenIssuer
from tests.conftest import REPO

SECRETS = {
    "dev": "dev-secret",
    "bank-demo": "bank-secret",
    "dinsos": "dinsos-secret",
    "analytics-demo": "analytics-secret",
    "limited": "dev-secret",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`dtsen serve` in a subprocess (a real uvicorn on loopback), stopped at the end."""

    def __init__(self, warehouse: Path, state: Path, env: dict | None = None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.state = state
        state.parent.mkdir(parents=True, exist_ok=True)
        penv = {k: v for k, v in os.environ.items() if not k.startswith("DTSEN_")}
        penv.update({"DTSEN_API_STATE": str(state), "DTSEN_DEMO": "1", **(env or {})})
        self.log = open(state.parent / f"serve-{self.port}.log", "w")  # noqa: SIM115 - open while the server runs
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "orchestration.operate.cli",
                "serve",
                "--port",
                str(self.port),
                "--data",
                str(warehouse.parent),
            ],
            cwd=REPO,
            env=penv,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"dtsen serve exited: {(state.parent / f'serve-{self.port}.log').read_text()}")
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("dtsen serve did not answer within 60 s")

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


class Callbacks:
    """An SPMIS on loopback: records every POST (path, headers, body); answers with `status` (default 200)."""

    def __init__(self):
        self.received: list[dict] = []
        self.status = 200
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("content-length", 0))
                body = self.rfile.read(min(n, 50_000_000))
                outer.received.append({"path": self.path, "headers": dict(self.headers), "body": json.loads(body)})
                self.send_response(outer.status)
                self.send_header("content-type", "application/json")
                self.end_headers()
                self.wfile.write(json.dumps({"message": {"ack_status": "ACK"}}).encode())

            def log_message(self, *a):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def wait(self, path: str, n: int = 1, timeout: float = 20.0) -> list[dict]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = [r for r in self.received if r["path"] == path]
            if len(got) >= n:
                return got
            time.sleep(0.05)
        raise AssertionError(f"no {n} POST(s) to {path} within {timeout} s; got {[r['path'] for r in self.received]}")

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def now() -> str:
    return datetime.now(UTC).isoformat()


def envelope(action: str, message: dict, sender: str = "dev", total: int | None = None, **header) -> dict:
    items = message.get("search_request") or message.get("subscribe_request") or [1]
    h = {
        "version": "1.0.0",
        "message_id": uuid.uuid4().hex,
        "message_ts": now(),
        "action": action,
        "sender_id": sender,
        "total_count": len(items) if total is None else total,
        **header,
    }
    return {"signature": "", "header": h, "message": message}


def search_message(*criteria: dict, transaction_id: str = "T-1") -> dict:
    return {
        "transaction_id": transaction_id,
        "search_request": [
            {"reference_id": f"R-{i}", "timestamp": now(), "search_criteria": c} for i, c in enumerate(criteria)
        ],
    }


def expression(collection: str, query: dict, **extra) -> dict:
    return {
        "query_type": "expression",
        "query": {
            "type": "ns:dtsen:QueryType:expression",
            "value": {"expression": {"collection": collection, "query": query}},
        },
        **extra,
    }


def idtype(kind: str, value, entity: str = "Member") -> dict:
    return {"query_type": "idtype-value", "query": {"type": kind, "value": value}, "response_entity": entity}


class Api:
    """A client of the running server that validates every request and response against the vendored spec."""

    def __init__(self, server: Server):
        self.server = server
        self.url = server.url
        self.specs = {}
        for name in (spec.SOCIAL, spec.AUTHZ, spec.JWKS):
            doc = spec.load(name)
            doc["servers"] = [{"url": server.url}]
            self.specs[name] = OpenAPI.from_dict(doc)
        self.tokens: dict[str, str] = {}

    def validate(self, resp: requests.Response, name: str = spec.SOCIAL, request: bool = True) -> None:
        api = self.specs[name]
        if request and name == spec.AUTHZ:
            # the token endpoint lists bearer security, a slip of the spec (a token cannot be needed to obtain
            # one; RFC 6749 4.4 client credentials): its body and parameters are validated, not that
            for cls in (V30RequestBodyValidator, V30RequestParametersValidator):
                cls(api.spec).validate(RequestsOpenAPIRequest(resp.request))
        elif request:
            api.validate_request(RequestsOpenAPIRequest(resp.request))
        api.validate_response(RequestsOpenAPIRequest(resp.request), RequestsOpenAPIResponse(resp))

    def token(self, client: str = "dev") -> str:
        if client not in self.tokens:
            r = requests.post(
                self.url + "/oauth2/client/token",
                timeout=10,
                data={"grant_type": "client_credentials", "client_id": client, "client_secret": SECRETS[client]},
                headers={"timestamp": "Tue, 06 Mar 2020 21:00:00 GMT"},
            )
            assert r.status_code == 200, r.text
            self.tokens[client] = r.json()["access_token"]
        return self.tokens[client]

    def post(
        self, path: str, body, client: str | None = "dev", token: str | None = None, validate: bool = True, **kw
    ) -> requests.Response:
        headers = kw.pop("headers", {})
        if token is None and client is not None:
            token = self.token(client)
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        if isinstance(body, (dict, list)):
            r = requests.post(self.url + path, json=body, headers=headers, timeout=30, **kw)
        else:
            r = requests.post(self.url + path, data=body, headers=headers, timeout=30, **kw)
        if validate:  # a request without a token is not a request of the spec (its security), its answer is
            self.validate(r, request=isinstance(body, dict) and token is not None)
        return r

    def search(self, *criteria: dict, client: str = "dev", validate: bool = True) -> requests.Response:
        return self.post(
            "/registry/sync/search",
            envelope("search", search_message(*criteria), sender=client),
            client=client,
            validate=validate,
        )


@pytest.fixture(scope="session")
def exchange_demo(demo):
    """The demo's warehouse (three months built through Dagster, each exported for the API)."""
    home, data, _ = demo
    folder = data / "exchange"
    assert sorted(p.name for p in folder.iterdir() if not p.name.startswith(".")) == ["2025-01", "2025-02", "2025-03"]
    return data / "warehouse.duckdb"


@pytest.fixture(scope="session")
def regency(exchange_demo) -> str:
    """The demo's most populous regency: the region of the test's regency office (Dinsos) client."""
    path = exchange_demo.parent / "exchange" / "2025-03" / "person.parquet"
    with duckdb.connect() as con:  # never the module's default connection: others' tests use it
        return con.execute(
            "SELECT regency_code FROM read_parquet(?) GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1", [str(path)]
        ).fetchall()[0][0]


@pytest.fixture(scope="session")
def api_config(regency, tmp_path_factory) -> Path:
    """The default clients file with the regency office moved to `regency` (as a deployment's own file would)."""
    raw = yaml.safe_load(config.DEFAULT_CONFIG.read_text())
    office = raw["clients"].pop("dinsos-3275")
    raw["clients"]["dinsos"] = {**office, "regions": [regency]}
    raw["clients"]["limited"] = {**raw["clients"]["dev"], "rate_per_minute": 3}
    raw["signing_key_file"] = str(config.DEVELOPMENT_KEY_FILE)
    path = tmp_path_factory.mktemp("api_config") / "clients.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.fixture(scope="module")
def server(exchange_demo, api_config, tmp_path_factory):
    state = tmp_path_factory.mktemp("api_state") / "state.sqlite"
    s = Server(exchange_demo, state, {"DTSEN_API_CONFIG": str(api_config)})
    yield s
    s.stop()


@pytest.fixture(scope="module")
def api(server):
    return Api(server)


@pytest.fixture()
def callbacks():
    cb = Callbacks()
    yield cb
    cb.close()


@pytest.fixture(scope="session")
def issuer():
    return TokenIssuer(config.load())
