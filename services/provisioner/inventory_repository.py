"""Inventory sync's SQL: the per-account lock, the bulk writes of a sync's changes with their events, and the
`sync_runs` table.

A sync writes thousands of rows: each chunk is one statement per kind of change (rows sent as one JSON document,
expanded by `jsonb_to_recordset`) plus one batch of outbox rows, in one transaction. Every update is guarded by the
row version the sync read, so a record Clanavi changed meanwhile is left as it is (and its event is not written).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from kernel import outbox
from kernel.db import Connection, Pool
from kernel.events import Envelope
from kernel.keyset import Column, Listing, PageRequest, Where, fetch_page
from services.provisioner import resources_repository
from services.provisioner.domain import InstanceRecord
from services.provisioner.inventory import Counts, SyncRun, SyncStatus, SyncTrigger
from services.provisioner.resources import ResourceRecord

# The advisory lock space of syncs (two-key locks: this class, and a hash of the account id).
_LOCK = "hashtext('clanavi:inventory'), hashtext($1)"


async def try_lock(conn: Connection, cloud_id: str) -> bool:
    """Take the account's sync lock for this session, unless another session holds it."""
    return bool(await conn.fetchval(f"SELECT pg_try_advisory_lock({_LOCK})", cloud_id))


async def unlock(conn: Connection, cloud_id: str) -> None:
    await conn.execute(f"SELECT pg_advisory_unlock({_LOCK})", cloud_id)


async def versions(conn: Connection | Pool, cloud_id: str) -> dict[str, str]:
    """Instance record id -> row version, for every record of the account."""
    rows = await conn.fetch("SELECT id, xmin::text AS version FROM instances WHERE cloud_id = $1", cloud_id)
    return {str(r["id"]): r["version"] for r in rows}


async def security_group_ids(conn: Connection | Pool, cloud_id: str) -> dict[str, str]:
    """The account's security groups: id in the cloud -> Clanavi id."""
    rows = await conn.fetch(
        """SELECT provider_id, id FROM resources
           WHERE cloud_id = $1 AND kind = 'security_group' AND provider_id IS NOT NULL AND state <> 'deleted'""",
        cloud_id,
    )
    return {r["provider_id"]: str(r["id"]) for r in rows}


def _adopted_row(record: InstanceRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "project_id": record.project_id,
        "cloud_id": record.cloud_id,
        "name": record.name,
        "image_id": record.image_id,
        "flavor_id": record.flavor_id,
        "provider_id": record.provider_id,
        "state": record.state,
        "reason": record.reason,
        "private_ips": list(record.private_ips),
        "correlation_id": record.correlation_id,
        "last_event_id": record.last_event_id,
        "created_at": record.created_at.isoformat(),
        "key_name": record.key_name,
        "security_group_ids": list(record.security_group_ids),
        "zone": record.zone,
        "tags": dict(record.tags),
    }


async def insert_adopted(conn: Connection, records: Sequence[InstanceRecord]) -> set[str]:
    """Insert adopted records; returns the ids inserted (an instance recorded meanwhile keeps its record)."""
    if not records:
        return set()
    rows = await conn.fetch(
        """INSERT INTO instances (id, project_id, cloud_id, name, image_id, flavor_id, provider_id, state, reason,
               private_ips, correlation_id, last_event_id, created_at, updated_at, key_name, security_group_ids,
               zone, tags, discovered)
           SELECT id, project_id, cloud_id, name, image_id, flavor_id, provider_id, state, reason, private_ips,
                  correlation_id, last_event_id, created_at, created_at, key_name, security_group_ids, zone, tags,
                  true
           FROM jsonb_to_recordset($1::jsonb) AS r(
               id uuid, project_id text, cloud_id text, name text, image_id text, flavor_id text, provider_id text,
               state text, reason text, private_ips text[], correlation_id text, last_event_id uuid,
               created_at timestamptz, key_name text, security_group_ids text[], zone text, tags jsonb)
           ON CONFLICT (cloud_id, provider_id) DO NOTHING
           RETURNING id""",
        [_adopted_row(r) for r in records],
    )
    return {str(r["id"]) for r in rows}


