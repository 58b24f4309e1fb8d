"""Benchmark of the data-exchange API (DCI Social Registry API) on loopback: prints one JSON line.

    python bench/api.py --persons 1000000 [--data DIR] [--seconds 10] [--clients 8]

Builds a snapshot (`dtsen synth` + `dtsen run` of one month, in subprocesses) or reuses the data root given, starts
the real server (`dtsen serve`) on loopback and drives it with concurrent clients, each phase bounded in time and
count: `idtype-value` lookups by NIK (random NIKs of the snapshot), a province expression answered with a page of
1,000 families (with their members), and asynchronous searches (ACK, then the answer POSTed to a callback server
here; latency until it arrives). Floor in the same run: the same NIK lookups and the same expression done directly
in DuckDB on the same snapshot. Targets at 1 M persons on 2 cores: >= 500 NIK lookups/s with p99 < 50 ms; the
1,000-family expression < 200 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import _common  # noqa: F401 - first: demo mode for every bench (synthetic data); bench/ is on sys.path
import duckdb
import httpx
import orjson

BIN = os.path.dirname(sys.executable)


def _pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return round(s[min(len(s) - 1, int(p / 100 * len(s)))] * 1000, 2)


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _envelope(criteria: dict, sender: str = "dev", **header) -> dict:
    return {
        "signature": "",
        "header": {
            "version": "1.0.0",
            "message_id": uuid.uuid4().hex,
            "message_ts": _now(),
            "action": "search",
            "sender_id": sender,
            "total_count": 1,
            **header,
        },
        "message": {
            "transaction_id": uuid.uuid4().hex[:20],
            "search_request": [{"reference_id": "R1", "timestamp": _now(), "search_criteria": criteria}],
        },
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def build(persons: int, seed: int, work: str) -> str:
    landing = os.path.join(work, "landing")
    subprocess.run(
        [
            os.path.join(BIN, "dtsen"),
            "synth",
            "--persons",
            str(persons),
            "--seed",
            str(seed),
            "--months",
            "1",
            "--out",
            landing,
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    month = sorted(os.listdir(os.path.join(landing, "dtks")))[0]
    subprocess.run(
        [os.path.join(BIN, "dtsen"), "run", "--landing", landing, "--month", month, "--data", work],
        check=True,
        stdout=subprocess.DEVNULL,
        env={**os.environ, "DAGSTER_HOME": work},
    )
    return work


def drive(url: str, token: str, bodies, clients: int, seconds: float, max_requests: int) -> dict:
    """`clients` threads POST bodies from `bodies()` until `seconds` pass or `max_requests` are sent."""
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    sent = [0]
    end = time.monotonic() + seconds

    def worker():
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as c:
            while time.monotonic() < end:
                with lock:
                    if sent[0] >= max_requests:
                        return
                    sent[0] += 1
                path, body, ok = bodies()
                t = time.perf_counter()
                try:
                    r = c.post(path, json=body)
                    dt = time.perf_counter() - t  # the answer received, before this client parses it
                    good = ok(r)
                except httpx.HTTPError:
                    dt, good = time.perf_counter() - t, False
                with lock:
                    latencies.append(dt)
                    errors[0] += 0 if good else 1

    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    return {
        "requests": len(latencies),
        "per_second": round(len(latencies) / wall, 1),
        "p50_ms": _pct(latencies, 50),
        "p99_ms": _pct(latencies, 99),
        "errors": errors[0],
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--persons", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--data", default=None, help="reuse this data root (its exchange/ folder) instead of building")
    ap.add_argument("--seconds", type=float, default=10.0, help="duration of each load phase")
    ap.add_argument("--clients", type=int, default=8, help="concurrent clients")
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="bench_api_")
    server = None
    try:
        t0 = time.perf_counter()
        data = args.data or build(args.persons, args.seed, work)
        build_seconds = time.perf_counter() - t0
        sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        from dtsen.api import exchange
        from dtsen.layout import DataLayout

        folder = DataLayout.resolve(data, env={}).exchange
        month = exchange.latest(folder)
        person = os.path.join(folder, month, "person.parquet")
        con = duckdb.connect()
        n_persons = con.execute("SELECT count(*) FROM read_parquet(?)", [person]).fetchone()[0]
        niks = [
            r[0]
            for r in con.execute(
                "SELECT nik FROM read_parquet(?) WHERE nik IS NOT NULL USING SAMPLE 20000 ROWS", [person]
            ).fetchall()
        ]
        province = con.execute(
            "SELECT province_code FROM read_parquet(?) GROUP BY 1 ORDER BY count(*) DESC LIMIT 1", [person]
        ).fetchone()[0]
        rng = random.Random(args.seed)

        # ---- the floor: the same lookups directly in DuckDB (in memory, indexed, as the server holds them)
        from dtsen.api import config as api_config
        from dtsen.api import registry

        snap = registry.Snapshot(folder, month)
        cfg = api_config.load()
        dev = cfg.clients["dev"]
        cur = snap.cursor()
        lat = []
        t = time.perf_counter()
        for nik in rng.sample(niks, min(len(niks), 5000)):
            s = time.perf_counter()
            cur.execute("SELECT * FROM person WHERE nik = ?", [nik]).fetchall()
            lat.append(time.perf_counter() - s)
        floor_nik = {
            "per_second": round(len(lat) / (time.perf_counter() - t), 1),
            "p50_ms": _pct(lat, 50),
            "p99_ms": _pct(lat, 99),
        }
        expr = {
            "query_type": "expression",
            "pagination": {"page_size": 1000},
            "query": {
                "type": "ns:dtsen:QueryType:expression",
                "value": {"expression": {"collection": "Group", "query": {"province_code": province}}},
            },
        }
        lat = []
        for _ in range(20):
            s = time.perf_counter()
            c = registry.parse(expr, dev, 1000)
            found = snap.search(c, dev)
            orjson.dumps(found.records)
            lat.append(time.perf_counter() - s)
        floor_expr = {"families": len(found.records), "p50_ms": _pct(lat, 50), "p99_ms": _pct(lat, 99)}
        lat = []
        for _ in range(20):
            s = time.perf_counter()
            cur.execute(
                "SELECT * FROM family WHERE province_code = ? ORDER BY family_id LIMIT 1000", [province]
            ).fetchall()
            lat.append(time.perf_counter() - s)
        floor_expr_sql = {"p50_ms": _pct(lat, 50), "p99_ms": _pct(lat, 99)}
        snap.close()

        # ---- the server, and a callback server for the asynchronous searches
        received: dict[str, float] = {}

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))))
                received[body["message"]["correlation_id"]] = time.perf_counter()
                self.send_response(200)
                self.end_headers()

            def log_message(self, *a):
                pass

        httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        callback = f"http://127.0.0.1:{httpd.server_address[1]}"
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        env = {**os.environ, "DTSEN_API_STATE": os.path.join(work, "api", "state.sqlite")}
        log = open(os.path.join(work, "serve.log"), "w")  # noqa: SIM115 - the server's log, open while it runs
        server = subprocess.Popen(
            [os.path.join(BIN, "dtsen"), "serve", "--port", str(port), "--data", data],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        t = time.perf_counter()
        for _ in range(600):
            try:
                with urllib.request.urlopen(url + "/health", timeout=2) as r:
                    if json.loads(r.read())["status"] == "ok":
                        break
            except OSError:
                time.sleep(0.1)
        startup = time.perf_counter() - t
        token = httpx.post(
            url + "/oauth2/client/token",
            data={"grant_type": "client_credentials", "client_id": "dev", "client_secret": "dev-secret"},
        ).json()["access_token"]

        def ok_search(r):
            return r.status_code == 200 and r.json()["message"]["search_response"][0]["status"] == "succ"

        nik_load = drive(
            url,
            token,
            lambda: (
                "/registry/sync/search",
                _envelope({"query_type": "idtype-value", "query": {"type": "NIK", "value": rng.choice(niks)}}),
                ok_search,
            ),
            args.clients,
            args.seconds,
            100_000,
        )
        # one client at a time: the latency of one such answer (megabytes of records), not of a queue
        expr_load = drive(
            url, token, lambda: ("/registry/sync/search", _envelope(expr), ok_search), 1, args.seconds, 200
        )
        sent: dict[str, float] = {}

        def async_body():
            return (
                "/registry/search",
                _envelope(
                    {"query_type": "idtype-value", "query": {"type": "NIK", "value": rng.choice(niks)}},
                    sender_uri=callback,
                ),
                ok_ack,
            )

        def ok_ack(r):
            if r.status_code != 202:
                return False
            sent[r.json()["message"]["correlation_id"]] = time.perf_counter()
            return True

        async_load = drive(url, token, async_body, args.clients, min(args.seconds, 5.0), 2000)
        deadline = time.monotonic() + 30
        while len(received) < len(sent) and time.monotonic() < deadline:
            time.sleep(0.05)
        delays = [received[k] - v for k, v in sent.items() if k in received]
        async_load.update(
            answered=len(delays),
            lost=len(sent) - len(delays),
            answer_p50_ms=_pct(delays, 50),
            answer_p99_ms=_pct(delays, 99),
        )
        httpd.shutdown()
        print(
            json.dumps(
                {
                    "bench": "api",
                    "persons": n_persons,
                    "snapshot": month,
                    "clients": args.clients,
                    "build_seconds": round(build_seconds, 1),
                    "server_startup_seconds": round(startup, 2),
                    "nik_lookup": nik_load,
                    "expression_1000_families": {**expr_load, "families": floor_expr["families"]},
                    "async_search": async_load,
                    "floor": {
                        "nik_lookup_duckdb": floor_nik,
                        "expression_in_process": floor_expr,
                        "expression_sql_only": floor_expr_sql,
                    },
                    "ratio_nik_p50": round(nik_load["p50_ms"] / max(floor_nik["p50_ms"], 1e-3), 1),
                    "targets": {
                        "nik_per_second_ge_500": nik_load["per_second"] >= 500,
                        "nik_p99_lt_50ms": nik_load["p99_ms"] < 50,
                        "expression_p99_lt_200ms": expr_load["p99_ms"] < 200,
                    },
                }
            )
        )
    finally:
        if server is not None:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
