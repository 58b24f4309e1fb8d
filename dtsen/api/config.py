"""Clients of the data-exchange API, their rights, and the token signing key: one versioned configuration file.

The file (YAML) is `dtsen/api/clients.yaml` unless DTSEN_API_CONFIG names another. Each client has:

    secret_hash      pbkdf2_sha256$<iterations>$<salt hex>$<hash hex> of its client_secret (`hash_secret`)
    scopes           actions it may call: registry.search, registry.txn-status, registry.subscribe
    query_types      of idtype-value, expression, predicate
    regions          regency (4 digits) or province (2 digits) codes it sees, or ["*"] for the whole country
    fields           full | payee | pseudonymous (see dtsen.api.records)
    rate_per_minute  requests per minute (0 = unlimited)
    callback_prefixes  URLs its sender_uri (async answers, notifications) must start with

The signing key is the PEM file named by DTSEN_API_SIGNING_KEY (or `signing_key_file` in the config). Both are
secrets (`dtsen.credentials`): outside demo mode the development clients file and the development key shipped in
this folder are refused, and so is any client marked `development`; in demo mode they are used and a loud warning
says so. The default configuration's client `dev` (secret `dev-secret`, full scope) is a development client: a
production configuration replaces this file.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import yaml

from dtsen import credentials

CONFIG_ENV = "DTSEN_API_CONFIG"
KEY_ENV = "DTSEN_API_SIGNING_KEY"
HERE = Path(__file__).parent
DEFAULT_CONFIG = HERE / "clients.yaml"
DEVELOPMENT_KEY_FILE = HERE / "development_signing_key.pem"
ACTIONS = ("registry.search", "registry.txn-status", "registry.subscribe")
QUERY_TYPES = ("idtype-value", "expression", "predicate")
FIELD_SETS = ("full", "payee", "pseudonymous")
CLIENTS_FILE = credentials.Secret(
    CONFIG_ENV,
    "lists the API's clients, their hashed secrets and rights",
    "copy dtsen/api/clients.yaml, replace every client and hash each secret with dtsen.api.config.hash_secret",
    str(DEFAULT_CONFIG),
    file_valued=True,
)
SIGNING_KEY = credentials.Secret(
    KEY_ENV,
    "signs the API's bearer tokens (an RSA private key, PEM)",
    "make one with `openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:3072 -out signing.pem`",
    str(DEVELOPMENT_KEY_FILE),
    file_valued=True,
)


class ConfigError(ValueError):
    pass


def hash_secret(secret: str, iterations: int = 100_000, salt: str | None = None) -> str:
    salt = salt or secrets.token_hex(16)
    digest = hashlib.pbkdf2_hmac("sha256", secret.encode(), bytes.fromhex(salt), iterations).hex()
    return f"pbkdf2_sha256${iterations}${salt}${digest}"


def check_secret(secret: str, stored: str) -> bool:
    try:
        scheme, iterations, salt, digest = stored.split("$")
    except ValueError:
        return False
    if scheme != "pbkdf2_sha256":
        return False
    candidate = hashlib.pbkdf2_hmac("sha256", secret.encode(), bytes.fromhex(salt), int(iterations)).hex()
    return hmac.compare_digest(candidate, digest)


@dataclass(frozen=True)
class Client:
    client_id: str
    secret_hash: str
    scopes: tuple[str, ...]
    query_types: tuple[str, ...]
    regions: tuple[str, ...]
    fields: str
    rate_per_minute: int = 0
    callback_prefixes: tuple[str, ...] = ()
    development: bool = False

    @property
    def all_regions(self) -> bool:
        return "*" in self.regions

    def sees_region(self, code: str | None) -> bool:
        """Whether a region code (province, regency, district or village) lies inside this client's regions."""
        if self.all_regions:
            return True
        code = code or ""
        return any(code.startswith(r) or (r.startswith(code) and len(code) >= len(r)) for r in self.regions)

    def callback_allowed(self, uri: str) -> bool:
        """Same scheme and host (and port, when the prefix names one), and the path under the prefix's: a plain
        string prefix would let http://127.0.0.1.attacker.example through for http://127.0.0.1."""
        try:
            u = urlsplit(uri)
            port = u.port
        except ValueError:
            return False
        for prefix in self.callback_prefixes:
            p = urlsplit(prefix)
            if (
                (u.scheme, u.hostname) == (p.scheme, p.hostname)
                and (p.port is None or p.port == port)
                and u.path.startswith(p.path.rstrip("/"))
                and not u.username
                and not u.password
            ):
                return True
        return False


