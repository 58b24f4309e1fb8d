"""Bearer tokens of the data-exchange API: RS256 JWTs issued by `POST /oauth2/client/token` (client_credentials)
and checked on every registry call; the public key is served at `/.well-known/jwks.json` (RFC 7517, kid = the
RFC 7638 thumbprint). PyJWT does the cryptography; `verify` pins the algorithm, issuer and audience, so `alg: none`,
HS256 signed with the public key, forged, expired and other-audience tokens are all refused."""

from __future__ import annotations

import base64
import hashlib
import json
import time
import uuid
from dataclasses import dataclass
from functools import cached_property

import jwt
from cryptography.hazmat.primitives import serialization

from dtsen.api.config import ApiConfig, Client, check_secret

ALGORITHM = "RS256"


class TokenError(Exception):
    """A token or a token request refused; `code` is the OAuth2 error, `message` says why."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def _b64(n: int) -> str:
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@dataclass
class TokenIssuer:
    config: ApiConfig

    @cached_property
    def private_key(self):
        with open(self.config.signing_key_file, "rb") as f:
            return serialization.load_pem_private_key(f.read(), password=None)

    @cached_property
    def public_key(self):
        return self.private_key.public_key()

    @cached_property
    def jwk(self) -> dict:
        numbers = self.public_key.public_numbers()
        essential = {"e": _b64(numbers.e), "kty": "RSA", "n": _b64(numbers.n)}
        thumbprint = hashlib.sha256(json.dumps(essential, separators=(",", ":"), sort_keys=True).encode()).digest()
        kid = base64.urlsafe_b64encode(thumbprint).rstrip(b"=").decode()
        return {**essential, "kid": kid, "use": "sig", "alg": ALGORITHM}

    def jwks(self) -> dict:
        return {"keys": [self.jwk]}

    def authenticate(self, client_id: str, client_secret: str) -> Client:
        client = self.config.clients.get(client_id)
        # the same answer for an unknown client and a wrong secret
        if client is None or not check_secret(client_secret, client.secret_hash):
            raise TokenError("invalid_client", "unknown client or wrong secret")
        return client

    def issue(
        self,
        client: Client,
        scope: str | None = None,
        audience: str | None = None,
        ttl: int | None = None,
        now: float | None = None,
    ) -> tuple[str, int]:
        """A token for `client` with the asked scopes (space separated; all of the client's when empty)."""
        asked = (scope or "").replace(",", " ").split()
        if bad := [s for s in asked if s not in client.scopes]:
            raise TokenError("invalid_scope", f"scope {bad} not granted to client {client.client_id!r}")
        now = int(now if now is not None else time.time())
        ttl = self.config.token_ttl_seconds if ttl is None else ttl
        claims = {
            "iss": self.config.issuer,
            "sub": client.client_id,
            "aud": audience or self.config.audience,
            "iat": now,
            "nbf": now,
            "exp": now + ttl,
            "jti": uuid.uuid4().hex,
            "scope": " ".join(asked or client.scopes),
        }
        token = jwt.encode(claims, self.private_key, algorithm=ALGORITHM, headers={"kid": self.jwk["kid"]})
        return token, ttl

    def verify(self, token: str) -> dict:
        try:
            return jwt.decode(
                token,
                self.public_key,
                algorithms=[ALGORITHM],
                audience=self.config.audience,
                issuer=self.config.issuer,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError as e:
            raise TokenError("invalid_token", "token expired") from e
        except jwt.InvalidAudienceError as e:
            raise TokenError("invalid_token", "token issued for another audience") from e
        except jwt.PyJWTError as e:
            raise TokenError("invalid_token", f"invalid token: {e}") from e
