"""The `commands` table: each command the provisioner received, until it is carried out or refused."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

from kernel.db import Connection

State = Literal["pending", "replacing", "done", "refused"]
COLUMNS = (
    "id, project_id, type, payload, requested_by, correlation_id, state, makes_instance, attempts, reason, "
    "created_at, updated_at"
)


@dataclass(frozen=True, slots=True)
class CommandRecord:
    id: str
    project_id: str
    type: str
    payload: dict[str, Any]
    requested_by: str
    correlation_id: str
    state: State
    # The instance a launch or a replacement makes (the sender chose its id).
    makes_instance: str | None
    attempts: int
    reason: str | None
    created_at: datetime
    updated_at: datetime


def _record(row: Any) -> CommandRecord:
    payload = row["payload"]
    return CommandRecord(
        id=str(row["id"]),
        project_id=row["project_id"],
        type=row["type"],
        payload=json.loads(payload) if isinstance(payload, str) else dict(payload),
        requested_by=row["requested_by"],
        correlation_id=row["correlation_id"],
        state=row["state"],
        makes_instance=None if row["makes_instance"] is None else str(row["makes_instance"]),
        attempts=row["attempts"],
        reason=row["reason"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


class CommandRepository(Protocol):
    async def add(self, record: CommandRecord) -> bool:
        """Record a command; False (nothing written) when it, or another naming the instance it makes, was."""
        ...

    async def claim(self, lease: float) -> CommandRecord | None:
        """The oldest pending command no worker holds, held now for `lease` seconds."""
        ...

    async def replacing(self) -> list[CommandRecord]:
        """Replacements whose new instance has settled (running, or failed or ended): each to finish."""
        ...

    async def lock(self, command_id: str) -> CommandRecord | None: ...

    async def settle(self, command_id: str, state: State, *, reason: str | None = None) -> None:
        """Move a command on (a worker's hold ends)."""
        ...

    async def later(self, command_id: str, seconds: float, reason: str) -> None:
        """Try a command again after `seconds` (its cloud was away)."""
        ...


class PostgresCommandRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def add(self, record: CommandRecord) -> bool:
        row = await self._conn.fetchrow(
            f"""INSERT INTO commands ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
                ON CONFLICT DO NOTHING RETURNING id""",  # noqa: S608 - constant columns
            uuid.UUID(record.id),
            record.project_id,
            record.type,
            record.payload,
            record.requested_by,
            record.correlation_id,
            record.state,
            None if record.makes_instance is None else uuid.UUID(record.makes_instance),
            record.attempts,
            record.reason,
            record.created_at,
            record.updated_at,
        )
        return row is not None

    async def claim(self, lease: float) -> CommandRecord | None:
        row = await self._conn.fetchrow(
            f"""UPDATE commands SET claimed_until = now() + make_interval(secs => $1), attempts = attempts + 1
                WHERE id = (SELECT id FROM commands
                            WHERE state = 'pending' AND (claimed_until IS NULL OR claimed_until < now())
                            ORDER BY created_at LIMIT 1 FOR UPDATE SKIP LOCKED)
                RETURNING {COLUMNS}""",  # noqa: S608 - constant columns
            lease,
        )
        return _record(row) if row else None

    async def replacing(self) -> list[CommandRecord]:
        rows = await self._conn.fetch(
            f"""SELECT {", ".join(f"c.{c.strip()}" for c in COLUMNS.split(","))} FROM commands c
                JOIN instances i ON i.id = c.makes_instance
                WHERE c.state = 'replacing' AND i.pending_action IS NULL
                  AND i.state IN ('running', 'error', 'terminated', 'gone', 'rejected')
                ORDER BY c.created_at LIMIT 100"""  # noqa: S608 - constant columns
        )
        return [_record(r) for r in rows]

    async def lock(self, command_id: str) -> CommandRecord | None:
        row = await self._conn.fetchrow(
            f"SELECT {COLUMNS} FROM commands WHERE id = $1 FOR UPDATE",  # noqa: S608 - constant columns
            uuid.UUID(command_id),
        )
        return _record(row) if row else None

    async def settle(self, command_id: str, state: State, *, reason: str | None = None) -> None:
        await self._conn.execute(
            """UPDATE commands SET state = $2, reason = coalesce($3, reason), claimed_until = NULL, updated_at = now()
               WHERE id = $1""",
            uuid.UUID(command_id),
            state,
            reason,
        )

    async def later(self, command_id: str, seconds: float, reason: str) -> None:
        await self._conn.execute(
            """UPDATE commands SET claimed_until = now() + make_interval(secs => $2), reason = $3, updated_at = now()
               WHERE id = $1""",
            uuid.UUID(command_id),
            seconds,
            reason,
        )


__all__ = ["CommandRecord", "CommandRepository", "PostgresCommandRepository", "State"]
