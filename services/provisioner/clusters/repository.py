"""The `clusters` and `cluster_members` tables: the port the use cases name, and its PostgreSQL implementation. Every
lookup a request makes carries the project; only the provisioner's own pass over the active clusters does not."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from kernel.db import Connection, from_row
from kernel.keyset import Listing, PageRequest, Where, fetch_page
from services.provisioner.clusters.domain import ACTIVE, ClusterRecord, Member, Role
from services.provisioner.instances.repository import key_of
from services.provisioner.listing import RECORD_KEY, RECORD_SORTS

_COLUMNS = (
    "id, project_id, name, state, on_failure, roles, reason, was_running, tidying, correlation_id, last_event_id, "
    "created_at, updated_at"
)
CLUSTER_LISTING = Listing(f"SELECT {_COLUMNS} FROM clusters", RECORD_SORTS, RECORD_KEY)
_MEMBER_COLUMNS = (
    "m.cluster_id, m.role, m.n, m.name, m.status, m.created_at, m.instance_id, i.state AS instance_state, m.reason, "
    "m.retired, m.replaced_by"
)


@dataclass(frozen=True)
class ClusterFilter:
    project_id: str
    states: Sequence[str] = ()
    name: str | None = None


class ClusterRepository(Protocol):
    async def add(self, cluster: ClusterRecord) -> None: ...
    async def get(self, project_id: str, cluster_id: str, *, lock: bool = False) -> ClusterRecord | None: ...
    async def save(self, cluster: ClusterRecord) -> None: ...
    async def page(self, flt: ClusterFilter, request: PageRequest) -> tuple[list[ClusterRecord], str | None]: ...
    async def active(self) -> list[str]:
        """Ids of every project's clusters the provisioner moves on by itself: the active, and those tidying up."""
        ...

    async def lock_active(self, cluster_id: str) -> ClusterRecord | None:
        """The cluster, locked, while it is active or tidying and no other transaction holds it (None otherwise)."""
        ...

    async def members(self, cluster_id: str) -> list[Member]:
        """Every member the cluster ever had, with its instance's state, oldest first."""
        ...

    async def add_members(self, members: Sequence[Member]) -> None: ...
    async def update_members(self, members: Sequence[Member]) -> None:
        """Save what a member's own record holds that changes (status, retired, replaced_by)."""
        ...

    async def attach(self, member: Member, instance_id: str) -> bool:
        """The planned member takes the instance made for it; False when it is no longer planned (withdrawn, or
        launched by another pass)."""
        ...

    async def refuse(self, member: Member, reason: str) -> None:
        """A planned member's launch was refused: no instance was made for it."""
        ...


def _cluster(row: Any) -> ClusterRecord:
    return from_row(ClusterRecord, row, roles=tuple(Role.from_json(r) for r in row["roles"]))


def _member(row: Any) -> Member:
    return from_row(Member, row)


class PostgresClusterRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def add(self, cluster: ClusterRecord) -> None:
        await self._conn.execute(
            f"INSERT INTO clusters ({_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
            *self._values(cluster),
        )

    @staticmethod
    def _values(c: ClusterRecord) -> tuple[Any, ...]:
        return (
            uuid.UUID(c.id),
            c.project_id,
            c.name,
            c.state,
            c.on_failure,
            [r.as_json() for r in c.roles],
            c.reason,
            c.was_running,
            c.tidying,
            c.correlation_id,
            None if c.last_event_id is None else uuid.UUID(c.last_event_id),
            c.created_at,
            c.updated_at,
        )

    async def get(self, project_id: str, cluster_id: str, *, lock: bool = False) -> ClusterRecord | None:
        key = key_of(cluster_id)
        if key is None:
            return None
        row = await self._conn.fetchrow(
            f"SELECT {_COLUMNS} FROM clusters WHERE id = $1 AND project_id = $2" + (" FOR UPDATE" if lock else ""),
            key,
            project_id,
        )
        return None if row is None else _cluster(row)

    async def save(self, cluster: ClusterRecord) -> None:
        c = cluster
        await self._conn.execute(
            """UPDATE clusters SET state = $2, roles = $3, reason = $4, was_running = $5, tidying = $9,
                   correlation_id = $6, last_event_id = $7, updated_at = $8
               WHERE id = $1""",
            uuid.UUID(c.id),
            c.state,
            [r.as_json() for r in c.roles],
            c.reason,
            c.was_running,
            c.correlation_id,
            None if c.last_event_id is None else uuid.UUID(c.last_event_id),
            c.updated_at,
            c.tidying,
        )

    async def page(self, flt: ClusterFilter, request: PageRequest) -> tuple[list[ClusterRecord], str | None]:
        where = (
            Where()
            .add("project_id = {}", flt.project_id)
            .given("state = ANY({}::text[])", flt.states)
            .given("name = {}", flt.name)
        )
        return await fetch_page(self._conn, CLUSTER_LISTING, where, request, _cluster)

    async def active(self) -> list[str]:
        rows = await self._conn.fetch(
            "SELECT id FROM clusters WHERE state = ANY($1::text[]) OR tidying ORDER BY updated_at", sorted(ACTIVE)
        )
        return [str(r["id"]) for r in rows]

    async def lock_active(self, cluster_id: str) -> ClusterRecord | None:
        row = await self._conn.fetchrow(
            f"SELECT {_COLUMNS} FROM clusters WHERE id = $1 AND (state = ANY($2::text[]) OR tidying) "
            "FOR UPDATE SKIP LOCKED",
            uuid.UUID(cluster_id),
            sorted(ACTIVE),
        )
        return None if row is None else _cluster(row)

    async def members(self, cluster_id: str) -> list[Member]:
        rows = await self._conn.fetch(
            f"""SELECT {_MEMBER_COLUMNS} FROM cluster_members m LEFT JOIN instances i ON i.id = m.instance_id
                WHERE m.cluster_id = $1 ORDER BY m.created_at, m.role, m.n""",
            uuid.UUID(cluster_id),
        )
        return [_member(r) for r in rows]

    async def add_members(self, members: Sequence[Member]) -> None:
        await self._conn.executemany(
            """INSERT INTO cluster_members (cluster_id, role, n, name, status, created_at, retired, replaced_by)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8)""",
            [
                (uuid.UUID(m.cluster_id), m.role, m.n, m.name, m.status, m.created_at, m.retired, m.replaced_by)
                for m in members
            ],
        )

    async def update_members(self, members: Sequence[Member]) -> None:
        await self._conn.executemany(
            """UPDATE cluster_members SET status = $4, retired = $5, replaced_by = $6
               WHERE cluster_id = $1 AND role = $2 AND n = $3""",
            [(uuid.UUID(m.cluster_id), m.role, m.n, m.status, m.retired, m.replaced_by) for m in members],
        )

    async def attach(self, member: Member, instance_id: str) -> bool:
        done = await self._conn.fetchval(
            """UPDATE cluster_members SET instance_id = $4, status = 'launched'
               WHERE cluster_id = $1 AND role = $2 AND n = $3 AND status = 'planned' AND NOT retired
               RETURNING true""",
            uuid.UUID(member.cluster_id),
            member.role,
            member.n,
            uuid.UUID(instance_id),
        )
        return bool(done)

    async def refuse(self, member: Member, reason: str) -> None:
        await self._conn.execute(
            """UPDATE cluster_members SET status = 'refused', reason = $4
               WHERE cluster_id = $1 AND role = $2 AND n = $3 AND status = 'planned'""",
            uuid.UUID(member.cluster_id),
            member.role,
            member.n,
            reason,
        )


__all__ = ["CLUSTER_LISTING", "ClusterFilter", "ClusterRepository", "PostgresClusterRepository"]
