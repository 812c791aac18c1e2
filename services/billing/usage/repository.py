"""The `resources` and `facts` tables: what billing learned of each resource, and the lifecycle facts it is billed
by. The service's own passes (its consumer, its hourly pass) read by resource id; requests never read them."""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from kernel.db import Connection
from services.billing.usage.domain import Change, Fact, Kind, Resource
from services.billing.usage.facts import Learned

_CHANGES = {c.value: c for c in Change}


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


# Rows are locked in the order of their ids, byte by byte as Python orders strings, whichever pass locks them (the
# consumer, the hourly pass, a re-rating, a new price version), and pages of them are taken in that order too: two
# transactions never wait on each other's locks in turn.
_IN_ORDER = 'ORDER BY id COLLATE "C"'

# The attributes a cost line is shown under (its resource's name, zone, tags, cluster, template, scaling group).
SHOWN_UNDER = ("name", "region", "tags", "cluster_id", "template_id", "scaling_group_id")


class UsageRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def learn(self, told: Sequence[tuple[str, Learned]]) -> list[str]:
        """Create each resource or add what events of a project (project id, what one told) told of it, in the order
        told; attributes already known are kept unless told anew (null values never hide a known one). One statement
        for them all: a resource told several times is merged here first, since one statement changes a row once.
        The ids of the resources known before that were told what their lines are shown under (SHOWN_UNDER): told
        after they may have been rated, as when a launch's event is handled after its server's start."""
        if not told:
            return []
        merged: dict[str, tuple[str, Learned, dict[str, Any]]] = {}
        for project_id, t in told:
            # The first telling's kind, project and account are kept, as a row inserted by the first would have.
            _, _, attributes = merged.setdefault(t.resource_id, (project_id, t, {}))
            attributes.update((k, v) for k, v in t.attributes.items() if v is not None)
        rows = [merged[rid] for rid in sorted(merged)]
        # A row that was there already, even one inserted by a transaction this one waited for, comes back with the
        # xmax of this update; a row inserted here with none.
        written = await self._conn.fetch(
            """INSERT INTO resources (id, kind, project_id, cloud_id, attributes)
               SELECT id, kind, project_id, cloud_id, attributes::jsonb
               FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[])
                    AS t(id, kind, project_id, cloud_id, attributes)
               ON CONFLICT (id) DO UPDATE SET attributes = resources.attributes || EXCLUDED.attributes
               WHERE (resources.attributes || EXCLUDED.attributes) <> resources.attributes
               RETURNING id, xmax <> 0 AS known""",
            [t.resource_id for _, t, _ in rows],
            [t.kind.value for _, t, _ in rows],
            [project_id for project_id, _, _ in rows],
            [t.cloud_id for _, t, _ in rows],
            [json.dumps(attributes) for _, _, attributes in rows],
        )
        shown_under = {
            rid for rid, (_, _, attributes) in merged.items() if not attributes.keys().isdisjoint(SHOWN_UNDER)
        }
        return [r["id"] for r in written if r["known"] and r["id"] in shown_under]

    async def add_facts(self, facts: Sequence[tuple[str, Fact, uuid.UUID]]) -> set[tuple[str, datetime, str]]:
        """Keep each (resource id, fact, event id) not known yet, each once; the (resource id, at, change) of those
        that were new (a fact known already is a replay, whatever its event id)."""
        if not facts:
            return set()
        rows = await self._conn.fetch(
            """INSERT INTO facts (resource_id, at, change, flavor_id, event_id)
               SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::text[], $4::text[], $5::uuid[])
               ON CONFLICT DO NOTHING RETURNING resource_id, at, change""",
            [rid for rid, _, _ in facts],
            [f.at for _, f, _ in facts],
            [f.change.value for _, f, _ in facts],
            [f.flavor_id for _, f, _ in facts],
            [event_id for _, _, event_id in facts],
        )
        return {(r["resource_id"], r["at"], r["change"]) for r in rows}

    async def lock(self, resource_ids: Sequence[str]) -> list[Resource]:
        """The resources of `resource_ids` that are known, their rows locked, in the order of their ids."""
        rows = await self._conn.fetch(
            "SELECT id, kind, project_id, cloud_id, attributes FROM resources WHERE id = ANY($1::text[])"
            f" {_IN_ORDER} FOR UPDATE",
            resource_ids,
        )
        return [_resource(r) for r in rows]

    async def facts(self, resource_ids: Sequence[str]) -> dict[str, list[Fact]]:
        """Every fact of each resource of `resource_ids`, by resource id (a resource with none is left out)."""
        found: dict[str, list[Fact]] = defaultdict(list)
        rows = await self._conn.fetch(
            "SELECT resource_id, at, change, flavor_id FROM facts WHERE resource_id = ANY($1::text[])", resource_ids
        )
        for r in rows:
            found[r["resource_id"]].append(Fact(r["at"], _CHANGES[r["change"]], r["flavor_id"]))
        return found

    async def rated(self, open_: Mapping[str, bool], until: datetime) -> None:
        """Record that each resource of `open_` was rated up to `until`, and whether it is billed with no end."""
        await self._conn.execute(
            """UPDATE resources r SET open = t.open, rated_until = $3
               FROM unnest($1::text[], $2::boolean[]) AS t(id, open) WHERE r.id = t.id""",
            list(open_),
            list(open_.values()),
            until,
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
               AND EXISTS (SELECT 1 FROM facts f WHERE f.resource_id = r.id AND f.at < $2)"""
            f" {_IN_ORDER}",
            project_id,
            end,
        )
        return [r["id"] for r in rows]

    async def of_cloud_since(self, cloud_id: str, since: datetime) -> list[str]:
        """The account's resources billed at or after `since` (what a price version taking effect then may change)."""
        rows = await self._conn.fetch(
            """SELECT id FROM resources r WHERE cloud_id = $1
               AND (open OR EXISTS (SELECT 1 FROM facts f WHERE f.resource_id = r.id AND f.at >= $2))"""
            f" {_IN_ORDER}",
            cloud_id,
            since,
        )
        return [r["id"] for r in rows]


__all__ = ["UsageRepository"]
