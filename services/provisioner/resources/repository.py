"""The `resources` table (every kind but instances): the repository port the use cases and the engine use, and its
PostgreSQL implementation."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import asyncpg

from kernel.db import Connection
from kernel.errors import Conflict
from kernel.keyset import Listing, PageRequest, fetch_page
from services.provisioner.clouds.repository import CloudRepository
from services.provisioner.instances.repository import InstanceRepository, key_of
from services.provisioner.listing import RECORD_KEY, RECORD_SORTS, record_filters
from services.provisioner.owned import owned
from services.provisioner.resources.domain import RULES, Kind, ResourceRecord, label
from services.provisioner.work.table import NOT_HELD, PendingTable, lease_interval

COLUMNS = (
    "id, kind, project_id, cloud_id, name, provider_id, state, pending_action, pending, attempts, throttled, reason, "
    "attrs, correlation_id, last_event_id, pending_since, created_at, updated_at, discovered"
)
RESOURCE_LISTING = Listing(f"SELECT {COLUMNS} FROM resources", RECORD_SORTS, RECORD_KEY)

_FOLLOWED = sorted({(kind, state) for kind, rules in RULES.items() for state in rules.followed})
# Constants from the rules (never input): lets the planner use the partial index `resources_moving`.
_FOLLOWED_STATES = ", ".join(f"'{state}'" for state in sorted({s for _, s in _FOLLOWED}))


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


class ResourceRepository(Protocol):
    async def add(self, record: ResourceRecord, *, claim: str | None = None, lease: float = 0.0) -> None:
        """Record a new resource; with `claim`, its action is held by the request that carries it out. Raises
        Conflict when its name is taken in the cloud (key pairs and security groups)."""
        ...

    async def save(self, record: ResourceRecord) -> ResourceRecord: ...
    async def hold(self, record: ResourceRecord, token: str, lease: float) -> ResourceRecord:
        """Save a record whose action the caller carries out itself, under its claim."""
        ...

    async def get(self, project_id: str, kind: Kind, resource_id: str) -> ResourceRecord | None: ...
    async def lock(self, project_id: str, kind: Kind, resource_id: str) -> ResourceRecord | None: ...
    async def find(self, resource_id: str) -> ResourceRecord | None:
        """Any project's record: what became of an action the worker took over."""
        ...

    async def named(self, project_id: str, kind: Kind, cloud_id: str, name: str) -> ResourceRecord | None:
        """The live record of that name (key pairs and security groups have one per cloud)."""
        ...

    async def many(self, project_id: str, kind: Kind, ids: Sequence[str]) -> list[ResourceRecord]: ...
    async def provider_ids(self, cloud_id: str, kind: Kind) -> set[str]:
        """Every provider id Clanavi has a record of in a cloud (live or not)."""
        ...

    async def page(self, flt: ResourceFilter, request: PageRequest) -> tuple[list[ResourceRecord], str | None]: ...
    async def release_held_by(self, instance_id: str) -> None:
        """Volumes and addresses the cloud held on a terminated instance are checked again: the engine follows them
        until the cloud reports them free (or, after a grace, still held)."""
        ...

    # the engine's (services.provisioner.work.engine.PendingStore)
    async def due(self, limit: int) -> list[str]: ...
    async def claim(self, record_id: str, token: str, lease: float) -> ResourceRecord | None: ...
    async def extend(self, record_id: str, token: str, lease: float) -> bool: ...
    async def settle(self, record: ResourceRecord, token: str, *, retry_in: float) -> ResourceRecord | None: ...
    async def release(self, record_id: str, token: str) -> bool: ...
    async def discard(self, record_id: str, token: str) -> bool: ...
    async def moving(self) -> list[ResourceRecord]: ...
    async def lock_moving(self, ids: Sequence[str]) -> list[ResourceRecord]: ...


class ResourceStore(Protocol):
    """The repositories the resource use cases and the engine's resources use."""

    @property
    def clouds(self) -> CloudRepository: ...
    @property
    def instances(self) -> InstanceRepository: ...
    @property
    def resources(self) -> ResourceRepository: ...


