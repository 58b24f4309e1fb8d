"""Pseudonymisation of identifiers (UU PDP 27/2022): analysts see a keyed hash of NIK and KK, never the raw value.

pseudonym(x) = first 32 hex digits of HMAC-SHA256(key, x). The key comes from the environment variable
DTSEN_PSEUDONYM_KEY. Without it a fixed development key is used and a warning says so: pseudonyms made with the
development key can be reversed by anyone who has this code and a list of candidate NIKs, so a deployment must set
its own secret key (and keep it the same between runs, or pseudonyms change).
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import os

import pyarrow as pa

KEY_ENV = "DTSEN_PSEUDONYM_KEY"
DEVELOPMENT_KEY = "dtsen-development-key-NOT-SECRET"
LENGTH = 32

log = logging.getLogger(__name__)


def pseudonym_key() -> bytes:
    key = os.environ.get(KEY_ENV)
    if not key:
        log.warning("%s is not set: pseudonymising NIK/KK with the public DEVELOPMENT key. Set a secret key before "
                    "real data is loaded.", KEY_ENV)
        key = DEVELOPMENT_KEY
    return key.encode()


def using_development_key() -> bool:
    return not os.environ.get(KEY_ENV)


def _digest(key: bytes, value: str) -> str:
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()[:LENGTH]


def pseudonymise(value: str | None, key: bytes | None = None) -> str | None:
    return None if value is None else _digest(key or pseudonym_key(), value)


def register(con, key: bytes | None = None) -> None:
    """Register `pseudonym(VARCHAR) -> VARCHAR` on a DuckDB connection (vectorised over Arrow batches)."""
    k = key or pseudonym_key()

    def _udf(values: pa.Array) -> pa.Array:
        return pa.array([None if v is None else _digest(k, v) for v in values.to_pylist()], type=pa.string())

    con.create_function("pseudonym", _udf, ["VARCHAR"], "VARCHAR", type="arrow", side_effects=False)


def mask_name(name: object) -> str:
    """First letter of each word, the rest starred (SITI AMINAH -> S*** A*****): enough to recognise a row in a
    preview, not to identify a person. Previews in asset metadata are kept by Dagster's event log for ever."""
    if not isinstance(name, str) or not name:
        return ""
    return " ".join(w[0] + "*" * (len(w) - 1) for w in name.split())
