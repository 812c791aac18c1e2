"""The `resources` table (every kind but instances) and its unit of work: a record saved together with the events
its change caused, in the caller's transaction."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import asyncpg

from kernel import outbox
from kernel.db import Connection, Pool
from kernel.errors import Conflict
from kernel.events import EventPayload
from kernel.keyset import Listing, PageRequest, fetch_page
from services.provisioner.repository import (
    NOT_HELD,
    RECORD_KEY,
    RECORD_SORTS,
    WORK_CHANNEL,
    chain_events,
    claim_due_row,
    due_ids,
    record_filters,
)
from services.provisioner.resources import RULES, Kind, ResourceRecord, label

COLUMNS = (
    "id, kind, project_id, cloud_id, name, provider_id, state, pending_action, pending, attempts, throttled, reason, "
    "attrs, correlation_id, last_event_id, pending_since, created_at, updated_at, discovered"
)


def record_of(row: Any) -> ResourceRecord:
    return ResourceRecord(
        id=str(row["id"]),
        kind=row["kind"],
        project_id=row["project_id"],
        cloud_id=row["cloud_id"],
        name=row["name"],
        provider_id=row["provider_id"],
        state=row["state"],
        pending_action=row["pending_action"],
        pending=row["pending"],
        attempts=row["attempts"],
        throttled=row["throttled"],
        reason=row["reason"],
        attrs=row["attrs"],
        correlation_id=row["correlation_id"],
        last_event_id=str(row["last_event_id"]) if row["last_event_id"] else None,
        pending_since=row["pending_since"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        discovered=row["discovered"],
    )


def _key(resource_id: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(resource_id)
    except ValueError:
        return None


async def insert(conn: Connection, record: ResourceRecord, *, retry_in: float) -> None:
    """Insert a new record whose action is not due before `retry_in` seconds (the request carries it out itself)."""
    try:
        await conn.execute(
            """INSERT INTO resources (id, kind, project_id, cloud_id, name, provider_id, state, pending_action,
                   pending, attempts, throttled, reason, attrs, correlation_id, last_event_id, pending_since,
                   created_at, updated_at, next_attempt_at)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18,
                       now() + make_interval(secs => $19))""",
            uuid.UUID(record.id),
            record.kind,
            record.project_id,
            record.cloud_id,
            record.name,
            record.provider_id,
            record.state,
            record.pending_action,
            dict(record.pending),
            record.attempts,
            record.throttled,
            record.reason,
            dict(record.attrs),
            record.correlation_id,
            record.last_event_id,
            record.pending_since,
            record.created_at,
            record.updated_at,
            retry_in,
        )
    except asyncpg.UniqueViolationError:
        raise Conflict(
            f"A {label(record.kind)} named {record.name} already exists in cloud {record.cloud_id}.",
            errors=[{"location": "body.name", "message": "name taken in this cloud"}],
        ) from None


async def save(conn: Connection, record: ResourceRecord, *, retry_in: float = 0.0) -> ResourceRecord:
    try:
        row = await conn.fetchrow(
            f"""UPDATE resources SET provider_id = $2, state = $3, pending_action = $4, pending = $5, attempts = $6,
                   throttled = $7, reason = $8, attrs = $9, correlation_id = $10, last_event_id = $11,
                   pending_since = $12, updated_at = now(), next_attempt_at = now() + make_interval(secs => $13)
               WHERE id = $1 RETURNING {COLUMNS}""",
            uuid.UUID(record.id),
            record.provider_id,
            record.state,
            record.pending_action,
            dict(record.pending),
            record.attempts,
            record.throttled,
            record.reason,
            dict(record.attrs),
            record.correlation_id,
            record.last_event_id,
            record.pending_since,
            retry_in,
        )
    except asyncpg.UniqueViolationError:
        raise Conflict(f"Cloud {record.cloud_id} has this {label(record.kind)} under another record already.") from None
    if record.pending_action is not None:
        await conn.execute(f"NOTIFY {WORK_CHANNEL}")
    return record_of(row)


async def commit_change(
    conn: Connection, record: ResourceRecord, events: Sequence[EventPayload], *, retry_in: float = 0.0
) -> ResourceRecord:
    """Save the record and queue its events in the caller's transaction; events chain by causation."""
    envelopes, causation = chain_events(record, events)
    saved = await save(conn, replace(record, last_event_id=causation), retry_in=retry_in)
    await outbox.add(conn, *envelopes)
    return saved


async def delete(conn: Connection, resource_id: str) -> None:
    """Remove a record that never existed in its cloud and was never announced."""
    await conn.execute("DELETE FROM resources WHERE id = $1", uuid.UUID(resource_id))


async def get(conn: Connection | Pool, project_id: str, kind: Kind, resource_id: str) -> ResourceRecord | None:
    key = _key(resource_id)
    if key is None:
        return None
    row = await conn.fetchrow(
        f"SELECT {COLUMNS} FROM resources WHERE id = $1 AND project_id = $2 AND kind = $3", key, project_id, kind
    )
    return record_of(row) if row else None


async def lock(conn: Connection, project_id: str, kind: Kind, resource_id: str) -> ResourceRecord | None:
    key = _key(resource_id)
    if key is None:
        return None
    row = await conn.fetchrow(
        f"SELECT {COLUMNS} FROM resources WHERE id = $1 AND project_id = $2 AND kind = $3 FOR UPDATE",
        key,
        project_id,
        kind,
    )
    return record_of(row) if row else None