async def owned_resource(
    repo: ResourceRepository, project_id: str, kind: Kind, resource_id: str, *, named_in: str | None = None
) -> ResourceRecord:
    """One of the project's resources of `kind` (see `owned`)."""
    return owned(await repo.get(project_id, kind, resource_id), label(kind), resource_id, named_in=named_in)


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


class PostgresResourceRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._pending = PendingTable(conn, "resources", COLUMNS)

    async def add(self, record: ResourceRecord, *, claim: str | None = None, lease: float = 0.0) -> None:
        try:
            await self._conn.execute(
                f"""INSERT INTO resources (id, kind, project_id, cloud_id, name, provider_id, state, pending_action,
                       pending, attempts, throttled, reason, attrs, correlation_id, last_event_id, pending_since,
                       created_at, updated_at, claim_token, claimed_until)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19,
                           CASE WHEN $19::uuid IS NULL THEN NULL ELSE now() + {lease_interval("$20")} END)""",
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
                uuid.UUID(claim) if claim is not None else None,
                lease,
            )
        except asyncpg.UniqueViolationError:
            raise Conflict(
                f"A {label(record.kind)} named {record.name} already exists in cloud {record.cloud_id}.",
                errors=[{"location": "body.name", "message": "name taken in this cloud"}],
            ) from None

    async def _write(
        self,
        record: ResourceRecord,
        *,
        retry_in: float = 0.0,
        only_for: str | None = None,
        hold: str | None = None,
        lease: float = 0.0,
    ) -> ResourceRecord | None:
        """Save the record's changing fields, due after `retry_in` seconds; the claim becomes `hold`'s for `lease`
        seconds (or ends), and the row is written only while `only_for` holds it, when given."""
        try:
            row = await self._conn.fetchrow(
                f"""UPDATE resources SET provider_id = $2, state = $3, pending_action = $4, pending = $5,
                       attempts = $6, throttled = $7, reason = $8, attrs = $9, correlation_id = $10,
                       last_event_id = $11, pending_since = $12, updated_at = now(),
                       next_attempt_at = now() + {lease_interval("$13")}, claim_token = $15,
                       claimed_until = CASE WHEN $15::uuid IS NULL THEN NULL ELSE now() + {lease_interval("$16")} END
                   WHERE id = $1 AND ($14::uuid IS NULL OR claim_token = $14) RETURNING {COLUMNS}""",
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
                uuid.UUID(only_for) if only_for is not None else None,
                uuid.UUID(hold) if hold is not None else None,
                lease,
            )
        except asyncpg.UniqueViolationError:
            raise Conflict(
                f"Cloud {record.cloud_id} has this {label(record.kind)} under another record already."
            ) from None
        return record_of(row) if row else None

    async def save(self, record: ResourceRecord) -> ResourceRecord:
        saved = await self._write(record)
        if saved is None:
            raise LookupError(f"resource {record.id} is not recorded")
        return saved

    async def hold(self, record: ResourceRecord, token: str, lease: float) -> ResourceRecord:
        saved = await self._write(record, hold=token, lease=lease)
        if saved is None:
            raise LookupError(f"resource {record.id} is not recorded")
        return saved

    async def settle(self, record: ResourceRecord, token: str, *, retry_in: float) -> ResourceRecord | None:
        return await self._write(record, retry_in=retry_in, only_for=token)

    async def get(self, project_id: str, kind: Kind, resource_id: str) -> ResourceRecord | None:
        return await self._one(project_id, kind, resource_id, lock=False)

    async def lock(self, project_id: str, kind: Kind, resource_id: str) -> ResourceRecord | None:
        return await self._one(project_id, kind, resource_id, lock=True)

    async def _one(self, project_id: str, kind: Kind, resource_id: str, *, lock: bool) -> ResourceRecord | None:
        key = key_of(resource_id)
        if key is None:
            return None
        row = await self._conn.fetchrow(
            f"""SELECT {COLUMNS} FROM resources WHERE id = $1 AND project_id = $2 AND kind = $3
                {"FOR UPDATE" if lock else ""}""",
            key,
            project_id,
            kind,
        )
        return record_of(row) if row else None

    async def find(self, resource_id: str) -> ResourceRecord | None:
        row = await self._conn.fetchrow(f"SELECT {COLUMNS} FROM resources WHERE id = $1", uuid.UUID(resource_id))
        return record_of(row) if row else None

    async def named(self, project_id: str, kind: Kind, cloud_id: str, name: str) -> ResourceRecord | None:
        row = await self._conn.fetchrow(
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

    async def many(self, project_id: str, kind: Kind, ids: Sequence[str]) -> list[ResourceRecord]:
        keys = [k for k in (key_of(i) for i in ids) if k is not None]
        rows = await self._conn.fetch(
            f"SELECT {COLUMNS} FROM resources WHERE id = ANY($1::uuid[]) AND project_id = $2 AND kind = $3",
            keys,
            project_id,
            kind,
        )
        return [record_of(r) for r in rows]

    async def provider_ids(self, cloud_id: str, kind: Kind) -> set[str]:
        rows = await self._conn.fetch(
            "SELECT provider_id FROM resources WHERE cloud_id = $1 AND kind = $2 AND provider_id IS NOT NULL",
            cloud_id,
            kind,
        )
        return {r["provider_id"] for r in rows}

    async def page(self, flt: ResourceFilter, request: PageRequest) -> tuple[list[ResourceRecord], str | None]:
        where = (
            record_filters(flt)
            .add("kind = {}", flt.kind)
            .given("attrs->>'instance_id' = {}", flt.instance_id)
            .given("attrs->>'volume_id' = {}", flt.volume_id)
        )
        return await fetch_page(self._conn, RESOURCE_LISTING, where, request, record_of)

    async def release_held_by(self, instance_id: str) -> None:
        await self._conn.execute(
            """UPDATE resources SET state = CASE kind WHEN 'volume' THEN 'detaching' ELSE 'disassociating' END,
                   updated_at = now()
               WHERE attrs->>'instance_id' = $1 AND pending_action IS NULL
                 AND ((kind = 'volume' AND state = 'in-use') OR (kind = 'address' AND state = 'associated'))""",
            instance_id,
        )

    async def due(self, limit: int) -> list[str]:
        return await self._pending.due(limit)

    async def claim(self, record_id: str, token: str, lease: float) -> ResourceRecord | None:
        row = await self._pending.claim(record_id, token, lease)
        return record_of(row) if row else None

    async def extend(self, record_id: str, token: str, lease: float) -> bool:
        return await self._pending.extend(record_id, token, lease)

    async def release(self, record_id: str, token: str) -> bool:
        return await self._pending.release(record_id, token)

    async def discard(self, record_id: str, token: str) -> bool:
        return await self._pending.discard(record_id, token)

    async def moving(self) -> list[ResourceRecord]:
        rows = await self._conn.fetch(
            f"""SELECT {COLUMNS} FROM resources
                WHERE pending_action IS NULL AND provider_id IS NOT NULL AND state IN ({_FOLLOWED_STATES})
                  AND {NOT_HELD} AND (kind, state) IN (SELECT * FROM unnest($1::text[], $2::text[]))""",
            [k for k, _ in _FOLLOWED],
            [s for _, s in _FOLLOWED],
        )
        return [record_of(r) for r in rows]

    async def lock_moving(self, ids: Sequence[str]) -> list[ResourceRecord]:
        rows = await self._conn.fetch(
            f"""SELECT {COLUMNS} FROM resources
                WHERE id = ANY($1::uuid[]) AND pending_action IS NULL FOR UPDATE SKIP LOCKED""",
            [uuid.UUID(i) for i in ids],
        )
        return [record_of(r) for r in rows]


__all__ = [
    "COLUMNS",
    "RESOURCE_LISTING",
    "PostgresResourceRepository",
    "ResourceFilter",
    "ResourceRepository",
    "ResourceStore",
    "owned_resource",
    "record_of",
]
