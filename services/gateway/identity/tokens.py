"""Access tokens (short-lived JWTs the gateway verifies itself), refresh tokens and API keys (opaque random strings,
kept only as SHA-256 hashes: they carry enough entropy that a fast hash is safe, unlike passwords)."""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import jwt
from cachetools import TLRUCache
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from kernel.errors import Unauthenticated

__all__ = [
    "ACCESS_AUDIENCE",
    "API_KEY_PREFIX",
    "REFRESH_TOKEN_PREFIX",
    "AccessClaims",
    "AccessTokens",
    "TokenExpired",
    "display_prefix",
    "looks_like_jwt",
    "new_api_key",
    "new_refresh_token",
    "secret_hash",
]

ACCESS_AUDIENCE = "clanavi-api"
ACCESS_TYPE = "access"
API_KEY_PREFIX = "clk_"
REFRESH_TOKEN_PREFIX = "clr_"  # noqa: S105 - a prefix, not a secret
_ALGORITHM = "HS256"
# The access tokens' key is derived from the internal key under its own label: a token signed for the services
# (kernel.identity) never verifies as an access token, nor the other way round.
_ACCESS_KEY_LABEL = b"clanavi gateway access token v1"
_CACHE_LIMIT = 10_000


class TokenExpired(Unauthenticated):
    """Still `unauthenticated` to clients; the detail tells them to refresh rather than log in again."""


def derive_key(internal_key: bytes, label: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=label).derive(internal_key)


@dataclass(frozen=True, slots=True)
class AccessClaims:
    user_id: str
    # The login the token was issued for (the refresh token family): ending the login ends its access tokens.
    session_id: str
    jti: str
    expires_at: int


class AccessTokens:
    """Issues and verifies access tokens. A verified token is remembered until it expires: the same caller sends
    the same token many times, and decoding it once is enough."""

    def __init__(self, internal_key: bytes, *, ttl: int, clock: Callable[[], float] = time.time) -> None:
        self._key = derive_key(internal_key, _ACCESS_KEY_LABEL)
        self.ttl = ttl
        self._clock = clock
        self._verified: TLRUCache[str, AccessClaims, float] = TLRUCache(_CACHE_LIMIT, _expiry, time.time)

    def issue(self, user_id: str, session_id: str) -> str:
        now = int(self._clock())
        claims = {
            "sub": user_id,
            "sid": session_id,
            "aud": ACCESS_AUDIENCE,
            "typ": ACCESS_TYPE,
            "iat": now,
            "exp": now + self.ttl,
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(claims, self._key, algorithm=_ALGORITHM)

    def verify(self, token: str) -> AccessClaims:
        # A remembered token is gone from the cache once it expires: decoding it again then says it expired.
        known = self._verified.get(token)
        if known is not None:
            return known
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=[_ALGORITHM],
                audience=ACCESS_AUDIENCE,
                options={"require": ["sub", "sid", "exp", "iat", "jti", "aud", "typ"]},
            )
            if claims["typ"] != ACCESS_TYPE:
                raise jwt.InvalidTokenError("not an access token")
            verified = AccessClaims(
                str(uuid.UUID(str(claims["sub"]))),
                str(uuid.UUID(str(claims["sid"]))),
                str(claims["jti"]),
                int(claims["exp"]),
            )
        except jwt.ExpiredSignatureError:
            raise TokenExpired("The access token has expired; get a new one with the refresh token.") from None
        except (jwt.PyJWTError, ValueError, TypeError):
            raise Unauthenticated("The access token is not valid.") from None
        self._verified[token] = verified
        return verified


def _expiry(_token: str, claims: AccessClaims, _now: float) -> float:
    return claims.expires_at


def looks_like_jwt(token: str) -> bool:
    """A JWT (three base64url parts, the first a JSON object) rather than an API key."""
    return token.startswith("eyJ") and token.count(".") == 2


def new_api_key() -> str:
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


def new_refresh_token() -> str:
    return REFRESH_TOKEN_PREFIX + secrets.token_urlsafe(32)


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def display_prefix(key: str) -> str:
    """What lists show to tell keys apart: the start of a generated key, nothing of one chosen by a person (the
    admin token may be short enough that its start would help a guess)."""
    return key[:8] if key.startswith(API_KEY_PREFIX) else ""
