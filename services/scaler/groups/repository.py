"""The `groups` and `members` tables. Every lookup a user's request makes carries the project; the consumer's
lookups go by id (the events carry the project they are about)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from kernel.db import Connection
from kernel.keyset import Column, Listing, PageRequest, Where, fetch_page
from services.scaler.groups.domain import Group, Hook, Member, Reading

__all__ = ["GROUP_LISTING", "GroupFilter", "GroupRepository", "MemberRepository"]

_GROUP = (
    "id, project_id, name, template_id, template_version, min_size, max_size, desired, allowed_clouds, allowed_zones,"
    " strategy, tags, inputs, cooldown_seconds, stabilisation_seconds, termination_policies, hooks, created_at,"
    " updated_at, last_scaled_at, failures, backoff_until, recent, streaks, readings, correlation_id, last_event_id"
)
_MEMBER = (
    "instance_id, group_id, project_id, state, created_at, zone, template_version, running_since, protected, hook,"
    " hook_deadline, state_at"
)
# What a new group's row is given (the times and charted_at take their defaults), and what is read of one.
_INSERTED = _GROUP.replace(" created_at, updated_at,", "")
_READ = f"{_GROUP}, charted_at, cluster_id, cluster_role"
GROUP_LISTING = Listing(
    f"SELECT {_READ} FROM groups",
    {"created_at": Column("created_at", "timestamptz"), "name": Column("name", "text")},
    Column("id", "text"),
)


@dataclass(frozen=True)
class GroupFilter:
    project_id: str
    name: str | None = None
    template_id: str | None = None


def group_of(row: asyncpg.Record) -> Group:
    return Group(
        id=row["id"],
        project_id=row["project_id"],
        name=row["name"],
        template_id=row["template_id"],
        template_version=row["template_version"],
        min_size=row["min_size"],
        max_size=row["max_size"],
        desired=row["desired"],
        allowed_clouds=tuple(row["allowed_clouds"]),
        allowed_zones=tuple(row["allowed_zones"]),
        strategy=row["strategy"],
        tags=dict(row["tags"]),
        inputs=dict(row["inputs"]),
        cooldown_seconds=row["cooldown_seconds"],
        stabilisation_seconds=row["stabilisation_seconds"],
        termination_policies=tuple(row["termination_policies"]),
        hooks=tuple(Hook(**h) for h in row["hooks"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        last_scaled_at=row["last_scaled_at"],
        failures=row["failures"],
        backoff_until=row["backoff_until"],
        recent=tuple((float(t), int(r)) for t, r in row["recent"]),
        streaks=dict(row["streaks"]),
        readings={k: Reading(*v) for k, v in row["readings"].items()},
        correlation_id=row["correlation_id"],
        last_event_id=row["last_event_id"],
        charted_at=row["charted_at"],
        cluster_id=row["cluster_id"],
        cluster_role=row["cluster_role"],
    )


def _group_args(g: Group) -> tuple[Any, ...]:
    return (
        g.id,
        g.project_id,
        g.name,
        g.template_id,
        g.template_version,
        g.min_size,
        g.max_size,
        g.desired,
        list(g.allowed_clouds),
        list(g.allowed_zones),
        g.strategy,
        g.tags,
        g.inputs,
        g.cooldown_seconds,
        g.stabilisation_seconds,
        list(g.termination_policies),
        [
            {
                "name": h.name,
                "transition": h.transition,
                "timeout_seconds": h.timeout_seconds,
                "default_result": h.default_result,
            }
            for h in g.hooks
        ],
        g.last_scaled_at,
        g.failures,
        g.backoff_until,
        [list(r) for r in g.recent],
        g.streaks,
        {k: [r.value, r.samples, r.current, r.at, r.unit] for k, r in g.readings.items()},
        g.correlation_id,
        g.last_event_id,
    )


def member_of(row: asyncpg.Record) -> Member:
    return Member(**dict(row))


class GroupRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def add(self, group: Group) -> None:
        await self._conn.execute(
            f"INSERT INTO groups ({_INSERTED}, cluster_id, cluster_role)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21,"
            " $22, $23, $24, $25, $26, $27)",
            *_group_args(group),
            group.cluster_id,
            group.cluster_role,
        )

    async def name_taken(self, project_id: str, name: str) -> bool:
        found = await self._conn.fetchval("SELECT 1 FROM groups WHERE project_id = $1 AND name = $2", project_id, name)
        return found is not None

    async def get(self, project_id: str, group_id: str) -> Group | None:
        row = await self._conn.fetchrow(
            f"SELECT {_READ} FROM groups WHERE id = $1 AND project_id = $2", group_id, project_id
        )
        return None if row is None else group_of(row)

    async def lock(self, group_id: str, project_id: str | None = None) -> Group | None:
        """The group, its row locked until the transaction ends: decisions about one group go one at a time."""
        row = await self._conn.fetchrow(
            f"SELECT {_READ} FROM groups WHERE id = $1 AND ($2::text IS NULL OR project_id = $2) FOR UPDATE",
            group_id,
            project_id,
        )
        return None if row is None else group_of(row)

    async def lock_many(self, group_ids: Sequence[str], *, skip_locked: bool = False) -> list[Group]:
        """The groups, locked in id order (so two transactions locking the same groups never wait on each other in
        a circle); with `skip_locked`, only those no other transaction holds."""
        skip = " SKIP LOCKED" if skip_locked else ""
        rows = await self._conn.fetch(
            f"SELECT {_READ} FROM groups WHERE id = ANY($1::text[]) ORDER BY id FOR UPDATE{skip}", list(group_ids)
        )
        return [group_of(row) for row in rows]

    async def needing_repair(self, now: datetime) -> list[str]:
        """The groups whose members do not match what they should be: live members other than the desired capacity,
        members in error, lifecycle hooks timed out, scheduled actions due. One statement, so that the reconcile loop
        costs little while every group is as it should be."""
        rows = await self._conn.fetch(
            "SELECT g.id FROM groups g LEFT JOIN ("
            " SELECT group_id,"
            " count(*) FILTER (WHERE state IN ('requested', 'pending', 'running')) AS live,"
            " count(*) FILTER (WHERE state = 'error' AND hook IS NULL) AS failed,"
            " count(*) FILTER (WHERE hook IS NOT NULL AND hook_deadline <= $1) AS timed_out"
            " FROM members GROUP BY group_id) m ON m.group_id = g.id"
            " WHERE coalesce(m.live, 0) <> g.desired OR coalesce(m.failed, 0) > 0 OR coalesce(m.timed_out, 0) > 0"
            " OR EXISTS (SELECT 1 FROM policies p WHERE p.group_id = g.id AND p.next_run_at <= $1)"
            " ORDER BY g.id",
            now,
        )
        return [r["id"] for r in rows]

    async def save(self, group: Group) -> None:
        await self.save_many([group])

    async def save_many(self, groups: Sequence[Group]) -> None:
        if not groups:
            return
        await self._conn.executemany(
            "UPDATE groups SET name = $3, template_id = $4, template_version = $5, min_size = $6, max_size = $7,"
            " desired = $8, allowed_clouds = $9, allowed_zones = $10, strategy = $11, tags = $12, inputs = $13,"
            " cooldown_seconds = $14, stabilisation_seconds = $15, termination_policies = $16, hooks = $17,"
            " updated_at = now(), last_scaled_at = $18, failures = $19, backoff_until = $20, recent = $21,"
            " streaks = $22, readings = $23, correlation_id = $24, last_event_id = $25"
            " WHERE id = $1 AND project_id = $2",
            [_group_args(g) for g in groups],
        )

    async def save_state(self, groups: Sequence[Group]) -> None:
        """Save what decisions change of the groups (their bounds, desired capacity, version, backoff, the window's
        recommendations and the policies' readings), in one statement for them all: the hot path's only write to
        this table."""
        if not groups:
            return
        await self._conn.execute(
            "UPDATE groups g SET min_size = u.min_size, max_size = u.max_size, desired = u.desired,"
            " template_version = u.template_version, last_scaled_at = u.last_scaled_at, failures = u.failures,"
            " backoff_until = u.backoff_until, recent = u.recent::jsonb, streaks = u.streaks::jsonb,"
            " readings = u.readings::jsonb, last_event_id = u.last_event_id, charted_at = u.charted_at,"
            " updated_at = now()"
            " FROM unnest($1::text[], $2::integer[], $3::integer[], $4::integer[], $5::integer[], $6::timestamptz[],"
            " $7::integer[], $8::timestamptz[], $9::text[], $10::text[], $11::text[], $12::text[], $13::timestamptz[])"
            " AS u(id, min_size, max_size, desired, template_version, last_scaled_at, failures, backoff_until, recent,"
            " streaks, readings, last_event_id, charted_at)"
            " WHERE g.id = u.id",
            [g.id for g in groups],
            [g.min_size for g in groups],
            [g.max_size for g in groups],
            [g.desired for g in groups],
            [g.template_version for g in groups],
            [g.last_scaled_at for g in groups],
            [g.failures for g in groups],
            [g.backoff_until for g in groups],
            [json.dumps([list(r) for r in g.recent]) for g in groups],
            [json.dumps(g.streaks) for g in groups],
            [
                json.dumps({k: [r.value, r.samples, r.current, r.at, r.unit] for k, r in g.readings.items()})
                for g in groups
            ],
            [g.last_event_id for g in groups],
            [g.charted_at for g in groups],
        )

    async def delete(self, group: Group) -> None:
        await self._conn.execute("DELETE FROM groups WHERE id = $1 AND project_id = $2", group.id, group.project_id)

    async def page(self, filters: GroupFilter, request: PageRequest) -> tuple[list[Group], str | None]:
        where = (
            Where()
            .add("project_id = {}", filters.project_id)
            .given("name = {}", filters.name)
            .given("template_id = {}", filters.template_id)
        )
        return await fetch_page(self._conn, GROUP_LISTING, where, request, group_of)

    async def on_template(self, template_id: str) -> list[Group]:
        rows = await self._conn.fetch(f"SELECT {_READ} FROM groups WHERE template_id = $1 FOR UPDATE", template_id)
        return [group_of(row) for row in rows]


class MemberRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def of_groups(self, group_ids: Sequence[str]) -> list[Member]:
        rows = await self._conn.fetch(
            f"SELECT {_MEMBER} FROM members WHERE group_id = ANY($1::text[]) ORDER BY instance_id", list(group_ids)
        )
        return [member_of(row) for row in rows]

    async def by_ids(self, instance_ids: Sequence[str]) -> list[Member]:
        rows = await self._conn.fetch(
            f"SELECT {_MEMBER} FROM members WHERE instance_id = ANY($1::text[])", list(instance_ids)
        )
        return [member_of(row) for row in rows]

    async def get(self, instance_id: str) -> Member | None:
        row = await self._conn.fetchrow(f"SELECT {_MEMBER} FROM members WHERE instance_id = $1", instance_id)
        return None if row is None else member_of(row)

    async def save_many(self, members: Sequence[Member]) -> None:
        """Insert or update each member."""
        if not members:
            return
        await self._conn.executemany(
            f"INSERT INTO members ({_MEMBER}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
            " ON CONFLICT (instance_id) DO UPDATE SET state = $4, zone = $6, template_version = $7,"
            " running_since = $8, protected = $9, hook = $10, hook_deadline = $11, state_at = $12",
            [
                (
                    m.instance_id,
                    m.group_id,
                    m.project_id,
                    m.state,
                    m.created_at,
                    m.zone,
                    m.template_version,
                    m.running_since,
                    m.protected,
                    m.hook,
                    m.hook_deadline,
                    m.state_at,
                )
                for m in members
            ],
        )

    async def remove(self, instance_id: str) -> None:
        await self._conn.execute("DELETE FROM members WHERE instance_id = $1", instance_id)

    async def hooks_due(self, now: datetime) -> list[str]:
        """The groups with a member whose lifecycle hook timed out."""
        rows = await self._conn.fetch(
            "SELECT DISTINCT group_id FROM members WHERE hook IS NOT NULL AND hook_deadline <= $1", now
        )
        return [r["group_id"] for r in rows]
