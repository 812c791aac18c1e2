"""The gateway's table of idempotency keys (`gateway.idempotency_keys`, migrations 0002 and 0003).

A key belongs to one caller (principal) in one project. It is claimed with one upsert that either inserts it (first
request) or takes over a claim whose lease has run out (the gateway holding it crashed); the database clock decides
leases, so replicas need not agree on time. A stored answer's headers and body are sealed with the gateway's keyring
(envelope encryption, bound to the key's row): an answer may hold a new API key or a generated private key, and
nobody who reads the table can learn it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import asyncpg

from kernel import db
from kernel.crypto import CryptoError, Keyring, Sealed

log = logging.getLogger(__name__)

PURGE_BATCH = 5000
# The keyring purpose of stored answers: their keys are derived apart from those of cloud credentials.
SEALING_PURPOSE = "gateway idempotent answers"

_CLAIM = """
INSERT INTO idempotency_keys AS k (project_id, principal, key, authority, fingerprint, state, claim, locked_until)
VALUES ($1, $2, $3, $4, $5, 'in_progress', $6, now() + make_interval(secs => $7))
ON CONFLICT (project_id, principal, key) DO UPDATE
    SET claim = EXCLUDED.claim, locked_until = EXCLUDED.locked_until
    WHERE k.state = 'in_progress' AND k.locked_until < now() AND k.fingerprint = EXCLUDED.fingerprint
        AND k.authority = EXCLUDED.authority
RETURNING claim
"""

_GET = """
SELECT fingerprint, authority, state, status, answer, locked_until < now() AS expired
FROM idempotency_keys WHERE project_id = $1 AND principal = $2 AND key = $3
"""

_COMPLETE = """
UPDATE idempotency_keys
SET state = 'completed', status = $5, answer = $6, completed_at = now(), locked_until = NULL
WHERE project_id = $1 AND principal = $2 AND key = $3 AND claim = $4 AND state = 'in_progress'
"""

_RELEASE = """
DELETE FROM idempotency_keys
WHERE project_id = $1 AND principal = $2 AND key = $3 AND claim = $4 AND state = 'in_progress'
"""

_PURGE = """
DELETE FROM idempotency_keys WHERE ctid = ANY(ARRAY(
    SELECT ctid FROM idempotency_keys WHERE created_at < now() - make_interval(secs => $1) LIMIT $2
))
"""


@dataclass(frozen=True, slots=True)
class KeyOwner:
    """Whose key it is: the project and the principal, and the key the client chose."""

    project_id: str
    principal: str
    key: str

    @property
    def record_id(self) -> str:
        """What a sealed answer is bound to: it opens on this row only."""
        return json.dumps(["idempotency", self.project_id, self.principal, self.key])


@dataclass(frozen=True, slots=True)
class StoredAnswer:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


@dataclass(frozen=True, slots=True)
class KeyRecord:
    fingerprint: bytes
    authority: str
    answer: StoredAnswer | None  # None while the first request runs
    expired: bool  # an in-progress claim whose lease has run out


class UnreadableAnswer(Exception):
    """A stored answer no key of the keyring opens (altered, or sealed with a key since dropped)."""


def seal_answer(keyring: Keyring, owner: KeyOwner, answer: StoredAnswer) -> bytes:
    headers = json.dumps(answer.headers, separators=(",", ":")).encode()
    plain = len(headers).to_bytes(4, "big") + headers + answer.body
    return keyring.seal(plain, record_id=owner.record_id).to_bytes()


def open_answer(keyring: Keyring, owner: KeyOwner, status: int, sealed: bytes) -> StoredAnswer:
    try:
        plain = keyring.open(Sealed.from_bytes(sealed), record_id=owner.record_id)
    except CryptoError as exc:
        raise UnreadableAnswer(str(exc)) from None
    size = int.from_bytes(plain[:4], "big")
    headers = [(str(name), str(value)) for name, value in json.loads(plain[4 : 4 + size])]
    return StoredAnswer(status, headers, plain[4 + size :])


class IdempotencyStore:
    def __init__(self, pool: Callable[[], db.Pool], keyring: Keyring) -> None:
        self._pool = pool
        self._keyring = keyring

    async def claim(self, owner: KeyOwner, authority: str, fingerprint: bytes, lease: float) -> uuid.UUID | None:
        """The claim's token when this request now holds the key; None when another request holds or answered it."""
        token = uuid.uuid4()
        won: Any = await self._pool().fetchval(
            _CLAIM, owner.project_id, owner.principal, owner.key, authority, fingerprint, token, lease
        )
        return token if won == token else None

    async def get(self, owner: KeyOwner) -> KeyRecord | None:
        """The key's record; raises UnreadableAnswer when its stored answer does not open."""
        row = await self._pool().fetchrow(_GET, owner.project_id, owner.principal, owner.key)
        if row is None:
            return None
        answer = None
        if row["state"] == "completed":
            answer = open_answer(self._keyring, owner, int(row["status"]), bytes(row["answer"]))
        return KeyRecord(bytes(row["fingerprint"]), str(row["authority"]), answer, bool(row["expired"]))

    async def complete(self, owner: KeyOwner, token: uuid.UUID, answer: StoredAnswer) -> bool:
        """Store the answer; False when the claim was lost (taken over after its lease ran out)."""
        sealed = seal_answer(self._keyring, owner, answer)
        result = await self._pool().execute(
            _COMPLETE, owner.project_id, owner.principal, owner.key, token, answer.status, sealed
        )
        return bool(result == "UPDATE 1")

    async def release(self, owner: KeyOwner, token: uuid.UUID) -> None:
        """Forget the claim so that the request may be sent again."""
        await self._pool().execute(_RELEASE, owner.project_id, owner.principal, owner.key, token)

    async def purge(self, ttl: timedelta, *, batch: int = PURGE_BATCH) -> int:
        """Delete keys created more than `ttl` ago, in batches (each its own short transaction); returns how many."""
        total = 0
        while True:
            result = await self._pool().execute(_PURGE, ttl.total_seconds(), batch)
            deleted = int(result.split()[-1])
            total += deleted
            if deleted < batch:
                return total


async def purge_forever(store: IdempotencyStore, ttl: timedelta, *, every: float = 600.0) -> None:
    """Purge expired keys every `every` seconds until cancelled; every replica may run it (deletes are harmless)."""
    while True:
        try:
            deleted = await store.purge(ttl)
            if deleted:
                log.info("purged %d idempotency keys older than %s", deleted, ttl)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, RuntimeError) as exc:
            log.warning("idempotency key purge failed: %s", exc)
        await asyncio.sleep(every)


__all__ = [
    "SEALING_PURPOSE",
    "IdempotencyStore",
    "KeyOwner",
    "KeyRecord",
    "StoredAnswer",
    "UnreadableAnswer",
    "open_answer",
    "purge_forever",
    "seal_answer",
]
