"""Logging in, refreshing and logging out: the use cases of a login, which is a family of refresh tokens whose access
tokens carry its id and end with it.

A refresh token works once; a second use means it leaked, and ends the login. One renewal may still reach the gateway
twice at once when several replicas serve one client (the web console's session is one cookie, and two of its
requests may both find its access token due): a renewal that carries a renewal key (a secret of the client's, derived
from the refresh token by a key the replicas share) keeps its successor sealed for `renewal_grace` seconds, and the
same renewal with the same key answers that same successor again (with a new access token). Without the key, or with
another one, or later, a second use still ends the login.

No password, hash or token reaches a log line.
"""

from __future__ import annotations

import hmac
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from kernel.crypto import CryptoError, Keyring, Sealed
from kernel.errors import Unauthenticated
from services.gateway.identity.domain import RefreshRecord, Subject
from services.gateway.identity.passwords import PasswordHashing
from services.gateway.identity.ports import IdentityUnitOfWork
from services.gateway.identity.tokens import AccessTokens, new_refresh_token, secret_hash

__all__ = ["RENEWAL_GRACE", "Sessions", "TokenPair"]

log = logging.getLogger(__name__)

_WRONG_LOGIN = "The email or the password is wrong."
_BAD_REFRESH = "The refresh token is not valid; log in again."
# How long a renewal made with a renewal key answers its successor again to the same renewal.
RENEWAL_GRACE = 30.0


def _successor_record(token_id: str) -> str:
    return f"gateway.refresh_tokens/{token_id}/successor"


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
        keyring: Keyring | None = None,
        renewal_grace: float = RENEWAL_GRACE,
    ) -> None:
        """`keyring` seals the successors kept for renewals made with a renewal key (without one, none is kept and
        every second use ends the login)."""
        self._keyring = keyring
        self._renewal_grace = renewal_grace
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

    async def refresh(self, refresh_token: str, renewal_key: str | None = None) -> TokenPair:
        """New tokens for a refresh token, which is used up. A token used a second time means it leaked: the whole
        family (every token rotated from the same login) is revoked; unless it is the same renewal again, with the
        same `renewal_key`, within the grace, which answers the same successor."""
        successor = new_refresh_token()
        key_hash = secret_hash(renewal_key) if renewal_key and self._keyring is not None else None
        again: str | None = None
        async with self._uow.transaction() as tx:
            record = await tx.repos.refresh_tokens.lock(secret_hash(refresh_token))
            if record is None or record.revoked or record.expired:
                raise Unauthenticated(_BAD_REFRESH)
            user = await tx.repos.users.get(record.user_id)
            if record.used:
                again = self._same_renewal(record, key_hash)
            ended = (record.used and again is None) or user is None or user.disabled
            if ended:
                # Committed although the answer is a refusal: a leaked token must not work again.
                await tx.repos.refresh_tokens.revoke_family(record.family_id)
            elif again is None:
                kept = None
                if key_hash is not None and self._keyring is not None:
                    kept = self._keyring.seal(successor.encode(), record_id=_successor_record(record.id)).to_bytes()
                await tx.repos.refresh_tokens.use(record.id, renewal_key_hash=key_hash, successor=kept)
                await tx.repos.refresh_tokens.insert(
                    token_hash=secret_hash(successor),
                    user_id=record.user_id,
                    family_id=record.family_id,
                    ttl_seconds=self._refresh_ttl,
                )
                await tx.repos.refresh_tokens.forget_successors(record.family_id, older_than=self._renewal_grace)
        if record.used and again is None:
            log.warning("refresh token of user %s used twice: its family is revoked", record.user_id)
        if ended:
            self._on_change()
            raise Unauthenticated(_BAD_REFRESH)
        return TokenPair(self._tokens.issue(record.user_id, record.family_id), self._tokens.ttl, again or successor)

    def _same_renewal(self, used: RefreshRecord, key_hash: str | None) -> str | None:
        """The successor a used token was traded for, when this is the same renewal again (its key, in time)."""
        if key_hash is None or used.renewal_key_hash is None or used.successor is None or self._keyring is None:
            return None
        if used.used_seconds_ago is None or used.used_seconds_ago > self._renewal_grace:
            return None
        if not hmac.compare_digest(key_hash, used.renewal_key_hash):
            return None
        try:
            sealed = Sealed.from_bytes(used.successor)
            return self._keyring.open(sealed, record_id=_successor_record(used.id)).decode()
        except (CryptoError, ValueError):
            return None

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
