"""Where a project's servers are, for the allocator: its live instances counted by cloud and zone, and those of a
placement group (kept with each instance placed in one, in its launch options)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from kernel.db import Connection

# The states of instances that no longer take a place.
_GONE = ("terminated", "gone", "error")


@dataclass(frozen=True)
class Occupancy:
    servers: dict[tuple[str, str | None], int]
    members: dict[tuple[str, str | None], int]


class PlacementRepository(Protocol):
    async def occupancy(self, project_id: str, group: str | None) -> Occupancy:
        """The project's instances that have not ended, by (cloud, zone), and the members of `group` among them."""
        ...


class PostgresPlacementRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def occupancy(self, project_id: str, group: str | None) -> Occupancy:
        rows = await self._conn.fetch(
            """SELECT cloud_id, zone, count(*) AS servers,
                      count(*) FILTER (WHERE launch_options -> 'placement' ->> 'group' = $2) AS members
               FROM instances WHERE project_id = $1 AND state <> ALL($3::text[])
               GROUP BY cloud_id, zone""",
            project_id,
            group,
            list(_GONE),
        )
        servers = {(r["cloud_id"], r["zone"]): int(r["servers"]) for r in rows}
        members = {(r["cloud_id"], r["zone"]): int(r["members"]) for r in rows if r["members"]}
        return Occupancy(servers, members)


__all__ = ["Occupancy", "PlacementRepository", "PostgresPlacementRepository"]