async def lock_by_id(conn: Connection, resource_id: str) -> ResourceRecord | None:
    row = await conn.fetchrow(f"SELECT {COLUMNS} FROM resources WHERE id = $1 FOR UPDATE", uuid.UUID(resource_id))
    return record_of(row) if row else None


async def find_by_name(
    conn: Connection | Pool, project_id: str, kind: Kind, cloud_id: str, name: str
) -> ResourceRecord | None:
    """The live record of that name (key pairs and security groups have one per cloud)."""
    row = await conn.fetchrow(
        f"""SELECT {COLUMNS} FROM resources
            WHERE project_id = $1 AND kind = $2 AND cloud_id = $3 AND name = $4 AND state <> $5
            ORDER BY created_at DESC LIMIT 1""",
        project_id,
        kind,
        cloud_id,
        name,
        RULES[kind].gone,
    )
    return record_of(row) if row else None


async def many(conn: Connection | Pool, project_id: str, kind: Kind, ids: Sequence[str]) -> list[ResourceRecord]:
    keys = [k for k in (_key(i) for i in ids) if k is not None]
    rows = await conn.fetch(
        f"SELECT {COLUMNS} FROM resources WHERE id = ANY($1::uuid[]) AND project_id = $2 AND kind = $3",
        keys,
        project_id,
        kind,
    )
    return [record_of(r) for r in rows]


async def holding(conn: Connection | Pool, kind: Kind, instance_id: str) -> list[ResourceRecord]:
    """Live records of `kind` attached to or associated with an instance (by its Clanavi id)."""
    rows = await conn.fetch(
        f"""SELECT {COLUMNS} FROM resources
            WHERE kind = $1 AND attrs->>'instance_id' = $2 AND state <> $3""",
        kind,
        instance_id,
        RULES[kind].gone,
    )
    return [record_of(r) for r in rows]


async def provider_ids(conn: Connection | Pool, cloud_id: str, kind: Kind) -> set[str]:
    """Every provider id Clanavi has a record of in a cloud (live or not)."""
    rows = await conn.fetch(
        "SELECT provider_id FROM resources WHERE cloud_id = $1 AND kind = $2 AND provider_id IS NOT NULL",
        cloud_id,
        kind,
    )
    return {r["provider_id"] for r in rows}


async def claim_action(conn: Connection, resource_id: str) -> ResourceRecord | None:
    """Lock a record whose action is due, unless another worker holds it already."""
    row = await claim_due_row(conn, "resources", COLUMNS, resource_id)
    return record_of(row) if row else None


async def due_actions(pool: Pool, limit: int) -> list[str]:
    return await due_ids(pool, "resources", limit)


_FOLLOWED = sorted({(kind, state) for kind, rules in RULES.items() for state in rules.followed})
# Constants from the rules (never input): lets the planner use the partial index `resources_moving`.
_FOLLOWED_STATES = ", ".join(f"'{state}'" for state in sorted({s for _, s in _FOLLOWED}))


async def moving(pool: Pool) -> list[ResourceRecord]:
    """Records in a transition their cloud is carrying out, which the worker follows."""
    followed = _FOLLOWED
    rows = await pool.fetch(
        f"""SELECT {COLUMNS} FROM resources
            WHERE pending_action IS NULL AND provider_id IS NOT NULL AND state IN ({_FOLLOWED_STATES}) AND {NOT_HELD}
              AND (kind, state) IN (SELECT * FROM unnest($1::text[], $2::text[]))""",
        [k for k, _ in followed],
        [s for _, s in followed],
    )
    return [record_of(r) for r in rows]


async def lock_moving(conn: Connection, ids: Sequence[str]) -> list[ResourceRecord]:
    rows = await conn.fetch(
        f"""SELECT {COLUMNS} FROM resources
            WHERE id = ANY($1::uuid[]) AND pending_action IS NULL FOR UPDATE SKIP LOCKED""",
        [uuid.UUID(i) for i in ids],
    )
    return [record_of(r) for r in rows]


RESOURCE_LISTING = Listing(f"SELECT {COLUMNS} FROM resources", RECORD_SORTS, RECORD_KEY)


@dataclass(frozen=True)
class ResourceFilter:
    project_id: str
    kind: Kind
    cloud_id: str | None = None
    states: Sequence[str] = ()
    name: str | None = None
    # Volumes and addresses attached to / associated with this instance, images made from it (a Clanavi id).
    instance_id: str | None = None
    # Snapshots of this volume (a Clanavi id).
    volume_id: str | None = None
    # Only records adopted by an inventory sync (True), or only Clanavi's own (False).
    discovered: bool | None = None


async def page(pool: Pool, flt: ResourceFilter, request: PageRequest) -> tuple[list[ResourceRecord], str | None]:
    """One page of a project's resources of one kind, and the cursor of the next page (None on the last)."""
    where = (
        record_filters(flt)
        .add("kind = {}", flt.kind)
        .given("attrs->>'instance_id' = {}", flt.instance_id)
        .given("attrs->>'volume_id' = {}", flt.volume_id)
    )
    return await fetch_page(pool, RESOURCE_LISTING, where, request, record_of)
