"""The `silences` table. Every lookup carries the project."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kernel.db import Connection
from kernel.keyset import Column, Listing, PageRequest, Where, fetch_page
from services.alerts.silences.domain import Matcher, Silence, Weekly, matchers_json

_COLUMNS = "id, project_id, matchers, starts_at, ends_at, weekly, comment, created_by, created_at"
SILENCE_LISTING = Listing(
    f"SELECT {_COLUMNS} FROM silences",
    {"created_at": Column("created_at", "timestamptz"), "ends_at": Column("ends_at", "timestamptz")},
    Column("id", "uuid"),
    default_order="desc",
)


@dataclass(frozen=True)
class SilenceFilter:
    project_id: str
    # "active" (not ended yet) or "expired"; None: all
    state: str | None = None
    now: datetime | None = None


def _silence(row: Any) -> Silence:
    return Silence(
        id=str(row["id"]),
        project_id=row["project_id"],
        matchers=tuple(Matcher(**m) for m in row["matchers"]),
        starts_at=row["starts_at"],
        ends_at=row["ends_at"],
        weekly=None if row["weekly"] is None else Weekly.from_json(row["weekly"]),
        comment=row["comment"],
        created_by=row["created_by"],
        created_at=row["created_at"],
    )


class SilenceRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def add(self, s: Silence) -> None:
        await self._conn.execute(
            f"INSERT INTO silences ({_COLUMNS}) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)",
            uuid.UUID(s.id),
            s.project_id,
            matchers_json(s.matchers),
            s.starts_at,
            s.ends_at,
            None if s.weekly is None else s.weekly.as_json(),
            s.comment,
            s.created_by,
            s.created_at,
        )

    async def get(self, project_id: str, silence_id: str) -> Silence | None:
        try:
            key = uuid.UUID(silence_id)
        except ValueError:
            return None
        row = await self._conn.fetchrow(
            f"SELECT {_COLUMNS} FROM silences WHERE id = $1 AND project_id = $2", key, project_id
        )
        return None if row is None else _silence(row)

    async def expire(self, project_id: str, silence_id: str, now: datetime) -> None:
        await self._conn.execute(
            "UPDATE silences SET ends_at = LEAST(ends_at, $3) WHERE id = $1 AND project_id = $2",
            uuid.UUID(silence_id),
            project_id,
            now,
        )

    async def in_force(self, project_id: str, now: datetime) -> list[Silence]:
        """The project's silences between their start and end (a recurring one may still be outside its window)."""
        rows = await self._conn.fetch(
            f"SELECT {_COLUMNS} FROM silences WHERE project_id = $1 AND starts_at <= $2 AND ends_at > $2",
            project_id,
            now,
        )
        return [_silence(r) for r in rows]

    async def page(self, flt: SilenceFilter, request: PageRequest) -> tuple[list[Silence], str | None]:
        where = Where().add("project_id = {}", flt.project_id)
        if flt.state == "active":
            where.add("ends_at > {}", flt.now)
        elif flt.state == "expired":
            where.add("ends_at <= {}", flt.now)
        return await fetch_page(self._conn, SILENCE_LISTING, where, request, _silence)
