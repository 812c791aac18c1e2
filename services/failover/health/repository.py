"""The `members` table (what the provisioner's events told of each instance) and the `watches` table (each policy's
view of the health of the instances it watches)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kernel.db import Connection, from_row
from kernel.keyset import Column, Listing, PageRequest, Where, fetch_page
from services.failover.health.domain import Member, Watch

_MEMBER_COLUMNS = (
    "instance_id, project_id, cloud_id, state, zone, tags, cluster_id, cluster_role, template_id, template_version, "
    "running_since, address, address_id, last_metric_at, last_heartbeat_at, state_at"
)
_WATCH_COLUMNS = (
    "policy_id, instance_id, project_id, health, reasons, changed_at, probe_successes, probe_failures, probed_at, "
    "unhealthy_since, remediation, replacement_id, remediated_at"
)
_M = ", ".join(f"m.{c.strip()} AS m_{c.strip()}" for c in _MEMBER_COLUMNS.split(","))
_W = ", ".join(f"w.{c.strip()}" for c in _WATCH_COLUMNS.split(","))
HEALTH_LISTING = Listing(
    f"SELECT {_W}, {_M}, w.instance_id || ':' || w.policy_id AS row_key"
    " FROM watches w JOIN members m USING (instance_id)",
    {"changed_at": Column("w.changed_at", "timestamptz"), "instance_id": Column("w.instance_id", "text")},
    Column("w.instance_id || ':' || w.policy_id", "text", "row_key"),
)


@dataclass(frozen=True)
class HealthFilter:
    project_id: str
    policy_id: str | None = None
    health: Sequence[str] = ()
    quarantined: bool | None = None
    instance_id: str | None = None


def _member(row: Any, prefix: str = "") -> Member:
    values = {name.strip(): row[prefix + name.strip()] for name in _MEMBER_COLUMNS.split(",")}
    return from_row(Member, values, tags=dict(values["tags"] or {}))


def _watch(row: Any) -> Watch:
    return from_row(Watch, row, reasons=tuple(row["reasons"]))


def _health_row(row: Any) -> tuple[Watch, Member]:
    return _watch(row), _member(row, "m_")


class MemberRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def upsert(self, m: Member, now: datetime) -> None:
        await self._conn.execute(
            f"""INSERT INTO members ({_MEMBER_COLUMNS}, created_at, updated_at)
                VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$17)
                ON CONFLICT (instance_id) DO UPDATE SET state = $4, zone = $5, tags = $6, cluster_id = $7,
                    cluster_role = $8, template_id = $9, template_version = $10, running_since = $11, address = $12,
                    address_id = $13, last_metric_at = $14, last_heartbeat_at = $15, state_at = $16,
                    updated_at = $17""",
            m.instance_id,
            m.project_id,
            m.cloud_id,
            m.state,
            m.zone,
            m.tags or {},
            m.cluster_id,
            m.cluster_role,
            m.template_id,
            m.template_version,
            m.running_since,
            m.address,
            m.address_id,
            m.last_metric_at,
            m.last_heartbeat_at,
            m.state_at,
            now,
        )

    async def get(self, instance_id: str, *, lock: bool = False) -> Member | None:
        row = await self._conn.fetchrow(
            f"SELECT {_MEMBER_COLUMNS} FROM members WHERE instance_id = $1" + (" FOR UPDATE" if lock else ""),
            instance_id,
        )
        return None if row is None else _member(row)

    async def of_project(self, project_id: str) -> list[Member]:
        rows = await self._conn.fetch(
            f"SELECT {_MEMBER_COLUMNS} FROM members"
            " WHERE project_id = $1 AND state NOT IN ('terminated', 'quarantined')",
            project_id,
        )
        return [_member(r) for r in rows]

    async def sampled(self, project_id: str, instance_ids: Sequence[str], at: datetime, *, heartbeat: bool) -> None:
        """Metrics (or an agent's heartbeat) arrived for these instances at `at`; later samples never move it back."""
        column = "last_heartbeat_at" if heartbeat else "last_metric_at"
        await self._conn.execute(
            f"UPDATE members SET {column} = GREATEST({column}, $3) WHERE project_id = $1 AND instance_id = ANY($2)",
            project_id,
            list(instance_ids),
            at,
        )


class WatchRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def add(self, w: Watch) -> None:
        await self._conn.execute(
            f"INSERT INTO watches ({_WATCH_COLUMNS}) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13)"
            " ON CONFLICT DO NOTHING",
            *self._values(w),
        )

    async def save(self, w: Watch) -> None:
        await self._conn.execute(
            """UPDATE watches SET health = $4, reasons = $5, changed_at = $6, probe_successes = $7,
                   probe_failures = $8, probed_at = $9, unhealthy_since = $10, remediation = $11,
                   replacement_id = $12, remediated_at = $13
               WHERE policy_id = $1 AND instance_id = $2 AND project_id = $3""",
            *self._values(w),
        )

    @staticmethod
    def _values(w: Watch) -> tuple[Any, ...]:
        return (
            uuid.UUID(w.policy_id),
            w.instance_id,
            w.project_id,
            w.health,
            list(w.reasons),
            w.changed_at,
            w.probe_successes,
            w.probe_failures,
            w.probed_at,
            w.unhealthy_since,
            w.remediation,
            w.replacement_id,
            w.remediated_at,
        )

    async def of_policy(self, policy_id: str) -> list[tuple[Watch, Member]]:
        """Every instance the policy watches, those gone too, with its member record."""
        rows = await self._conn.fetch(
            f"SELECT {_W}, {_M} FROM watches w JOIN members m USING (instance_id) WHERE w.policy_id = $1",
            uuid.UUID(policy_id),
        )
        return [_health_row(r) for r in rows]

    async def of_instance(self, instance_id: str) -> list[Watch]:
        rows = await self._conn.fetch(f"SELECT {_WATCH_COLUMNS} FROM watches WHERE instance_id = $1", instance_id)
        return [_watch(r) for r in rows]

    async def page(self, flt: HealthFilter, request: PageRequest) -> tuple[list[tuple[Watch, Member]], str | None]:
        where = (
            Where()
            .add("w.project_id = {}", flt.project_id)
            .given("w.policy_id = {}::uuid", flt.policy_id)
            .given("w.health = ANY({}::text[])", flt.health)
            .given("w.instance_id = {}", flt.instance_id)
        )
        if flt.quarantined is not None:
            where.add(("" if flt.quarantined else "NOT ") + "(m.state = 'quarantined')")
        return await fetch_page(self._conn, HEALTH_LISTING, where, request, _health_row)
