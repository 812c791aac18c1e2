"""A group's activities (what it did, in words) and its history (desired, actual and the metric, over time)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from kernel.db import Connection
from kernel.keyset import Column, Listing, PageRequest, Where, fetch_page

__all__ = ["Activity", "ActivityRepository", "HistoryPoint", "HistoryRepository"]

_ACTIVITY = "id, group_id, at, kind, instance_id, description, details"
ACTIVITY_LISTING = Listing(
    f"SELECT {_ACTIVITY} FROM activities", {"at": Column("at", "timestamptz")}, Column("id", "bigint")
)


@dataclass(frozen=True, slots=True)
class Activity:
    group_id: str
    kind: str
    description: str
    instance_id: str | None = None
    details: dict[str, Any] | None = None
    id: int = 0
    at: datetime | None = None


@dataclass(frozen=True, slots=True)
class HistoryPoint:
    at: datetime
    desired: int
    actual: int
    metric: str | None
    value: float | None


def _activity(row: asyncpg.Record) -> Activity:
    return Activity(
        id=row["id"],
        group_id=row["group_id"],
        at=row["at"],
        kind=row["kind"],
        instance_id=row["instance_id"],
        description=row["description"],
        details=row["details"],
    )


class ActivityRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def add_many(self, project_id: str, activities: Sequence[Activity]) -> None:
        if not activities:
            return
        await self._conn.executemany(
            "INSERT INTO activities (group_id, project_id, kind, instance_id, description, details)"
            " VALUES ($1, $2, $3, $4, $5, $6)",
            [(a.group_id, project_id, a.kind, a.instance_id, a.description, a.details or {}) for a in activities],
        )

    async def page(self, group_id: str, request: PageRequest) -> tuple[list[Activity], str | None]:
        return await fetch_page(
            self._conn, ACTIVITY_LISTING, Where().add("group_id = {}", group_id), request, _activity
        )


class HistoryRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def add_many(self, points: Sequence[tuple[str, HistoryPoint]]) -> None:
        if not points:
            return
        await self._conn.execute(
            "INSERT INTO history (group_id, at, desired, actual, metric, value)"
            " SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::integer[], $4::integer[], $5::text[],"
            " $6::double precision[])",
            [g for g, _ in points],
            [p.at for _, p in points],
            [p.desired for _, p in points],
            [p.actual for _, p in points],
            [p.metric for _, p in points],
            [p.value for _, p in points],
        )

    async def series(self, group_id: str, since: datetime, limit: int) -> list[HistoryPoint]:
        rows = await self._conn.fetch(
            "SELECT at, desired, actual, metric, value FROM ("
            " SELECT * FROM history WHERE group_id = $1 AND at >= $2 ORDER BY at DESC LIMIT $3) recent ORDER BY at",
            group_id,
            since,
            limit,
        )
        return [HistoryPoint(**dict(r)) for r in rows]

    async def prune(self, before: datetime) -> None:
        await self._conn.execute("DELETE FROM history WHERE at < $1", before)
