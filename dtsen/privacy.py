"""Pseudonymisation of identifiers (UU PDP 27/2022): analysts see a keyed hash of NIK and KK, never the raw value.

pseudonym(x) = first 32 hex digits of HMAC-SHA256(key, x). The key is the secret DTSEN_PSEUDONYM_KEY (or the file
named by DTSEN_PSEUDONYM_KEY_FILE), read through `dtsen.credentials`: outside demo mode a missing key, a placeholder
or the public development key is refused, because pseudonyms made with a known key can be reversed by anyone with a
list of candidate NIKs. Keep the key the same between runs, or pseudonyms change (docs: Operations, Secrets).
"""

from __future__ import annotations

import hashlib
import hmac

from dtsen import credentials

KEY_ENV = "DTSEN_PSEUDONYM_KEY"
DEVELOPMENT_KEY = "dtsen-development-key-NOT-SECRET"
LENGTH = 32
PSEUDONYM_KEY = credentials.Secret(
    KEY_ENV,
    "keys the analysts' pseudonyms of NIK and KK (whoever holds the key can reverse a pseudonym by trying every NIK)",
    'make one with `python -c "import secrets; print(secrets.token_hex(32))"` and keep it between runs',
    DEVELOPMENT_KEY,
)


def pseudonym_key() -> bytes:
    """The key (raises credentials.SecretError outside demo mode when no real key is given)."""
    return credentials.read(PSEUDONYM_KEY)[0].encode()


def using_development_key() -> bool:
    """Whether the public development key is in use (only ever in demo mode; outside it, a missing key raises)."""
    return credentials.read(PSEUDONYM_KEY)[1]


def _digest(key: bytes, value: str) -> str:
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()[:LENGTH]


def pseudonymise(value: str | None, key: bytes | None = None) -> str | None:
    return None if value is None else _digest(key or pseudonym_key(), value)


def register(con, key: bytes | None = None) -> None:
    """Define `pseudonym(VARCHAR) -> VARCHAR` on a DuckDB connection: HMAC-SHA256 (RFC 2104) written with DuckDB's own
    sha256, so a million identifiers take a second, not the five a Python function over Arrow batches took. The
    key's padded blocks live only in this connection's temporary catalogue (a TEMP macro: never in the database
    file, compiled SQL, dbt artifacts or logs)."""
    k = key or pseudonym_key()
    block = (hashlib.sha256(k).digest() if len(k) > 64 else k).ljust(64, b"\0")
    inner, outer = (bytes(b ^ pad for b in block).hex() for pad in (0x36, 0x5C))
    con.execute(
        f"CREATE OR REPLACE TEMP MACRO pseudonym(x) AS CASE WHEN x IS NULL THEN NULL ELSE "
        f"left(sha256(unhex('{outer}') || unhex(sha256(unhex('{inner}') || encode(x)))), {LENGTH}) END"
    )


def mask_name(name: object) -> str:
    """First letter of each word, the rest starred (SITI AMINAH -> S*** A*****): enough to recognise a row in a
    preview, not to identify a person. Previews in asset metadata are kept by Dagster's event log for ever."""
    if not isinstance(name, str) or not name:
        return ""
    return " ".join(w[0] + "*" * (len(w) - 1) for w in name.split())
