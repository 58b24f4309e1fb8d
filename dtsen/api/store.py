"""The API's own durable state, in one SQLite file (never the warehouse the pipeline writes):

audit          every request, refused ones included: client, time, action, query, records returned and their
               DTSEN ids, outcome. Append-only: triggers refuse UPDATE and DELETE, and no endpoint writes it except
               by appending.
message        (sender_id, message_id) already received, so a replayed message is refused
txn            asynchronous searches: status and the answer (encrypted), for txn/status
subscription   who wants to be told what (the criteria encrypted), and where
notification   every notification sent or given up (dead letter), one per subscription, snapshot and try
rate_hit       each client's recent requests, for the rate limit every worker and restart shares

No raw identifier is written to the store: every text a client sent (query, ids, the detail of a refusal) is
scrubbed first, a run of 16 digits (a NIK or a KK, wherever it stands) becoming its pseudonym; the answers and the
criteria, which must keep them to be served later, are encrypted (Fernet, a key derived from the pseudonym key).
"""

from __future__ import annotations

import base64
import json
import os
import re
import sqlite3
import threading
import time
import uuid
from datetime import UTC, datetime

import orjson
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from dtsen import privacy

SCHEMA = """
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, ts TEXT NOT NULL, client_id TEXT, action TEXT NOT NULL,
    endpoint TEXT NOT NULL, message_id TEXT, transaction_id TEXT, query TEXT, records INTEGER NOT NULL DEFAULT 0,
    person_ids TEXT, family_ids TEXT, http_status INTEGER NOT NULL, outcome TEXT NOT NULL, detail TEXT);
CREATE INDEX IF NOT EXISTS audit_client ON audit (client_id, ts);
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TABLE IF NOT EXISTS audit_id (seq INTEGER NOT NULL, kind TEXT NOT NULL, id TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS audit_id_id ON audit_id (id);
CREATE TRIGGER IF NOT EXISTS audit_id_no_update BEFORE UPDATE ON audit_id
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_id_no_delete BEFORE DELETE ON audit_id
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TABLE IF NOT EXISTS message (sender_id TEXT NOT NULL, message_id TEXT NOT NULL, ts TEXT NOT NULL,
    PRIMARY KEY (sender_id, message_id));
CREATE TABLE IF NOT EXISTS txn (correlation_id TEXT PRIMARY KEY, transaction_id TEXT NOT NULL,
    client_id TEXT NOT NULL, txn_type TEXT NOT NULL, status TEXT NOT NULL, reference_ids TEXT, response TEXT,
    created TEXT NOT NULL, updated TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS txn_client ON txn (client_id, transaction_id);
CREATE TABLE IF NOT EXISTS subscription (code TEXT PRIMARY KEY, client_id TEXT NOT NULL, reference_id TEXT,
    event_types TEXT NOT NULL, criteria TEXT NOT NULL, notify_uri TEXT NOT NULL, status TEXT NOT NULL,
    created TEXT NOT NULL, ended TEXT);
CREATE TABLE IF NOT EXISTS notification (subscription_code TEXT NOT NULL, snapshot TEXT NOT NULL,
    attempt INTEGER NOT NULL, ts TEXT NOT NULL, events INTEGER NOT NULL, http_status INTEGER, outcome TEXT NOT NULL,
    error TEXT, PRIMARY KEY (subscription_code, snapshot, attempt));
CREATE TABLE IF NOT EXISTS rate_hit (client_id TEXT NOT NULL, at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS rate_hit_client ON rate_hit (client_id, at);
"""
IDENTIFIER_RUN = re.compile(r"(?<![0-9])[0-9]{16}(?![0-9])")
ENCRYPTED = "fernet:"