async def update_observed(conn: Connection, changes: Sequence[tuple[InstanceRecord, str]]) -> set[str]:
    """Write the state (and reason) of records the sync corrected, each only if its row is still at the version the
    sync read and no action was requested since; returns the ids updated."""
    if not changes:
        return set()
    rows = await conn.fetch(
        """UPDATE instances i SET state = r.state, reason = r.reason, last_event_id = r.last_event_id,
               updated_at = now()
           FROM jsonb_to_recordset($1::jsonb) AS r(id uuid, state text, reason text, last_event_id uuid, version text)
           WHERE i.id = r.id AND i.xmin::text = r.version AND i.pending_action IS NULL
           RETURNING i.id""",
        [
            {
                "id": after.id,
                "state": after.state,
                "reason": after.reason,
                "last_event_id": after.last_event_id,
                "version": version,
            }
            for after, version in changes
        ],
    )
    return {str(r["id"]) for r in rows}


async def commit_chunk(
    conn: Connection,
    *,
    adopt: Sequence[tuple[InstanceRecord, Envelope]],
    update: Sequence[tuple[InstanceRecord, str, Envelope]],
) -> tuple[set[str], set[str]]:
    """Write one chunk of a sync's changes and the events of those written, in one transaction; returns the ids
    inserted and the ids updated."""
    async with conn.transaction():
        inserted = await insert_adopted(conn, [r for r, _ in adopt])
        updated = await update_observed(conn, [(r, version) for r, version, _ in update])
        await outbox.add(
            conn,
            *[e for r, e in adopt if r.id in inserted],
            *[e for r, _, e in update if r.id in updated],
        )
    return inserted, updated


# --- volumes --------------------------------------------------------------------------------------------------


async def volume_versions(conn: Connection | Pool, cloud_id: str) -> dict[str, str]:
    """Volume record id -> row version, for every volume record of the account."""
    rows = await conn.fetch(
        "SELECT id, xmin::text AS version FROM resources WHERE cloud_id = $1 AND kind = 'volume'", cloud_id
    )
    return {str(r["id"]): r["version"] for r in rows}


async def volumes_of(conn: Connection | Pool, cloud_id: str) -> list[tuple[ResourceRecord, str]]:
    """Every volume record of the account, with its row version."""
    rows = await conn.fetch(
        f"""SELECT {resources_repository.COLUMNS}, xmin::text AS version FROM resources
            WHERE cloud_id = $1 AND kind = 'volume'""",
        cloud_id,
    )
    return [(resources_repository.record_of(r), r["version"]) for r in rows]


async def instance_ids(conn: Connection | Pool, cloud_id: str) -> dict[str, str]:
    """The account's instances: id in the cloud -> Clanavi id (records of ended instances left out)."""
    rows = await conn.fetch(
        """SELECT provider_id, id FROM instances
           WHERE cloud_id = $1 AND provider_id IS NOT NULL AND state NOT IN ('terminated', 'gone')""",
        cloud_id,
    )
    return {r["provider_id"]: str(r["id"]) for r in rows}


def _adopted_volume_row(record: ResourceRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "project_id": record.project_id,
        "cloud_id": record.cloud_id,
        "name": record.name,
        "provider_id": record.provider_id,
        "state": record.state,
        "reason": record.reason,
        "attrs": dict(record.attrs),
        "correlation_id": record.correlation_id,
        "last_event_id": record.last_event_id,
        "created_at": record.created_at.isoformat(),
    }


