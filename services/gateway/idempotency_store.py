"""The gateway's table of idempotency keys (`gateway.idempotency_keys`, migration 0002).

A key is claimed with one upsert that either inserts it (first request) or takes over a claim whose lease has run out
(the gateway holding it crashed); the database clock decides leases, so replicas need not agree on time.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import asyncpg

from kernel import db

log = logging.getLogger(__name__)

PURGE_BATCH = 5000

_CLAIM = """
INSERT INTO idempotency_keys AS k (project_id, key, fingerprint, state, claim, locked_until)
VALUES ($1, $2, $3, 'in_progress', $4, now() + make_interval(secs => $5))
ON CONFLICT (project_id, key) DO UPDATE
    SET claim = EXCLUDED.claim, locked_until = EXCLUDED.locked_until
    WHERE k.state = 'in_progress' AND k.locked_until < now() AND k.fingerprint = EXCLUDED.fingerprint
RETURNING claim
"""

_GET = """
SELECT fingerprint, state, status, headers, body, locked_until < now() AS expired
FROM idempotency_keys WHERE project_id = $1 AND key = $2
"""

_COMPLETE = """
UPDATE idempotency_keys
SET state = 'completed', status = $4, headers = $5, body = $6, completed_at = now(), locked_until = NULL
WHERE project_id = $1 AND key = $2 AND claim = $3 AND state = 'in_progress'
"""

_RELEASE = "DELETE FROM idempotency_keys WHERE project_id = $1 AND key = $2 AND claim = $3 AND state = 'in_progress'"

_PURGE = """
DELETE FROM idempotency_keys WHERE ctid = ANY(ARRAY(
    SELECT ctid FROM idempotency_keys WHERE created_at < now() - make_interval(secs => $1) LIMIT $2
))
"""


@dataclass(frozen=True, slots=True)
class StoredAnswer:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


@dataclass(frozen=True, slots=True)
class KeyRecord:
    fingerprint: bytes
    answer: StoredAnswer | None  # None while the first request runs
    expired: bool  # an in-progress claim whose lease has run out


class IdempotencyStore:
    def __init__(self, pool: Callable[[], db.Pool]) -> None:
        self._pool = pool

    async def claim(self, project_id: str, key: str, fingerprint: bytes, lease: float) -> uuid.UUID | None:
        """The claim's token when this request now holds the key; None when another request holds or answered it."""
        token = uuid.uuid4()
        won: Any = await self._pool().fetchval(_CLAIM, project_id, key, fingerprint, token, lease)
        return token if won == token else None

    async def get(self, project_id: str, key: str) -> KeyRecord | None:
        row = await self._pool().fetchrow(_GET, project_id, key)
        if row is None:
            return None
        answer = None
        if row["state"] == "completed":
            headers = [(str(name), str(value)) for name, value in row["headers"]]
            answer = StoredAnswer(int(row["status"]), headers, bytes(row["body"]))
        return KeyRecord(bytes(row["fingerprint"]), answer, bool(row["expired"]))

    async def complete(self, project_id: str, key: str, token: uuid.UUID, answer: StoredAnswer) -> bool:
        """Store the answer; False when the claim was lost (taken over after its lease ran out)."""
        headers = [list(pair) for pair in answer.headers]
        result = await self._pool().execute(_COMPLETE, project_id, key, token, answer.status, headers, answer.body)
        return bool(result == "UPDATE 1")

    async def release(self, project_id: str, key: str, token: uuid.UUID) -> None:
        """Forget the claim so that the request may be sent again."""
        await self._pool().execute(_RELEASE, project_id, key, token)

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


__all__ = ["IdempotencyStore", "KeyRecord", "StoredAnswer", "purge_forever"]
