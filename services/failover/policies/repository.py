"""The `policies` table. Every lookup a request makes carries the project; the service's own passes (the consumer
matching an instance to the policies of its project, the watcher) read by project or by id."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from kernel.db import Connection
from kernel.keyset import Column, Listing, PageRequest, Where, fetch_page
from services.failover.policies.domain import Breaker, Policy, Signals, Target

_COLUMNS = (
    "id, project_id, name, target, signals, grace_seconds, action, address_id, breaker, breaker_open, breaker_reason, "
    "correlation_id, last_event_id, created_at, updated_at"
)
POLICY_LISTING = Listing(
    f"SELECT {_COLUMNS} FROM policies",
    {"created_at": Column("created_at", "timestamptz"), "name": Column("name", "text")},
    Column("id", "uuid"),
)


@dataclass(frozen=True)
class PolicyFilter:
    project_id: str
    action: str | None = None
    name: str | None = None
    scaling_group_id: str | None = None


def key_of(record_id: str) -> uuid.UUID | None:
    """A record's id as its key; None for text that cannot be one (no record has it)."""
    try:
        return uuid.UUID(record_id)
    except ValueError:
        return None


def _policy(row: Any) -> Policy:
    return Policy(
        id=str(row["id"]),
        project_id=row["project_id"],
        name=row["name"],
        target=Target.from_json(row["target"]),
        signals=Signals.from_json(row["signals"]),
        grace_seconds=row["grace_seconds"],
        action=row["action"],
        address_id=row["address_id"],
        breaker=Breaker.from_json(row["breaker"]),
        breaker_open=row["breaker_open"],
        breaker_reason=row["breaker_reason"],
        correlation_id=row["correlation_id"],
        last_event_id=None if row["last_event_id"] is None else str(row["last_event_id"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


class PolicyRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def add(self, p: Policy) -> bool:
        """False when the project already has a policy of that name."""
        row = await self._conn.fetchrow(
            f"INSERT INTO policies ({_COLUMNS}) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15)"
            " ON CONFLICT (project_id, name) DO NOTHING RETURNING id",
            *self._values(p),
        )
        return row is not None

    async def save(self, p: Policy) -> None:
        await self._conn.execute(
            """UPDATE policies SET name = $3, target = $4, signals = $5, grace_seconds = $6, action = $7,
                   address_id = $8, breaker = $9, breaker_open = $10, breaker_reason = $11, correlation_id = $12,
                   last_event_id = $13, created_at = $14, updated_at = $15
               WHERE id = $1 AND project_id = $2""",
            *self._values(p),
        )

    async def name_taken(self, project_id: str, name: str, other_than: str) -> bool:
        found = await self._conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM policies WHERE project_id = $1 AND name = $2 AND id <> $3)",
            project_id,
            name,
            uuid.UUID(other_than),
        )
        return bool(found)

    @staticmethod
    def _values(p: Policy) -> tuple[Any, ...]:
        return (
            uuid.UUID(p.id),
            p.project_id,
            p.name,
            p.target.as_json(),
            p.signals.as_json(),
            p.grace_seconds,
            p.action,
            p.address_id,
            p.breaker.as_json(),
            p.breaker_open,
            p.breaker_reason,
            p.correlation_id,
            None if p.last_event_id is None else uuid.UUID(p.last_event_id),
            p.created_at,
            p.updated_at,
        )

    async def get(self, project_id: str, policy_id: str, *, lock: bool = False) -> Policy | None:
        key = key_of(policy_id)
        if key is None:
            return None
        row = await self._conn.fetchrow(
            f"SELECT {_COLUMNS} FROM policies WHERE id = $1 AND project_id = $2" + (" FOR UPDATE" if lock else ""),
            key,
            project_id,
        )
        return None if row is None else _policy(row)

    async def delete(self, project_id: str, policy_id: str) -> None:
        await self._conn.execute(
            "DELETE FROM policies WHERE id = $1 AND project_id = $2", uuid.UUID(policy_id), project_id
        )

    async def of_project(self, project_id: str) -> list[Policy]:
        rows = await self._conn.fetch(
            f"SELECT {_COLUMNS} FROM policies WHERE project_id = $1 ORDER BY created_at, id", project_id
        )
        return [_policy(r) for r in rows]

    async def of_instance(self, instance_id: str) -> list[Policy]:
        """The policies watching an instance."""
        rows = await self._conn.fetch(
            f"SELECT {_COLUMNS} FROM policies WHERE id IN (SELECT policy_id FROM watches WHERE instance_id = $1)"
            " ORDER BY created_at, id",
            instance_id,
        )
        return [_policy(r) for r in rows]

    async def watching_by_time(self) -> list[Policy]:
        """Every project's policies whose health can change with time alone: a signal that goes quiet, a probe."""
        rows = await self._conn.fetch(
            f"SELECT {_COLUMNS} FROM policies WHERE signals->>'metrics_quiet_seconds' IS NOT NULL"
            " OR signals->>'heartbeat_seconds' IS NOT NULL OR signals->'probe' <> 'null'::jsonb"
            " ORDER BY created_at, id"
        )
        return [_policy(r) for r in rows]

    async def page(self, flt: PolicyFilter, request: PageRequest) -> tuple[list[Policy], str | None]:
        where = (
            Where()
            .add("project_id = {}", flt.project_id)
            .given("action = {}", flt.action)
            .given("name = {}", flt.name)
            .given("target->>'scaling_group_id' = {}", flt.scaling_group_id)
        )
        return await fetch_page(self._conn, POLICY_LISTING, where, request, _policy)
