"""The boot follower's statements on the `instances` table: which boots are due for a console reading, and saving a
boot's progress. Only these write the `boot` column once an instance is recorded, so that an action's settlement,
which writes the columns its record changes, never undoes a reading."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, Protocol

from kernel.db import Connection
from services.provisioner.instances.domain import InstanceRecord
from services.provisioner.instances.repository import COLUMNS, record_of

__all__ = ["BootRepository", "PostgresBootRepository"]


class BootRepository(Protocol):
    async def due(self, limit: int, first_after: timedelta) -> list[InstanceRecord]:
        """Instances whose boot is under way and due for a reading, the longest waiting first; a boot never read yet
        is due `first_after` its launch was asked for."""
        ...

    async def save(
        self, instance_id: str, boot: Mapping[str, Any], read_at: datetime | None, last_event_id: str | None
    ) -> None:
        """Save a boot's progress, when it is read next (None: it is over) and the instance's last event."""
        ...


class PostgresBootRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def due(self, limit: int, first_after: timedelta) -> list[InstanceRecord]:
        rows = await self._conn.fetch(
            f"""SELECT {COLUMNS} FROM instances
                WHERE boot->>'state' IN ('pending', 'running') AND coalesce(boot_read_at, created_at + $2) <= now()
                ORDER BY coalesce(boot_read_at, created_at + $2) LIMIT $1""",
            limit,
            first_after,
        )
        return [record_of(r) for r in rows]

    async def save(
        self, instance_id: str, boot: Mapping[str, Any], read_at: datetime | None, last_event_id: str | None
    ) -> None:
        await self._conn.execute(
            """UPDATE instances SET boot = $2, boot_read_at = $3, last_event_id = coalesce($4::uuid, last_event_id)
               WHERE id = $1""",
            uuid.UUID(instance_id),
            dict(boot),
            read_at,
            uuid.UUID(last_event_id) if last_event_id else None,
        )