@dataclass(frozen=True)
class ApiConfig:
    version: int
    issuer: str
    audience: str
    token_ttl_seconds: int
    max_body_bytes: int
    max_page_size: int
    clients: dict[str, Client] = field(default_factory=dict)
    message_ts_window_seconds: int = 300
    signing_key_file: str = ""
    source: str = ""

    @property
    def development_key(self) -> bool:
        return Path(self.signing_key_file).resolve() == DEVELOPMENT_KEY_FILE.resolve()


def _tuple(value, name: str, client: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"client {client!r}: {name} must be a list of strings")
    return tuple(value)


def load(path: str | os.PathLike | None = None) -> ApiConfig:
    """The API configuration; every client checked, so a typo fails at start, not at the first request."""
    path = Path(credentials.read(CLIENTS_FILE, str(path) if path else None)[0])
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as e:
        raise ConfigError(f"{path}: cannot read the API configuration: {e}") from e
    clients = {}
    for cid, c in (raw.get("clients") or {}).items():
        c = c or {}
        scopes = _tuple(c.get("scopes", []), "scopes", cid)
        query_types = _tuple(c.get("query_types", list(QUERY_TYPES)), "query_types", cid)
        regions = _tuple(c.get("regions", []), "regions", cid)
        if bad := [s for s in scopes if s not in ACTIONS]:
            raise ConfigError(f"{path}: client {cid!r}: unknown scopes {bad} (known: {list(ACTIONS)})")
        if bad := [q for q in query_types if q not in QUERY_TYPES]:
            raise ConfigError(f"{path}: client {cid!r}: unknown query_types {bad}")
        if bad := [r for r in regions if r != "*" and not (r.isdigit() and len(r) in (2, 4, 6, 10))]:
            raise ConfigError(
                f"{path}: client {cid!r}: regions must be '*' or province/regency/district/village codes, got {bad}"
            )
        if c.get("fields") not in FIELD_SETS:
            raise ConfigError(f"{path}: client {cid!r}: fields must be one of {list(FIELD_SETS)}")
        if not str(c.get("secret_hash", "")).startswith("pbkdf2_sha256$"):
            raise ConfigError(f"{path}: client {cid!r}: secret_hash must come from dtsen.api.config.hash_secret")
        clients[str(cid)] = Client(
            client_id=str(cid),
            secret_hash=c["secret_hash"],
            scopes=scopes,
            query_types=query_types,
            regions=regions,
            fields=c["fields"],
            rate_per_minute=int(c.get("rate_per_minute", 0)),
            callback_prefixes=_tuple(c.get("callback_prefixes", []), "callback_prefixes", cid),
            development=bool(c.get("development", False)),
        )
    named = raw.get("signing_key_file")
    key_file = os.environ.get(KEY_ENV) or (str(path.parent / named) if named else None)
    key_path = Path(credentials.read(SIGNING_KEY, key_file)[0])
    development = sorted(cid for cid, c in clients.items() if c.development)
    if development and not credentials.demo_mode():
        raise credentials.SecretError(
            f"{path}: development client(s) {development}, whose secrets are published, are refused outside a demo "
            f"({credentials.DEMO_ENV}=1 allows them): list the deployment's own clients in {CONFIG_ENV}"
        )
    cfg = ApiConfig(
        version=int(raw.get("version", 1)),
        issuer=str(raw.get("issuer", "dtsen")),
        audience=str(raw.get("audience", "dtsen-registry")),
        token_ttl_seconds=int(raw.get("token_ttl_seconds", 3600)),
        max_body_bytes=int(raw.get("max_body_bytes", 65536)),
        max_page_size=int(raw.get("max_page_size", 1000)),
        message_ts_window_seconds=int(raw.get("message_ts_window_seconds", 300)),
        clients=clients,
        signing_key_file=str(key_path),
        source=str(path),
    )
    return cfg


def warn(cfg: ApiConfig) -> list[str]:
    """The loud warnings of a development configuration (the server logs them; `dtsen api token` prints them)."""
    out = []
    if cfg.development_key:
        out.append(
            f"{KEY_ENV} is not set: API tokens are signed with the public DEVELOPMENT key shipped in the "
            f"repository; anyone can forge them. Set a private key before real data is served."
        )
    dev = [c.client_id for c in cfg.clients.values() if c.development]
    if dev:
        out.append(
            f"development client(s) {dev} with a published secret are enabled ({cfg.source}); a production "
            f"configuration ({CONFIG_ENV}) must replace them."
        )
    return out
