"""Inventory sync's tables: the bulk writes of a sync's changes to the instance and volume records, and `sync_runs`.

A sync writes thousands of rows: each chunk is one statement per kind of change (rows sent as one JSON document,
expanded by `jsonb_to_recordset`), in one transaction with its events. Every update is guarded by the row version the
sync read, so a record Clanavi changed meanwhile is left as it is (and its event is not written).

A run is held by a lease (`held_until`), renewed while it runs: at most one run of a cloud is `running` (a unique
index), and a run whose lease ran out (its provisioner stopped) is closed as interrupted when the next one starts.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from kernel.db import Connection, from_row
from kernel.keyset import Column, Listing, PageRequest, Where, fetch_page
from services.provisioner.clouds.repository import CloudRepository
from services.provisioner.instances import repository as instances
from services.provisioner.instances.domain import InstanceRecord
from services.provisioner.inventory.domain import Counts, SyncRun, SyncStatus, SyncTrigger
from services.provisioner.listing import SYNC_SORTS
from services.provisioner.resources import repository as resources
from services.provisioner.resources.domain import ResourceRecord
from services.provisioner.work.table import lease_interval

# Why a run still marked running is closed when the next one of its cloud starts.
INTERRUPTED = "The sync was interrupted: the provisioner running it stopped."

_COUNTS = (
    "adopted, drifted, vanished, unchanged, listed, list_calls, volumes_adopted, volumes_drifted, volumes_vanished, "
    "volumes_unchanged, volumes_listed"
)
_RUN_COLUMNS = f"id, cloud_id, project_id, trigger, status, started_at, finished_at, error, correlation_id, {_COUNTS}"
RUN_LISTING = Listing(f"SELECT {_RUN_COLUMNS} FROM sync_runs", SYNC_SORTS, Column("id", "uuid"), default_order="desc")


class InventoryRepository(Protocol):
    async def instances(self, cloud_id: str) -> list[tuple[InstanceRecord, str]]:
        """Every instance record of the cloud, each with its row version (`xmin`, which every update changes)."""
        ...

    async def volumes(self, cloud_id: str) -> list[tuple[ResourceRecord, str]]: ...
    async def instance_versions(self, cloud_id: str) -> dict[str, str]: ...
    async def volume_versions(self, cloud_id: str) -> dict[str, str]: ...
    async def security_group_ids(self, cloud_id: str) -> dict[str, str]:
        """The cloud's security groups: id in the cloud -> Clanavi id."""
        ...

    async def instance_ids(self, cloud_id: str) -> dict[str, str]:
        """The cloud's instances: id in the cloud -> Clanavi id (records of ended instances left out)."""
        ...

    async def adopt_instances(self, records: Sequence[InstanceRecord]) -> set[str]:
        """Insert adopted records; the ids inserted (a thing recorded meanwhile keeps its record)."""
        ...

    async def adopt_volumes(self, records: Sequence[ResourceRecord]) -> set[str]: ...
    async def correct_instances(self, changes: Sequence[tuple[InstanceRecord, str]]) -> set[str]:
        """Write what the sync corrected, each record only if its row is still at the version the sync read and no
        action was requested since; the ids updated."""
        ...

    async def correct_volumes(self, changes: Sequence[tuple[ResourceRecord, str]]) -> set[str]: ...

    async def start_run(
        self, *, cloud_id: str, project_id: str, trigger: SyncTrigger, correlation_id: str, lease: float
    ) -> SyncRun | None:
        """Record a new run, held for `lease` seconds; None while another run of the cloud holds its lease (a run
        whose lease ran out is closed as interrupted first)."""
        ...

    async def hold_run(self, run_id: str, lease: float) -> bool: ...
    async def finish_run(self, run_id: str, *, status: SyncStatus, counts: Counts, error: str | None) -> SyncRun: ...
    async def running(self, cloud_id: str) -> SyncRun | None: ...
    async def get_run(self, project_id: str, cloud_id: str, run_id: str) -> SyncRun | None: ...
    async def page_runs(
        self, project_id: str, cloud_id: str, request: PageRequest
    ) -> tuple[list[SyncRun], str | None]: ...
    async def last_started(self) -> dict[str, datetime]:
        """When each cloud's latest run started."""
        ...


class InventoryStore(Protocol):
    """The repositories inventory syncs use."""

    @property
    def clouds(self) -> CloudRepository: ...
    @property
    def inventory(self) -> InventoryRepository: ...


def run_of(row: Any) -> SyncRun:
    return from_row(SyncRun, row, counts=from_row(Counts, row))


