"""The boot follower's statements on the `instances` table: which boots are due for a console reading, and saving the
progress of the boots a pass read (one statement for all of them). Only these write the `boot` column once an
instance is recorded, so that an action's settlement, which writes the columns its record changes, never undoes a
reading."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any, Protocol

from kernel.db import Connection, from_row

__all__ = ["Booting", "BootRepository", "BootSaved", "DueBoot", "PostgresBootRepository"]


@dataclass(frozen=True, slots=True)
class DueBoot:
    """What reading a booting instance's console needs of it."""

    id: str
    cloud_id: str
    provider_id: str | None
    state: str


@dataclass(frozen=True, slots=True)
class Booting:
    """What keeping a reading needs of a booting instance: its state, its boot section, what the boot's events name,
    and what they are chained to."""

    id: str
    project_id: str
    cloud_id: str
    correlation_id: str
    last_event_id: str | None
    state: str
    created_at: datetime
    template_id: str | None
    template_version: int | None
    boot: Mapping[str, Any]


_BOOTING = ", ".join(f.name for f in fields(Booting))


@dataclass(frozen=True, slots=True)
class BootSaved:
    """A boot's progress as a reading left it: when it is read next (None: it is over) and the instance's last event
    (None: unchanged)."""

    instance_id: str
    boot: Mapping[str, Any]
    read_at: datetime | None
    last_event_id: str | None


class BootRepository(Protocol):
    async def due(self, limit: int, first_after: timedelta) -> list[DueBoot]:
        """Instances whose boot is under way and due for a reading, the longest waiting first; a boot never read yet
        is due once its instance runs, or `first_after` its launch was asked for, whichever comes first."""
        ...

    async def lock(self, instance_ids: Sequence[str]) -> list[Booting]:
        """Lock those of the instances that still exist and have a boot section, in the order of their ids (two passes
        never wait on each other in a cycle)."""
        ...

    async def save(self, saved: Sequence[BootSaved]) -> None:
        """Save the progress of boots."""
        ...


class PostgresBootRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def due(self, limit: int, first_after: timedelta) -> list[DueBoot]:
        rows = await self._conn.fetch(
            """SELECT id, cloud_id, provider_id, state FROM instances
                WHERE boot->>'state' IN ('pending', 'running')
                  AND (coalesce(boot_read_at, created_at + $2) <= now() OR (boot_read_at IS NULL AND state = 'running'))
                ORDER BY coalesce(boot_read_at, created_at + $2) LIMIT $1""",
            limit,
            first_after,
        )
        return [from_row(DueBoot, r) for r in rows]

    async def lock(self, instance_ids: Sequence[str]) -> list[Booting]:
        rows = await self._conn.fetch(
            f"""SELECT {_BOOTING} FROM instances WHERE id = ANY($1::uuid[]) AND boot IS NOT NULL
                ORDER BY id FOR UPDATE""",
            [uuid.UUID(i) for i in instance_ids],
        )
        return [from_row(Booting, r) for r in rows]

    async def save(self, saved: Sequence[BootSaved]) -> None:
        if not saved:
            return
        await self._conn.execute(
            """UPDATE instances AS i SET boot = s.boot, boot_read_at = s.read_at,
                      last_event_id = coalesce(s.last_event_id, i.last_event_id)
               FROM unnest($1::uuid[], $2::jsonb[], $3::timestamptz[], $4::uuid[])
                    AS s(id, boot, read_at, last_event_id)
               WHERE i.id = s.id""",
            [uuid.UUID(s.instance_id) for s in saved],
            [dict(s.boot) for s in saved],
            [s.read_at for s in saved],
            [uuid.UUID(s.last_event_id) if s.last_event_id else None for s in saved],
        )
