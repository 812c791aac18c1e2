"""The tables of records with pending actions (instances, resources) on PostgreSQL: how their records are written,
and the statements the engine's claims make on them.

A record's action is due when `pending_action` is set, `next_attempt_at` has passed, nobody holds a live claim on
it (`claimed_until` passed or unset) and its cloud's adapter module is enabled. Claiming sets `claim_token` and
`claimed_until` in one statement, so two workers never both get it; the holder renews the lease while its cloud call
runs, and settles the outcome only while the token is still the row's. A request's own save ends any claim: the
user's change supersedes the call in flight.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Generic, TypeVar

from kernel.db import Connection

# Rows of clouds whose adapter module is disabled wait: the worker neither carries them out nor follows them.
NOT_HELD = "cloud_id NOT IN (SELECT c.id FROM clouds c JOIN modules m ON m.name = c.driver WHERE NOT m.enabled)"
_DUE = (
    "pending_action IS NOT NULL AND next_attempt_at <= now() AND (claimed_until IS NULL OR claimed_until < now()) "
    f"AND {NOT_HELD}"
)
# A claim whose lease has not run out: the cloud is being called for the row's action.
IN_FLIGHT = "(claim_token IS NOT NULL AND claimed_until >= now()) AS in_flight"

# Column -> how the record's attribute of that name is stored.
Stored = Mapping[str, Callable[[Any], Any]]
Rec = TypeVar("Rec")


def kept(value: Any) -> Any:
    return value


# The columns every pending record has: those a new row is given once, and those its action's progress changes.
RECORD_COLUMNS: Stored = {
    "id": uuid.UUID,
    "project_id": kept,
    "cloud_id": kept,
    "name": kept,
    "created_at": kept,
    "updated_at": kept,
}
PENDING_COLUMNS: Stored = {
    "provider_id": kept,
    "state": kept,
    "pending_action": kept,
    "attempts": kept,
    "throttled": kept,
    "pending_since": kept,
    "reason": kept,
    "correlation_id": kept,
    "last_event_id": kept,
}


def lease_interval(param: str) -> str:
    return f"make_interval(secs => {param})"


def _token(token: str | None) -> uuid.UUID | None:
    return uuid.UUID(token) if token is not None else None


class PendingTable(Generic[Rec]):
    """A table of records with pending actions, on one connection: `table`, the `columns` a record is read from,
    the `inserted` columns of a new one and the `changing` ones a save writes."""

    table: ClassVar[str]
    columns: ClassVar[str]
    inserted: ClassVar[Stored]
    changing: ClassVar[Stored]

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def _record(self, row: Any) -> Rec:
        raise NotImplementedError

    async def _one(self, where: str, *args: Any) -> Rec | None:
        row = await self._conn.fetchrow(f"SELECT {self.columns} FROM {self.table} WHERE {where}", *args)
        return self._record(row) if row else None

    async def _many(self, where: str, *args: Any) -> list[Rec]:
        rows = await self._conn.fetch(f"SELECT {self.columns} FROM {self.table} WHERE {where}", *args)
        return [self._record(r) for r in rows]

    async def _insert(self, record: Any, *, claim: str | None = None, lease: float = 0.0) -> None:
        """Insert a new record; with `claim`, held by it for `lease` seconds."""
        n = len(self.inserted)
        await self._conn.execute(
            f"""INSERT INTO {self.table} ({", ".join(self.inserted)}, claim_token, claimed_until)
                VALUES ({", ".join(f"${i}" for i in range(1, n + 1))}, ${n + 1},
                        CASE WHEN ${n + 1}::uuid IS NULL THEN NULL ELSE now() + {lease_interval(f"${n + 2}")} END)""",
            *[store(getattr(record, column)) for column, store in self.inserted.items()],
            _token(claim),
            lease,
        )

    async def _write(
        self,
        record: Any,
        *,
        retry_in: float = 0.0,
        only_for: str | None = None,
        hold: str | None = None,
        lease: float = 0.0,
    ) -> Rec | None:
        """Save the record's changing fields, due after `retry_in` seconds; the claim becomes `hold`'s for `lease`
        seconds (or ends), and the row is written only while `only_for` holds it, when given (None otherwise)."""
        n = len(self.changing) + 1
        assignments = ", ".join(f"{column} = ${i}" for i, column in enumerate(self.changing, start=2))
        row = await self._conn.fetchrow(
            f"""UPDATE {self.table} SET {assignments}, updated_at = now(),
                    next_attempt_at = now() + {lease_interval(f"${n + 1}")}, claim_token = ${n + 2},
                    claimed_until = CASE WHEN ${n + 2}::uuid IS NULL THEN NULL
                                         ELSE now() + {lease_interval(f"${n + 3}")} END
                WHERE id = $1 AND (${n + 4}::uuid IS NULL OR claim_token = ${n + 4}) RETURNING {self.columns}""",
            uuid.UUID(record.id),
            *[store(getattr(record, column)) for column, store in self.changing.items()],
            retry_in,
            _token(hold),
            lease,
            _token(only_for),
        )
        return self._record(row) if row else None

    async def save(self, record: Any) -> Rec:
        """Save a changed record; a request's change ends a claim on it (the call in flight is superseded)."""
        saved = await self._write(record)
        if saved is None:
            raise LookupError(f"{self.table} has no record {record.id}")
        return saved

    async def settle(self, record: Any, token: str, *, retry_in: float) -> Rec | None:
        return await self._write(record, retry_in=retry_in, only_for=token)

    async def due(self, limit: int) -> list[str]:
        """Ids of the rows whose action is due, the longest due first."""
        rows = await self._conn.fetch(
            f"SELECT id FROM {self.table} WHERE {_DUE} ORDER BY next_attempt_at LIMIT $1", limit
        )
        return [str(r["id"]) for r in rows]

    async def claim(self, record_id: str, token: str, lease: float) -> Rec | None:
        """The record, now held under `token` for `lease` seconds, if its action is due (None otherwise)."""
        row = await self._conn.fetchrow(
            f"""UPDATE {self.table} SET claim_token = $2, claimed_until = now() + {lease_interval("$3")}
                WHERE id = $1 AND {_DUE} RETURNING {self.columns}""",
            uuid.UUID(record_id),
            uuid.UUID(token),
            lease,
        )
        return self._record(row) if row else None

    async def _held(self, change: str, record_id: str, token: str, *args: Any) -> bool:
        done = await self._conn.fetchval(
            f"{change} WHERE id = $1 AND claim_token = $2 RETURNING true", uuid.UUID(record_id), uuid.UUID(token), *args
        )
        return bool(done)

    async def extend(self, record_id: str, token: str, lease: float) -> bool:
        return await self._held(
            f"UPDATE {self.table} SET claimed_until = now() + {lease_interval('$3')}", record_id, token, lease
        )

    async def release(self, record_id: str, token: str) -> bool:
        """End the claim, the row otherwise untouched."""
        return await self._held(f"UPDATE {self.table} SET claim_token = NULL, claimed_until = NULL", record_id, token)

    async def discard(self, record_id: str, token: str) -> bool:
        """Delete the row, while the claim is still `token`'s."""
        return await self._held(f"DELETE FROM {self.table}", record_id, token)


__all__ = [
    "IN_FLIGHT",
    "NOT_HELD",
    "PENDING_COLUMNS",
    "RECORD_COLUMNS",
    "PendingTable",
    "Stored",
    "kept",
    "lease_interval",
]