# The fields of an adopted record that its row is inserted with, and those a correction writes.
_ADOPTED_INSTANCE = tuple(
    "id project_id cloud_id name image_id flavor_id provider_id state reason private_ips correlation_id last_event_id "
    "created_at key_name security_group_ids zone tags".split()
)
_ADOPTED_VOLUME = tuple(
    "id project_id cloud_id name provider_id state reason attrs correlation_id last_event_id created_at".split()
)
_CORRECTED = ("id", "state", "reason", "last_event_id")


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, Mapping):
        return dict(value)
    return value


def _document(record: Any, names: Sequence[str], **more: Any) -> dict[str, Any]:
    """A record's fields as one row of the JSON document `jsonb_to_recordset` reads back by name."""
    return {name: _jsonable(getattr(record, name)) for name in names} | more


def _corrected(after: InstanceRecord | ResourceRecord, version: str) -> dict[str, Any]:
    names = (*_CORRECTED, "attrs") if isinstance(after, ResourceRecord) else _CORRECTED
    return _document(after, names, version=version)


class PostgresInventoryRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def _ids(self, sql: str, rows: list[dict[str, Any]]) -> set[str]:
        if not rows:
            return set()
        return {str(r["id"]) for r in await self._conn.fetch(sql, rows)}

    async def _map(self, sql: str, cloud_id: str) -> dict[str, str]:
        return {str(r[0]): str(r[1]) for r in await self._conn.fetch(sql, cloud_id)}

    async def instances(self, cloud_id: str) -> list[tuple[InstanceRecord, str]]:
        rows = await self._conn.fetch(
            f"SELECT {instances.COLUMNS}, xmin::text AS version FROM instances WHERE cloud_id = $1", cloud_id
        )
        return [(instances.record_of(r), r["version"]) for r in rows]

    async def volumes(self, cloud_id: str) -> list[tuple[ResourceRecord, str]]:
        rows = await self._conn.fetch(
            f"""SELECT {resources.COLUMNS}, xmin::text AS version FROM resources
                WHERE cloud_id = $1 AND kind = 'volume'""",
            cloud_id,
        )
        return [(resources.record_of(r), r["version"]) for r in rows]

    async def instance_versions(self, cloud_id: str) -> dict[str, str]:
        return await self._map("SELECT id, xmin::text FROM instances WHERE cloud_id = $1", cloud_id)

    async def volume_versions(self, cloud_id: str) -> dict[str, str]:
        return await self._map("SELECT id, xmin::text FROM resources WHERE cloud_id = $1 AND kind = 'volume'", cloud_id)

    async def security_group_ids(self, cloud_id: str) -> dict[str, str]:
        return await self._map(
            """SELECT provider_id, id FROM resources
               WHERE cloud_id = $1 AND kind = 'security_group' AND provider_id IS NOT NULL AND state <> 'deleted'""",
            cloud_id,
        )

    async def instance_ids(self, cloud_id: str) -> dict[str, str]:
        return await self._map(
            """SELECT provider_id, id FROM instances
               WHERE cloud_id = $1 AND provider_id IS NOT NULL AND state NOT IN ('terminated', 'gone')""",
            cloud_id,
        )

    async def adopt_instances(self, records: Sequence[InstanceRecord]) -> set[str]:
        return await self._ids(
            """INSERT INTO instances (id, project_id, cloud_id, name, image_id, flavor_id, provider_id, state, reason,
                   private_ips, correlation_id, last_event_id, created_at, updated_at, key_name, security_group_ids,
                   zone, tags, discovered)
               SELECT id, project_id, cloud_id, name, image_id, flavor_id, provider_id, state, reason, private_ips,
                      correlation_id, last_event_id, created_at, created_at, key_name, security_group_ids, zone, tags,
                      true
               FROM jsonb_to_recordset($1::jsonb) AS r(
                   id uuid, project_id text, cloud_id text, name text, image_id text, flavor_id text,
                   provider_id text, state text, reason text, private_ips text[], correlation_id text,
                   last_event_id uuid, created_at timestamptz, key_name text, security_group_ids text[], zone text,
                   tags jsonb)
               ON CONFLICT (cloud_id, provider_id) DO NOTHING
               RETURNING id""",
            [_document(r, _ADOPTED_INSTANCE) for r in records],
        )

    async def adopt_volumes(self, records: Sequence[ResourceRecord]) -> set[str]:
        return await self._ids(
            """INSERT INTO resources (id, kind, project_id, cloud_id, name, provider_id, state, reason, attrs,
                   correlation_id, last_event_id, created_at, updated_at, discovered)
               SELECT id, 'volume', project_id, cloud_id, name, provider_id, state, reason, attrs, correlation_id,
                      last_event_id, created_at, created_at, true
               FROM jsonb_to_recordset($1::jsonb) AS r(
                   id uuid, project_id text, cloud_id text, name text, provider_id text, state text, reason text,
                   attrs jsonb, correlation_id text, last_event_id uuid, created_at timestamptz)
               ON CONFLICT DO NOTHING
               RETURNING id""",
            [_document(r, _ADOPTED_VOLUME) for r in records],
        )

    async def correct_instances(self, changes: Sequence[tuple[InstanceRecord, str]]) -> set[str]:
        return await self._ids(
            """UPDATE instances i SET state = r.state, reason = r.reason, last_event_id = r.last_event_id,
                   updated_at = now()
               FROM jsonb_to_recordset($1::jsonb)
                   AS r(id uuid, state text, reason text, last_event_id uuid, version text)
               WHERE i.id = r.id AND i.xmin::text = r.version AND i.pending_action IS NULL
               RETURNING i.id""",
            [_corrected(after, version) for after, version in changes],
        )

    async def correct_volumes(self, changes: Sequence[tuple[ResourceRecord, str]]) -> set[str]:
        return await self._ids(
            """UPDATE resources v SET state = r.state, reason = r.reason, attrs = r.attrs,
                   last_event_id = r.last_event_id, updated_at = now()
               FROM jsonb_to_recordset($1::jsonb)
                   AS r(id uuid, state text, reason text, attrs jsonb, last_event_id uuid, version text)
               WHERE v.id = r.id AND v.kind = 'volume' AND v.xmin::text = r.version AND v.pending_action IS NULL
               RETURNING v.id""",
            [_corrected(after, version) for after, version in changes],
        )

    async def start_run(
        self, *, cloud_id: str, project_id: str, trigger: SyncTrigger, correlation_id: str, lease: float
    ) -> SyncRun | None:
        await self._conn.execute(
            """UPDATE sync_runs SET status = 'failed', finished_at = clock_timestamp(), error = $2
               WHERE cloud_id = $1 AND status = 'running' AND (held_until IS NULL OR held_until < now())""",
            cloud_id,
            INTERRUPTED,
        )
        row = await self._conn.fetchrow(
            f"""INSERT INTO sync_runs (id, cloud_id, project_id, trigger, status, correlation_id, held_until)
                VALUES ($1, $2, $3, $4, 'running', $5, now() + {lease_interval("$6")})
                ON CONFLICT (cloud_id) WHERE status = 'running' DO NOTHING
                RETURNING {_RUN_COLUMNS}""",
            uuid.uuid4(),
            cloud_id,
            project_id,
            trigger,
            correlation_id,
            lease,
        )
        return run_of(row) if row else None

    async def hold_run(self, run_id: str, lease: float) -> bool:
        done = await self._conn.fetchval(
            f"""UPDATE sync_runs SET held_until = now() + {lease_interval("$2")}
                WHERE id = $1 AND status = 'running' RETURNING true""",
            uuid.UUID(run_id),
            lease,
        )
        return bool(done)

    async def finish_run(self, run_id: str, *, status: SyncStatus, counts: Counts, error: str | None) -> SyncRun:
        names = list(Counts.__dataclass_fields__)
        assignments = ", ".join(f"{name} = ${n}" for n, name in enumerate(names, start=4))
        row = await self._conn.fetchrow(
            f"""UPDATE sync_runs SET status = $2, finished_at = clock_timestamp(), error = $3, held_until = NULL,
                    {assignments}
                WHERE id = $1 RETURNING {_RUN_COLUMNS}""",
            uuid.UUID(run_id),
            status,
            error,
            *(getattr(counts, name) for name in names),
        )
        return run_of(row)

    async def running(self, cloud_id: str) -> SyncRun | None:
        row = await self._conn.fetchrow(
            f"SELECT {_RUN_COLUMNS} FROM sync_runs WHERE cloud_id = $1 AND status = 'running'", cloud_id
        )
        return run_of(row) if row else None

    async def get_run(self, project_id: str, cloud_id: str, run_id: str) -> SyncRun | None:
        key = instances.key_of(run_id)
        if key is None:
            return None
        row = await self._conn.fetchrow(
            f"SELECT {_RUN_COLUMNS} FROM sync_runs WHERE id = $1 AND cloud_id = $2 AND project_id = $3",
            key,
            cloud_id,
            project_id,
        )
        return run_of(row) if row else None

    async def page_runs(self, project_id: str, cloud_id: str, request: PageRequest) -> tuple[list[SyncRun], str | None]:
        where = Where().add("project_id = {}", project_id).add("cloud_id = {}", cloud_id)
        return await fetch_page(self._conn, RUN_LISTING, where, request, run_of)

    async def last_started(self) -> dict[str, datetime]:
        rows = await self._conn.fetch("SELECT cloud_id, max(started_at) AS at FROM sync_runs GROUP BY cloud_id")
        return {r["cloud_id"]: r["at"] for r in rows}


__all__ = [
    "INTERRUPTED",
    "RUN_LISTING",
    "InventoryRepository",
    "InventoryStore",
    "PostgresInventoryRepository",
    "run_of",
]
