"""Passwords, CSRF tokens, client keys and the per-client rate limit of the public pages.

Passwords are hashed with scrypt (the standard library's, memory-hard; parameters stored with each hash so they can
be raised later). CSRF: every session holds a random token that every form carries back (compared in constant
time); the session cookie itself is signed, HttpOnly and SameSite=Lax, and Secure where the site is served over
HTTPS.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import threading
import time
from collections import deque

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
MIN_PASSWORD = 10


def hash_password(password: str, salt: bytes | None = None) -> str:
    salt = salt or os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32)
    return (
        f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"
    )


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        got = hashlib.scrypt(
            password.encode(),
            salt=base64.b64decode(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(base64.b64decode(digest)),
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, base64.b64decode(digest))


DUMMY_HASH = hash_password("not-a-password", salt=b"\0" * 16)


def check_password_strength(password: str) -> None:
    from .store import CaseError

    if len(password) < MIN_PASSWORD:
        raise CaseError(f"Kata sandi minimal {MIN_PASSWORD} karakter.")


def client_key(client: str) -> str:
    """Login attempts are throttled per client without storing its address."""
    return hashlib.sha256(("dtsen-web-client:" + client).encode()).hexdigest()[:32]


def new_csrf_token() -> str:
    return secrets.token_urlsafe(32)


def csrf_ok(session_token: str | None, form_token: str | None) -> bool:
    return bool(session_token) and bool(form_token) and hmac.compare_digest(session_token, form_token)


class RateLimiter:
    """At most `per_minute` requests per client in any 60 seconds (a sliding window, in this process)."""

    def __init__(self, per_minute: int):
        self.per_minute = per_minute
        self._hits: dict[str, deque] = {}
        self._lock = threading.Lock()

    def allow(self, client: str) -> bool:
        now = time.monotonic()
        with self._lock:
            hits = self._hits.setdefault(client, deque())
            while hits and now - hits[0] > 60:
                hits.popleft()
            if len(hits) >= self.per_minute:
                return False
            hits.append(now)
            if len(self._hits) > 100_000:  # forget idle clients
                for k in [k for k, v in self._hits.items() if not v or now - v[-1] > 60]:
                    del self._hits[k]
            return True


def mask_name(name: str) -> str:
    """SITI AMINAH -> SI** AM****: the first two letters of each word, the rest hidden."""
    return " ".join(w[:2] + "*" * max(len(w) - 2, 0) for w in (name or "").split())
