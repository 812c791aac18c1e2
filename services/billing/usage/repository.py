"""The `resources` and `facts` tables: what billing learned of each resource, and the lifecycle facts it is billed
by. The service's own passes (its consumer, its hourly pass) read by resource id; requests never read them."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from kernel.db import Connection
from services.billing.usage.domain import Change, Fact, Kind, Resource


def _resource(row: Any) -> Resource:
    a = row["attributes"]
    return Resource(
        id=row["id"],
        kind=Kind(row["kind"]),
        project_id=row["project_id"],
        cloud_id=row["cloud_id"],
        name=a.get("name") or "",
        flavor_id=a.get("flavor_id"),
        image_id=a.get("image_id"),
        size_gb=int(a.get("size_gb") or 0),
        region=a.get("region"),
        tags=a.get("tags") or {},
        cluster_id=a.get("cluster_id"),
        template_id=a.get("template_id"),
        scaling_group_id=a.get("scaling_group_id"),
    )


class UsageRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def learn(
        self, kind: Kind, resource_id: str, project_id: str, cloud_id: str, attributes: dict[str, Any]
    ) -> None:
        """Create the resource or add what an event told of it; attributes already known are kept unless told anew
        (null values never hide a known one)."""
        told = {k: v for k, v in attributes.items() if v is not None}
        await self._conn.execute(
            """INSERT INTO resources (id, kind, project_id, cloud_id, attributes) VALUES ($1, $2, $3, $4, $5)
               ON CONFLICT (id) DO UPDATE SET attributes = resources.attributes || EXCLUDED.attributes""",
            resource_id,
            kind.value,
            project_id,
            cloud_id,
            told,
        )

    async def lock(self, resource_id: str) -> Resource | None:
        row = await self._conn.fetchrow(
            "SELECT id, kind, project_id, cloud_id, attributes FROM resources WHERE id = $1 FOR UPDATE", resource_id
        )
        return None if row is None else _resource(row)

    async def add_fact(self, resource_id: str, fact: Fact, event_id: uuid.UUID) -> bool:
        """False when the fact was known already (a replay, whatever its event id)."""
        row = await self._conn.fetchrow(
            """INSERT INTO facts (resource_id, at, change, flavor_id, event_id) VALUES ($1, $2, $3, $4, $5)
               ON CONFLICT DO NOTHING RETURNING 1""",
            resource_id,
            fact.at,
            fact.change.value,
            fact.flavor_id,
            event_id,
        )
        return row is not None

    async def facts(self, resource_id: str) -> list[Fact]:
        rows = await self._conn.fetch("SELECT at, change, flavor_id FROM facts WHERE resource_id = $1", resource_id)
        return [Fact(r["at"], Change(r["change"]), r["flavor_id"]) for r in rows]

    async def rated(self, resource_id: str, *, open_: bool, until: datetime) -> None:
        await self._conn.execute(
            "UPDATE resources SET open = $2, rated_until = $3 WHERE id = $1", resource_id, open_, until
        )

    async def open_before(self, horizon: datetime, limit: int) -> list[str]:
        """Resources billed now whose hours were rated only up to before `horizon`."""
        rows = await self._conn.fetch(
            "SELECT id FROM resources WHERE open AND rated_until < $1 ORDER BY rated_until LIMIT $2", horizon, limit
        )
        return [r["id"] for r in rows]

    async def of_project_before(self, project_id: str, end: datetime) -> list[str]:
        """The project's resources with a fact before `end` (what a re-rating of a period ending then goes over)."""
        rows = await self._conn.fetch(
            """SELECT id FROM resources r WHERE project_id = $1
               AND EXISTS (SELECT 1 FROM facts f WHERE f.resource_id = r.id AND f.at < $2) ORDER BY id""",
            project_id,
            end,
        )
        return [r["id"] for r in rows]

    async def of_cloud_since(self, cloud_id: str, since: datetime) -> list[str]:
        """The account's resources billed at or after `since` (what a price version taking effect then may change)."""
        rows = await self._conn.fetch(
            """SELECT id FROM resources r WHERE cloud_id = $1
               AND (open OR EXISTS (SELECT 1 FROM facts f WHERE f.resource_id = r.id AND f.at >= $2)) ORDER BY id""",
            cloud_id,
            since,
        )
        return [r["id"] for r in rows]


__all__ = ["UsageRepository"]
