"""Logging in, refreshing and logging out: the use cases of a login, which is a family of refresh tokens whose access
tokens carry its id and end with it.

No password, hash or token reaches a log line.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from kernel.errors import Unauthenticated
from services.gateway.identity.domain import Subject
from services.gateway.identity.passwords import PasswordHashing
from services.gateway.identity.ports import IdentityUnitOfWork
from services.gateway.identity.tokens import AccessTokens, new_refresh_token, secret_hash

__all__ = ["Sessions", "TokenPair"]

log = logging.getLogger(__name__)

_WRONG_LOGIN = "The email or the password is wrong."
_BAD_REFRESH = "The refresh token is not valid; log in again."


@dataclass(frozen=True, slots=True)
class TokenPair:
    access_token: str
    expires_in: int
    refresh_token: str


class Sessions:
    def __init__(
        self,
        uow: IdentityUnitOfWork,
        *,
        hashing: PasswordHashing,
        tokens: AccessTokens,
        refresh_ttl: int,
        on_change: Callable[[], None] = lambda: None,
    ) -> None:
        self._uow = uow
        self._hashing = hashing
        self._tokens = tokens
        self._refresh_ttl = refresh_ttl
        # Called after a change that takes rights away (this replica's authenticator forgets what it cached).
        self._on_change = on_change

    async def login(self, email: str, password: str) -> TokenPair:
        """Tokens for a user's email and password. An unknown email costs as much time as a wrong password, and
        both (and a disabled user) get the same answer."""
        async with self._uow.reading() as repos:
            found = await repos.users.login(email)
        # Outside any connection: verifying takes tens of milliseconds of CPU on purpose.
        matches = await self._hashing.verify_async(found[1] if found else None, password)
        if found is None or not matches or found[0].disabled:
            # Never the email as typed: people type passwords into the wrong field.
            log.warning("failed login for %s", f"user {found[0].id}" if found else "an unknown email")
            raise Unauthenticated(_WRONG_LOGIN)
        user, stored = found
        rehashed = await self._hashing.hash_async(password) if self._hashing.needs_rehash(stored) else None
        refresh = new_refresh_token()
        session_id = str(uuid.uuid4())
        async with self._uow.transaction() as tx:
            if rehashed is not None:
                await tx.repos.users.set_password_hash(user.id, rehashed)
            await tx.repos.refresh_tokens.insert(
                token_hash=secret_hash(refresh), user_id=user.id, family_id=session_id, ttl_seconds=self._refresh_ttl
            )
        log.info("user %s logged in", user.id)
        return TokenPair(self._tokens.issue(user.id, session_id), self._tokens.ttl, refresh)

    async def refresh(self, refresh_token: str) -> TokenPair:
        """New tokens for a refresh token, which is used up. A token used a second time means it leaked: the whole
        family (every token rotated from the same login) is revoked."""
        successor = new_refresh_token()
        async with self._uow.transaction() as tx:
            record = await tx.repos.refresh_tokens.lock(secret_hash(refresh_token))
            if record is None or record.revoked or record.expired:
                raise Unauthenticated(_BAD_REFRESH)
            user = await tx.repos.users.get(record.user_id)
            ended = record.used or user is None or user.disabled
            if ended:
                # Committed although the answer is a refusal: a leaked token must not work again.
                await tx.repos.refresh_tokens.revoke_family(record.family_id)
            else:
                await tx.repos.refresh_tokens.use(record.id)
                await tx.repos.refresh_tokens.insert(
                    token_hash=secret_hash(successor),
                    user_id=record.user_id,
                    family_id=record.family_id,
                    ttl_seconds=self._refresh_ttl,
                )
        if record.used:
            log.warning("refresh token of user %s used twice: its family is revoked", record.user_id)
        if ended:
            self._on_change()
            raise Unauthenticated(_BAD_REFRESH)
        return TokenPair(self._tokens.issue(record.user_id, record.family_id), self._tokens.ttl, successor)

    async def logout(self, subject: Subject, refresh_token: str) -> None:
        """Ends the caller's login the refresh token belongs to, and with it the login's access tokens; anybody
        else's token changes nothing."""
        async with self._uow.transaction() as tx:
            record = await tx.repos.refresh_tokens.lock(secret_hash(refresh_token))
            ended = record is not None and record.user_id == subject.user_id
            if record is not None and ended:
                await tx.repos.refresh_tokens.revoke_family(record.family_id)
        if ended:
            self._on_change()
