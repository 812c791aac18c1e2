"""The pending-action columns the instances and resources tables share, and the statements the engine's claims make
on them (PostgreSQL).

A record's action is due when `pending_action` is set, `next_attempt_at` has passed, nobody holds a live claim on
it (`claimed_until` passed or unset) and its cloud's adapter module is enabled. Claiming sets `claim_token` and
`claimed_until` in one statement, so two workers never both get it; the holder renews the lease while its cloud call
runs, and settles the outcome only while the token is still the row's.
"""

from __future__ import annotations

import uuid
from typing import Any

from kernel.db import Connection

# Rows of clouds whose adapter module is disabled wait: the worker neither carries them out nor follows them.
NOT_HELD = "cloud_id NOT IN (SELECT c.id FROM clouds c JOIN modules m ON m.name = c.driver WHERE NOT m.enabled)"
_DUE = (
    "pending_action IS NOT NULL AND next_attempt_at <= now() AND (claimed_until IS NULL OR claimed_until < now()) "
    f"AND {NOT_HELD}"
)
# A claim whose lease has not run out: the cloud is being called for the row's action.
IN_FLIGHT = "(claim_token IS NOT NULL AND claimed_until >= now()) AS in_flight"
# The assignments that end a claim.
UNCLAIMED = "claim_token = NULL, claimed_until = NULL"


def lease_interval(param: str) -> str:
    return f"make_interval(secs => {param})"


class PendingTable:
    """The claim statements of one table (`instances` or `resources`), on one connection."""

    def __init__(self, conn: Connection, table: str, columns: str) -> None:
        self._conn = conn
        self._table = table
        self._columns = columns

    async def due(self, limit: int) -> list[str]:
        """Ids of the rows whose action is due, the longest due first."""
        rows = await self._conn.fetch(
            f"SELECT id FROM {self._table} WHERE {_DUE} ORDER BY next_attempt_at LIMIT $1", limit
        )
        return [str(r["id"]) for r in rows]

    async def claim(self, record_id: str, token: str, lease: float) -> Any:
        """The row, now held under `token` for `lease` seconds, if its action is due (None otherwise)."""
        return await self._conn.fetchrow(
            f"""UPDATE {self._table} SET claim_token = $2, claimed_until = now() + {lease_interval("$3")}
                WHERE id = $1 AND {_DUE} RETURNING {self._columns}""",
            uuid.UUID(record_id),
            uuid.UUID(token),
            lease,
        )

    async def extend(self, record_id: str, token: str, lease: float) -> bool:
        done = await self._conn.fetchval(
            f"""UPDATE {self._table} SET claimed_until = now() + {lease_interval("$3")}
                WHERE id = $1 AND claim_token = $2 RETURNING true""",
            uuid.UUID(record_id),
            uuid.UUID(token),
            lease,
        )
        return bool(done)

    async def release(self, record_id: str, token: str) -> bool:
        """End the claim, the row otherwise untouched."""
        done = await self._conn.fetchval(
            f"UPDATE {self._table} SET {UNCLAIMED} WHERE id = $1 AND claim_token = $2 RETURNING true",
            uuid.UUID(record_id),
            uuid.UUID(token),
        )
        return bool(done)

    async def discard(self, record_id: str, token: str) -> bool:
        """Delete the row, while the claim is still `token`'s."""
        done = await self._conn.fetchval(
            f"DELETE FROM {self._table} WHERE id = $1 AND claim_token = $2 RETURNING true",
            uuid.UUID(record_id),
            uuid.UUID(token),
        )
        return bool(done)


__all__ = ["IN_FLIGHT", "NOT_HELD", "UNCLAIMED", "PendingTable", "lease_interval"]
