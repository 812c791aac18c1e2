"""Who is calling, as the gateway vouches for it to the services behind it.

The gateway authenticates the caller (a JWT access token or an API key), decides the project and role, and passes
them on as a short-lived token signed with the platform's internal key (`CLANAVI_INTERNAL_KEY`, HMAC-SHA256) in the
`X-Clanavi-Identity` header. Services accept `/v1` calls only with a valid one: a request that reaches a service
around the gateway carries no identity and gets 401.
"""

from __future__ import annotations

import time
from typing import Annotated

import jwt
from cachetools import TLRUCache, TTLCache
from fastapi import Depends, Request
from starlette.types import ASGIApp, Receive, Scope, Send

from kernel import correlation
from kernel.errors import Unauthenticated, problem_from_error
from kernel.http import HttpMiddleware, send_problem
from kernel.roles import ROLE_PERMISSIONS as ROLE_PERMISSIONS
from kernel.roles import Identity as Identity
from kernel.roles import Permission as Permission
from kernel.roles import Role as Role

IDENTITY_HEADER = "X-Clanavi-Identity"
_HEADER_KEY = IDENTITY_HEADER.lower().encode()
INTERNAL_AUDIENCE = "clanavi-internal"
_ALGORITHM = "HS256"


def _internal_key(key: bytes) -> bytes:
    if len(key) < 32:
        raise ValueError("the internal key must be at least 32 bytes")
    return key


class IdentitySigner:
    """Signs identities for the services. A signed token is reused for a third of its lifetime: signing every request
    of a busy caller again would cost more than the forwarding."""

    def __init__(self, key: bytes, *, ttl: float = 60.0, remember: int = 10_000) -> None:
        self._key = _internal_key(key)
        self._ttl = ttl
        self._signed: TTLCache[Identity, str, float] = TTLCache(remember, ttl / 3)

    def sign(self, identity: Identity) -> str:
        token = self._signed.get(identity)
        if token is None:
            now = time.time()
            token = self._signed[identity] = jwt.encode(
                {**identity.claims(), "aud": INTERNAL_AUDIENCE, "iat": int(now), "exp": int(now + self._ttl)},
                self._key,
                algorithm=_ALGORITHM,
            )
        return token


def _expiry(_token: str, checked: tuple[float, Identity], _now: float) -> float:
    return checked[0]


class IdentityVerifier:
    """Checks the gateway's signed identities. A token already checked is remembered until it expires: the gateway
    reuses its tokens, and checking the signature again on every request would cost more than the lookup."""

    def __init__(self, key: bytes, *, remember: int = 10_000) -> None:
        self._key = _internal_key(key)
        # token -> (its expiry, as a time.time(); its identity)
        self._checked: TLRUCache[str, tuple[float, Identity], float] = TLRUCache(remember, _expiry, time.time)

    def verify(self, token: str | None) -> Identity:
        """The identity in a token the gateway signed; raises Unauthenticated otherwise."""
        if not token:
            raise Unauthenticated("This service is reached through the gateway only.")
        known = self._checked.get(token)
        if known is not None:
            return known[1]
        return self._check(token)

    def _check(self, token: str) -> Identity:
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=[_ALGORITHM],
                audience=INTERNAL_AUDIENCE,
                options={"require": ["exp", "sub", "aud"]},
            )
            identity = Identity.from_claims(claims)
        except (jwt.PyJWTError, KeyError, ValueError):
            raise Unauthenticated("The internal identity is not valid.") from None
        self._checked[token] = (float(claims["exp"]), identity)
        return identity


class InternalAuth(HttpMiddleware):
    """Refuses `/v1` calls without a valid gateway-signed identity (401 problem JSON, before the body is read) and
    puts the identity into the request state."""

    def __init__(self, app: ASGIApp, verifier: IdentityVerifier, prefix: str = "/v1/") -> None:
        super().__init__(app)
        self.verifier = verifier
        self.prefix = prefix

    def applies(self, scope: Scope) -> bool:
        return bool(scope["path"].startswith(self.prefix))

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        header = next((v.decode("latin-1") for k, v in scope["headers"] if k == _HEADER_KEY), None)
        try:
            identity = self.verifier.verify(header)
        except Unauthenticated as exc:
            await send_problem(
                send, problem_from_error(exc, instance=scope["path"], correlation_id=correlation.current.get())
            )
            return
        scope.setdefault("state", {})["identity"] = identity
        await self.app(scope, receive, send)


# A coroutine: FastAPI runs a plain function dependency in a thread pool, a thread hop on every request.
async def caller_project(request: Request) -> str:
    """The project of the identity the gateway vouched for (the InternalAuth middleware put it there)."""
    identity: Identity = request.state.identity
    return identity.project_id


ProjectId = Annotated[str, Depends(caller_project)]


__all__ = [
    "IDENTITY_HEADER",
    "ROLE_PERMISSIONS",
    "Identity",
    "IdentitySigner",
    "IdentityVerifier",
    "InternalAuth",
    "Permission",
    "ProjectId",
    "Role",
    "caller_project",
]