async def insert_adopted_volumes(conn: Connection, records: Sequence[ResourceRecord]) -> set[str]:
    """Insert adopted volume records; returns the ids inserted (a volume recorded meanwhile keeps its record)."""
    if not records:
        return set()
    rows = await conn.fetch(
        """INSERT INTO resources (id, kind, project_id, cloud_id, name, provider_id, state, reason, attrs,
               correlation_id, last_event_id, created_at, updated_at, discovered)
           SELECT id, 'volume', project_id, cloud_id, name, provider_id, state, reason, attrs, correlation_id,
                  last_event_id, created_at, created_at, true
           FROM jsonb_to_recordset($1::jsonb) AS r(
               id uuid, project_id text, cloud_id text, name text, provider_id text, state text, reason text,
               attrs jsonb, correlation_id text, last_event_id uuid, created_at timestamptz)
           ON CONFLICT DO NOTHING
           RETURNING id""",
        [_adopted_volume_row(r) for r in records],
    )
    return {str(r["id"]) for r in rows}


async def update_observed_volumes(conn: Connection, changes: Sequence[tuple[ResourceRecord, str]]) -> set[str]:
    """Write the state, reason and attributes of volume records the sync corrected, each only if its row is still at
    the version the sync read and no action was requested since; returns the ids updated."""
    if not changes:
        return set()
    rows = await conn.fetch(
        """UPDATE resources v SET state = r.state, reason = r.reason, attrs = r.attrs,
               last_event_id = r.last_event_id, updated_at = now()
           FROM jsonb_to_recordset($1::jsonb) AS r(
               id uuid, state text, reason text, attrs jsonb, last_event_id uuid, version text)
           WHERE v.id = r.id AND v.kind = 'volume' AND v.xmin::text = r.version AND v.pending_action IS NULL
           RETURNING v.id""",
        [
            {
                "id": after.id,
                "state": after.state,
                "reason": after.reason,
                "attrs": dict(after.attrs),
                "last_event_id": after.last_event_id,
                "version": version,
            }
            for after, version in changes
        ],
    )
    return {str(r["id"]) for r in rows}


async def commit_volume_chunk(
    conn: Connection,
    *,
    adopt: Sequence[tuple[ResourceRecord, Envelope]],
    update: Sequence[tuple[ResourceRecord, str, Envelope]],
) -> tuple[set[str], set[str]]:
    """`commit_chunk` for volume records."""
    async with conn.transaction():
        inserted = await insert_adopted_volumes(conn, [r for r, _ in adopt])
        updated = await update_observed_volumes(conn, [(r, version) for r, version, _ in update])
        await outbox.add(
            conn,
            *[e for r, e in adopt if r.id in inserted],
            *[e for r, _, e in update if r.id in updated],
        )
    return inserted, updated


# --- runs -----------------------------------------------------------------------------------------------------

_RUN_COLUMNS = (
    "id, cloud_id, project_id, trigger, status, started_at, finished_at, adopted, drifted, vanished, unchanged, "
    "listed, list_calls, error, correlation_id, volumes_adopted, volumes_drifted, volumes_vanished, "
    "volumes_unchanged, volumes_listed"
)