def _cipher(key: bytes) -> Fernet:
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"dtsen-api-store").derive(key)
    return Fernet(base64.urlsafe_b64encode(derived))


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class Store:
    def __init__(self, path: str, key: bytes | None = None):
        """`key`: the pseudonym key (default: the platform's, `dtsen.privacy`), which pseudonymises what is scrubbed
        and keys the encryption of answers and criteria."""
        self.path = path
        os.makedirs(os.path.dirname(os.path.abspath(path)), mode=0o700, exist_ok=True)
        self._key = key or privacy.pseudonym_key()
        self._cipher = _cipher(self._key)
        self._lock = threading.Lock()
        self.con = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
        os.chmod(path, 0o600)
        self.con.execute("PRAGMA journal_mode=WAL")
        self.con.execute("PRAGMA synchronous=NORMAL")
        self.con.execute("PRAGMA secure_delete=ON")  # what is replaced or deleted is overwritten, not left behind
        self.con.executescript(SCHEMA)
        self._encrypt_plain_rows()

    # ---- what is written: scrubbed of identifiers, or encrypted
    def scrub(self, value):
        """A client's text (or a structure of it) with every run of 16 digits replaced by its pseudonym."""
        if value is None or isinstance(value, bool):
            return value
        if isinstance(value, str):
            text = value.encode("utf-8", "backslashreplace").decode("utf-8")  # a lone surrogate stays readable
            return IDENTIFIER_RUN.sub(lambda m: "pseudonym:" + privacy.pseudonymise(m.group(0), self._key), text)
        if isinstance(value, int) and len(str(value)) == 16:
            return "pseudonym:" + privacy.pseudonymise(str(value), self._key)
        if isinstance(value, dict):
            return {self.scrub(str(k)): self.scrub(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.scrub(v) for v in value]
        return value

    def _seal(self, value) -> str:
        return ENCRYPTED + self._cipher.encrypt(orjson.dumps(value, default=str)).decode()

    def _open(self, text: str | None):
        if not text:
            return None
        if not text.startswith(ENCRYPTED):
            return json.loads(text)
        try:
            return orjson.loads(self._cipher.decrypt(text[len(ENCRYPTED) :].encode()))
        except InvalidToken:  # sealed under another key (it was rotated): the answer is gone, not wrong
            return None

    def _encrypt_plain_rows(self) -> None:
        """A store written before answers and criteria were encrypted: encrypt them in place, once."""
        changed = 0
        with self._lock:
            for table, key, column in (("txn", "correlation_id", "response"), ("subscription", "code", "criteria")):
                rows = self.con.execute(
                    f"SELECT {key}, {column} FROM {table} WHERE {column} IS NOT NULL AND {column} NOT LIKE ?",
                    (ENCRYPTED + "%",),
                ).fetchall()
                for k, v in rows:
                    self.con.execute(f"UPDATE {table} SET {column} = ? WHERE {key} = ?", (self._seal(json.loads(v)), k))
                changed += len(rows)
            if changed:  # the plain text leaves the journal too
                self.con.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def close(self):
        self.con.close()

    def _run(self, sql: str, params=()) -> sqlite3.Cursor:
        with self._lock:
            return self.con.execute(sql, params)

    def _rows(self, sql: str, params=()) -> list[dict]:
        with self._lock:
            cur = self.con.execute(sql, params)
            cols = [d[0] for d in cur.description]
            return [dict(zip(cols, r)) for r in cur.fetchall()]

    # ---- audit
    def audit(
        self,
        *,
        client_id,
        action,
        endpoint,
        http_status,
        outcome,
        message_id=None,
        transaction_id=None,
        query=None,
        person_ids=(),
        family_ids=(),
        records=0,
        detail=None,
    ) -> None:
        with self._lock:
            self.con.execute("BEGIN")
            try:
                cur = self.con.execute(
                    "INSERT INTO audit (ts, client_id, action, endpoint, message_id, transaction_id, query, records,"
                    " person_ids, family_ids, http_status, outcome, detail) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (
                        now_iso(),
                        client_id,
                        action,
                        endpoint,
                        self.scrub(message_id),
                        self.scrub(transaction_id),
                        None if query is None else json.dumps(self.scrub(query), sort_keys=True, default=str),
                        records,
                        json.dumps(sorted(set(person_ids))),
                        json.dumps(sorted(set(family_ids))),
                        http_status,
                        outcome,
                        self.scrub(detail),
                    ),
                )
                seq = cur.lastrowid
                self.con.executemany(
                    "INSERT INTO audit_id VALUES (?, ?, ?)",
                    [(seq, "person", i) for i in set(person_ids)] + [(seq, "family", i) for i in set(family_ids)],
                )
                self.con.execute("COMMIT")
            except BaseException:
                self.con.execute("ROLLBACK")
                raise

    def who_looked_at(self, dtsen_id: str) -> list[dict]:
        return self._rows(
            """SELECT a.seq, a.ts, a.client_id, a.action, a.endpoint, a.outcome, a.records, i.kind
                             FROM audit_id i JOIN audit a USING (seq) WHERE i.id = ? ORDER BY a.seq""",
            (dtsen_id,),
        )

    def audit_mentioning(self, text: str) -> list[dict]:
        """Requests whose logged query holds `text` (a NIK's pseudonym: searches for it, found or not)."""
        return self._rows(
            "SELECT seq, ts, client_id, action, endpoint, outcome, records FROM audit "
            "WHERE instr(query, ?) > 0 ORDER BY seq",
            (text,),
        )

    def audit_rows(self, client_id: str | None = None, limit: int = 100) -> list[dict]:
        if client_id:
            return self._rows("SELECT * FROM audit WHERE client_id = ? ORDER BY seq DESC LIMIT ?", (client_id, limit))
        return self._rows("SELECT * FROM audit ORDER BY seq DESC LIMIT ?", (limit,))

    # ---- replay protection
    def first_time(self, sender_id: str, message_id: str) -> bool:
        try:
            self._run("INSERT INTO message VALUES (?, ?, ?)", (sender_id, self.scrub(message_id), now_iso()))
            return True
        except sqlite3.IntegrityError:
            return False

    # ---- the rate limit: one sliding minute per client, shared by every worker and kept over restarts
    def take_request(self, client_id: str, per_minute: int, now: float | None = None) -> float | None:
        """Count a request of the client; None when it is within `per_minute` requests in the last 60 s, else the
        seconds until the oldest of them leaves the window (the request is then not counted)."""
        now = time.time() if now is None else now
        with self._lock:
            self.con.execute("BEGIN IMMEDIATE")
            try:
                self.con.execute("DELETE FROM rate_hit WHERE at <= ?", (now - 60,))
                hits = self.con.execute(
                    "SELECT count(*), min(at) FROM rate_hit WHERE client_id = ?", (client_id,)
                ).fetchone()
                if hits[0] >= per_minute:
                    self.con.execute("COMMIT")
                    return max(60 - (now - hits[1]), 0.0)
                self.con.execute("INSERT INTO rate_hit VALUES (?, ?)", (client_id, now))
                self.con.execute("COMMIT")
                return None
            except BaseException:
                self.con.execute("ROLLBACK")
                raise

    # ---- asynchronous transactions
    def new_txn(self, transaction_id: str, client_id: str, txn_type: str, reference_ids: list[str]) -> str:
        correlation_id = uuid.uuid4().hex
        ts = now_iso()
        self._run(
            "INSERT INTO txn VALUES (?, ?, ?, ?, 'pdng', ?, NULL, ?, ?)",
            (
                correlation_id,
                self.scrub(transaction_id),
                client_id,
                txn_type,
                json.dumps(self.scrub(reference_ids)),
                ts,
                ts,
            ),
        )
        return correlation_id

    def finish_txn(self, correlation_id: str, status: str, response: dict) -> None:
        self._run(
            "UPDATE txn SET status = ?, response = ?, updated = ? WHERE correlation_id = ?",
            (status, self._seal(response), now_iso(), correlation_id),
        )

    def find_txn(self, client_id: str, attribute_type: str, value) -> list[dict]:
        """A client's transactions by transaction_id, correlation_id or reference ids (never another client's)."""
        rows = self._rows("SELECT * FROM txn WHERE client_id = ? ORDER BY created", (client_id,))
        value = self.scrub(value)  # the ids were kept scrubbed
        if attribute_type == "transaction_id":
            rows = [r for r in rows if r["transaction_id"] == value]
        elif attribute_type == "correlation_id":
            rows = [r for r in rows if r["correlation_id"] == value]
        else:
            wanted = set(value if isinstance(value, list) else [value])
            rows = [r for r in rows if wanted & set(json.loads(r["reference_ids"] or "[]"))]
        for r in rows:
            r["response"] = self._open(r["response"])
        return rows

    # ---- subscriptions
    def subscribe(
        self, client_id: str, reference_id: str, event_types: list[str], criteria: dict, notify_uri: str
    ) -> str:
        code = "SUB-" + uuid.uuid4().hex[:16]
        self._run(
            "INSERT INTO subscription VALUES (?, ?, ?, ?, ?, ?, 'subscribe', ?, NULL)",
            (
                code,
                client_id,
                self.scrub(reference_id),
                json.dumps(event_types),
                self._seal(criteria),
                notify_uri,
                now_iso(),
            ),
        )
        return code

    def unsubscribe(self, client_id: str, code: str) -> bool:
        cur = self._run(
            "UPDATE subscription SET status = 'unsubscribe', ended = ? "
            "WHERE code = ? AND client_id = ? AND status = 'subscribe'",
            (now_iso(), code, client_id),
        )
        return cur.rowcount == 1

    def subscriptions(self, active_only: bool = True) -> list[dict]:
        rows = self._rows(
            "SELECT * FROM subscription"
            + (" WHERE status = 'subscribe'" if active_only else "")
            + " ORDER BY created, code"
        )
        for r in rows:
            r["event_types"] = json.loads(r["event_types"])
            r["criteria"] = self._open(r["criteria"])
        return rows

    # ---- notifications
    def delivered(self, code: str, month: str) -> bool:
        return bool(
            self._rows(
                "SELECT 1 FROM notification WHERE subscription_code = ? AND snapshot = ? AND outcome = 'delivered'",
                (code, month),
            )
        )

    def attempts(self, code: str, month: str) -> int:
        return self._rows(
            "SELECT count(*) AS n FROM notification WHERE subscription_code = ? AND snapshot = ?", (code, month)
        )[0]["n"]

    def record_notification(
        self, code: str, month: str, attempt: int, events: int, http_status, outcome: str, error: str | None = None
    ) -> None:
        self._run(
            "INSERT INTO notification VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (code, month, attempt, now_iso(), events, http_status, outcome, error),
        )

    def dead_letters(self) -> list[dict]:
        """Deliveries given up and not delivered since (the last try of each)."""
        return self._rows("""SELECT * FROM notification n WHERE outcome = 'dead_letter'
                             AND attempt = (SELECT max(attempt) FROM notification m
                                            WHERE m.subscription_code = n.subscription_code
                                              AND m.snapshot = n.snapshot)
                             ORDER BY ts""")
