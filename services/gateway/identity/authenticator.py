"""From a bearer token and the requested project to the request's identity, on every API call.

What the database says of an API key, a user and its memberships, and whether an access token's login goes on, is
remembered for `cache_seconds` (0.5 s by default), so a busy caller costs a hash and a few dictionary look-ups per
request, and a revoked key, a disabled user or an ended login stops working on every replica within that time.
Concurrent requests that miss the cache share one query (the kernel's `LoadingCache`), which reads without a
transaction.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import asyncpg

from kernel.caching import LoadingCache
from kernel.errors import ServiceUnavailable, Unauthenticated
from kernel.identity import Identity
from services.gateway.identity.domain import (
    KeyGrant,
    Subject,
    UserGrant,
    key_subject,
    select_project,
    user_subject,
    valid_project_id,
)
from services.gateway.identity.ports import GrantReads, IdentityUnitOfWork
from services.gateway.identity.tokens import AccessTokens, TokenExpired, looks_like_jwt, secret_hash

__all__ = ["Authenticator", "bearer_token"]

V = TypeVar("V")

_INVALID = "The token is not valid."


def bearer_token(authorization: str | None) -> str:
    if not authorization:
        raise Unauthenticated("Send `Authorization: Bearer <token>`.")
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthenticated("The Authorization header must use the Bearer scheme.")
    return token


class Authenticator:
    def __init__(
        self, uow: IdentityUnitOfWork, tokens: AccessTokens, *, cache_seconds: float, clock: Callable[[], float]
    ) -> None:
        self._uow = uow
        self._tokens = tokens
        self._clock = clock
        self._keys: LoadingCache[str, KeyGrant | None] = LoadingCache(cache_seconds)
        self._users: LoadingCache[str, UserGrant | None] = LoadingCache(cache_seconds)
        self._projects: LoadingCache[str, bool] = LoadingCache(cache_seconds)
        self._sessions: LoadingCache[str, bool] = LoadingCache(cache_seconds)

    def forget(self) -> None:
        """Drop what is cached: this replica made a change that may take rights away."""
        self._keys.clear()
        self._users.clear()
        self._projects.clear()
        self._sessions.clear()

    async def subject(self, authorization: str | None) -> Subject:
        """Who sent the request; raises Unauthenticated."""
        token = bearer_token(authorization)
        if looks_like_jwt(token):
            claims = self._tokens.verify(token)
            alive = await self._sessions.get(
                claims.session_id, lambda: self._read(lambda grants: grants.session_alive(claims.session_id))
            )
            if not alive:
                raise Unauthenticated("The login this access token belongs to has ended; log in again.")
            user = await self._user(claims.user_id)
            if user is None:
                raise Unauthenticated("The access token is not valid.")
            return user_subject(user)
        digest = secret_hash(token)
        key = await self._keys.get(digest, lambda: self._read(lambda grants: grants.key(digest)))
        if key is None:
            raise Unauthenticated(_INVALID)
        if key.expires_at is not None and key.expires_at <= self._clock():
            raise TokenExpired("The API key has expired.")
        owner = None
        if key.user_id is not None:
            owner = await self._user(key.user_id)
            if owner is None:
                raise Unauthenticated(_INVALID)
        return key_subject(key, owner)

    async def authenticate(self, authorization: str | None, project: str | None) -> tuple[Subject, Identity]:
        """The request's subject and the identity it acts as in the requested (or implied) project."""
        subject = await self.subject(authorization)
        exists = False
        if subject.admin and project is not None and valid_project_id(project):
            exists = await self._projects.get(
                project, lambda: self._read(lambda grants: grants.project_exists(project))
            )
        return subject, select_project(subject, project, requested_exists=exists)

    async def _user(self, user_id: str) -> UserGrant | None:
        return await self._users.get(user_id, lambda: self._read(lambda grants: grants.user(user_id)))

    async def _read(self, query: Callable[[GrantReads], Awaitable[V]]) -> V:
        try:
            async with self._uow.reading() as repos:
                return await query(repos.grants)
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise ServiceUnavailable("Authentication is not available right now; try again shortly.") from exc