def _run(row: Any) -> SyncRun:
    return SyncRun(
        id=str(row["id"]),
        cloud_id=row["cloud_id"],
        project_id=row["project_id"],
        trigger=row["trigger"],
        status=row["status"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        counts=Counts(
            adopted=row["adopted"],
            drifted=row["drifted"],
            vanished=row["vanished"],
            unchanged=row["unchanged"],
            listed=row["listed"],
            list_calls=row["list_calls"],
            volumes_adopted=row["volumes_adopted"],
            volumes_drifted=row["volumes_drifted"],
            volumes_vanished=row["volumes_vanished"],
            volumes_unchanged=row["volumes_unchanged"],
            volumes_listed=row["volumes_listed"],
        ),
        error=row["error"],
        correlation_id=row["correlation_id"],
    )


# Why a run still marked running is closed when the next one of its account starts: whoever ran it holds the
# account's lock for as long as it runs, so a run found running by the lock's new holder had its process stop.
INTERRUPTED = "The sync was interrupted: the provisioner running it stopped."


async def start_run(
    conn: Connection, *, cloud_id: str, project_id: str, trigger: SyncTrigger, correlation_id: str
) -> SyncRun:
    """Record a new run as running; call holding the account's lock (runs left running are closed first)."""
    async with conn.transaction():
        await conn.execute(
            """UPDATE sync_runs SET status = 'failed', finished_at = clock_timestamp(), error = $2
               WHERE cloud_id = $1 AND status = 'running'""",
            cloud_id,
            INTERRUPTED,
        )
        row = await conn.fetchrow(
            f"""INSERT INTO sync_runs (id, cloud_id, project_id, trigger, status, correlation_id)
                VALUES ($1, $2, $3, $4, 'running', $5) RETURNING {_RUN_COLUMNS}""",
            uuid.uuid4(),
            cloud_id,
            project_id,
            trigger,
            correlation_id,
        )
    return _run(row)


async def finish_run(
    conn: Connection,
    run_id: str,
    *,
    status: SyncStatus,
    counts: Counts,
    error: str | None = None,
    events: Sequence[Envelope] = (),
) -> SyncRun:
    """Close a run with its counts, and queue its events, in one transaction."""
    async with conn.transaction():
        row = await conn.fetchrow(
            f"""UPDATE sync_runs SET status = $2, finished_at = clock_timestamp(), adopted = $3, drifted = $4,
                    vanished = $5, unchanged = $6, listed = $7, list_calls = $8, error = $9, volumes_adopted = $10,
                    volumes_drifted = $11, volumes_vanished = $12, volumes_unchanged = $13, volumes_listed = $14
                WHERE id = $1 RETURNING {_RUN_COLUMNS}""",
            uuid.UUID(run_id),
            status,
            counts.adopted,
            counts.drifted,
            counts.vanished,
            counts.unchanged,
            counts.listed,
            counts.list_calls,
            error,
            counts.volumes_adopted,
            counts.volumes_drifted,
            counts.volumes_vanished,
            counts.volumes_unchanged,
            counts.volumes_listed,
        )
        await outbox.add(conn, *events)
    return _run(row)


async def running(conn: Connection | Pool, cloud_id: str) -> SyncRun | None:
    row = await conn.fetchrow(
        f"SELECT {_RUN_COLUMNS} FROM sync_runs WHERE cloud_id = $1 AND status = 'running'", cloud_id
    )
    return _run(row) if row else None


async def get_run(conn: Connection | Pool, project_id: str, cloud_id: str, run_id: str) -> SyncRun | None:
    try:
        key = uuid.UUID(run_id)
    except ValueError:
        return None
    row = await conn.fetchrow(
        f"SELECT {_RUN_COLUMNS} FROM sync_runs WHERE id = $1 AND cloud_id = $2 AND project_id = $3",
        key,
        cloud_id,
        project_id,
    )
    return _run(row) if row else None


RUN_LISTING = Listing(
    f"SELECT {_RUN_COLUMNS} FROM sync_runs",
    {"started_at": Column("started_at", "timestamptz")},
    Column("id", "uuid"),
    default_order="desc",
)


async def page_runs(
    conn: Connection | Pool, project_id: str, cloud_id: str, request: PageRequest
) -> tuple[list[SyncRun], str | None]:
    """One page of the project's runs of an account (newest first unless the request says), and the next page's
    cursor."""
    where = Where().add("project_id = {}", project_id).add("cloud_id = {}", cloud_id)
    return await fetch_page(conn, RUN_LISTING, where, request, _run)


async def last_started(conn: Connection | Pool) -> dict[str, datetime]:
    """When each account's latest run started."""
    rows = await conn.fetch("SELECT cloud_id, max(started_at) AS at FROM sync_runs GROUP BY cloud_id")
    return {r["cloud_id"]: r["at"] for r in rows}


__all__ = [
    "INTERRUPTED",
    "commit_chunk",
    "commit_volume_chunk",
    "finish_run",
    "get_run",
    "insert_adopted",
    "insert_adopted_volumes",
    "instance_ids",
    "last_started",
    "page_runs",
    "running",
    "security_group_ids",
    "start_run",
    "try_lock",
    "unlock",
    "update_observed",
    "update_observed_volumes",
    "versions",
    "volume_versions",
    "volumes_of",
]
