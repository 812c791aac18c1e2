"""The `instances` table: the repository port the use cases and the engine use, and its PostgreSQL implementation."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from kernel.db import Connection
from kernel.keyset import Listing, PageRequest, fetch_page
from services.provisioner.clouds.repository import CloudRepository
from services.provisioner.instances.domain import TRANSITIONAL, InstanceRecord
from services.provisioner.listing import RECORD_KEY, RECORD_SORTS, record_filters
from services.provisioner.owned import owned
from services.provisioner.work.table import IN_FLIGHT, NOT_HELD, UNCLAIMED, PendingTable, lease_interval

COLUMNS = (
    "id, project_id, cloud_id, name, image_id, flavor_id, provider_id, state, pending_action, attempts, "
    "reason, private_ips, correlation_id, last_event_id, created_at, updated_at, key_name, security_group_ids, "
    f"zone, tags, launch_options, throttled, pending_since, discovered, {IN_FLIGHT}"
)
INSTANCE_LISTING = Listing(f"SELECT {COLUMNS} FROM instances", RECORD_SORTS, RECORD_KEY)


@dataclass(frozen=True)
class InstanceFilter:
    project_id: str
    cloud_id: str | None = None
    states: Sequence[str] = ()
    name: str | None = None
    # Only records an inventory sync adopted (True) or only Clanavi's own (False).
    discovered: bool | None = None


class InstanceRepository(Protocol):
    async def add(self, record: InstanceRecord) -> None: ...
    async def save(self, record: InstanceRecord) -> InstanceRecord:
        """Save a changed record; a request's change ends a claim on it (the call in flight is superseded)."""
        ...

    async def get(self, project_id: str, instance_id: str) -> InstanceRecord | None: ...
    async def lock(self, project_id: str, instance_id: str) -> InstanceRecord | None: ...
    async def page(self, flt: InstanceFilter, request: PageRequest) -> tuple[list[InstanceRecord], str | None]:
        """One page of a project's instances, and the cursor of the next page (None on the last)."""
        ...

    async def using_security_group(self, project_id: str, group_id: str) -> list[str]:
        """Ids of the project's instances launched with a security group (a Clanavi id) that have not ended."""
        ...

    # the engine's (services.provisioner.work.engine.PendingStore)
    async def due(self, limit: int) -> list[str]: ...
    async def claim(self, record_id: str, token: str, lease: float) -> InstanceRecord | None: ...
    async def extend(self, record_id: str, token: str, lease: float) -> bool: ...
    async def settle(self, record: InstanceRecord, token: str, *, retry_in: float) -> InstanceRecord | None: ...
    async def release(self, record_id: str, token: str) -> bool: ...
    async def discard(self, record_id: str, token: str) -> bool: ...
    async def moving(self) -> list[InstanceRecord]: ...
    async def lock_moving(self, ids: Sequence[str]) -> list[InstanceRecord]: ...


class Named(Protocol):
    """What a launch reads of the key pair and security groups it names."""

    @property
    def id(self) -> str: ...
    @property
    def cloud_id(self) -> str: ...
    @property
    def provider_id(self) -> str | None: ...
    @property
    def state(self) -> str: ...


class HeldResources(Protocol):
    """What instances ask of the other resources' records: a launch's key pair and groups, and what a terminated
    instance held."""

    async def named(self, project_id: str, kind: Literal["key_pair"], cloud_id: str, name: str) -> Named | None: ...
    async def many(self, project_id: str, kind: Literal["security_group"], ids: Sequence[str]) -> Sequence[Named]: ...
    async def release_held_by(self, instance_id: str) -> None: ...


class InstanceStore(Protocol):
    """The repositories the instance use cases and the engine's instances use."""

    @property
    def clouds(self) -> CloudRepository: ...
    @property
    def instances(self) -> InstanceRepository: ...
    @property
    def resources(self) -> HeldResources: ...


async def owned_instance(
    repo: InstanceRepository, project_id: str, instance_id: str, *, named_in: str | None = None
) -> InstanceRecord:
    """One of the project's instances (see `owned`)."""
    return owned(await repo.get(project_id, instance_id), "instance", instance_id, named_in=named_in)


def record_of(row: Any) -> InstanceRecord:
    return InstanceRecord(
        id=str(row["id"]),
        project_id=row["project_id"],
        cloud_id=row["cloud_id"],
        name=row["name"],
        image_id=row["image_id"],
        flavor_id=row["flavor_id"],
        provider_id=row["provider_id"],
        state=row["state"],
        pending_action=row["pending_action"],
        attempts=row["attempts"],
        reason=row["reason"],
        private_ips=tuple(row["private_ips"]),
        correlation_id=row["correlation_id"],
        last_event_id=str(row["last_event_id"]) if row["last_event_id"] else None,
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        key_name=row["key_name"],
        security_group_ids=tuple(row["security_group_ids"]),
        zone=row["zone"],
        tags=row["tags"],
        launch_options=row["launch_options"],
        throttled=row["throttled"],
        pending_since=row["pending_since"],
        discovered=row["discovered"],
        in_flight=row["in_flight"],
    )


def key_of(record_id: str) -> uuid.UUID | None:
    """A record's id as the key it has in the table; None for text that cannot be one (no record has it)."""
    try:
        return uuid.UUID(record_id)
    except ValueError:
        return None


class PostgresInstanceRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._pending = PendingTable(conn, "instances", COLUMNS)

    async def add(self, record: InstanceRecord) -> None:
        await self._conn.execute(
            """INSERT INTO instances (id, project_id, cloud_id, name, image_id, flavor_id, provider_id, state,
                   pending_action, attempts, reason, private_ips, correlation_id, last_event_id, created_at,
                   updated_at, key_name, security_group_ids, zone, tags, launch_options, throttled, pending_since)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20,
                       $21, $22, $23)""",
            uuid.UUID(record.id),
            record.project_id,
            record.cloud_id,
            record.name,
            record.image_id,
            record.flavor_id,
            record.provider_id,
            record.state,
            record.pending_action,
            record.attempts,
            record.reason,
            list(record.private_ips),
            record.correlation_id,
            record.last_event_id,
            record.created_at,
            record.updated_at,
            record.key_name,
            list(record.security_group_ids),
            record.zone,
            dict(record.tags),
            dict(record.launch_options),
            record.throttled,
            record.pending_since,
        )

    async def _write(self, record: InstanceRecord, *, retry_in: float, only_for: str | None) -> InstanceRecord | None:
        """Save the record's changing fields and end any claim (only while `only_for` holds it, when given)."""
        row = await self._conn.fetchrow(
            f"""UPDATE instances SET provider_id = $2, state = $3, pending_action = $4, attempts = $5, reason = $6,
                   private_ips = $7, correlation_id = $8, last_event_id = $9, updated_at = now(),
                   next_attempt_at = now() + {lease_interval("$10")}, launch_options = $11, throttled = $12,
                   pending_since = $13, zone = $14, {UNCLAIMED}
               WHERE id = $1 AND ($15::uuid IS NULL OR claim_token = $15) RETURNING {COLUMNS}""",
            uuid.UUID(record.id),
            record.provider_id,
            record.state,
            record.pending_action,
            record.attempts,
            record.reason,
            list(record.private_ips),
            record.correlation_id,
            record.last_event_id,
            retry_in,
            dict(record.launch_options),
            record.throttled,
            record.pending_since,
            record.zone,
            uuid.UUID(only_for) if only_for is not None else None,
        )
        return record_of(row) if row else None

    async def save(self, record: InstanceRecord) -> InstanceRecord:
        saved = await self._write(record, retry_in=0.0, only_for=None)
        if saved is None:
            raise LookupError(f"instance {record.id} is not recorded")
        return saved

    async def settle(self, record: InstanceRecord, token: str, *, retry_in: float) -> InstanceRecord | None:
        return await self._write(record, retry_in=retry_in, only_for=token)

    async def get(self, project_id: str, instance_id: str) -> InstanceRecord | None:
        return await self._one(project_id, instance_id, lock=False)

    async def lock(self, project_id: str, instance_id: str) -> InstanceRecord | None:
        return await self._one(project_id, instance_id, lock=True)

    async def _one(self, project_id: str, instance_id: str, *, lock: bool) -> InstanceRecord | None:
        key = key_of(instance_id)
        if key is None:
            return None
        row = await self._conn.fetchrow(
            f"SELECT {COLUMNS} FROM instances WHERE id = $1 AND project_id = $2{' FOR UPDATE' if lock else ''}",
            key,
            project_id,
        )
        return record_of(row) if row else None

    async def page(self, flt: InstanceFilter, request: PageRequest) -> tuple[list[InstanceRecord], str | None]:
        return await fetch_page(self._conn, INSTANCE_LISTING, record_filters(flt), request, record_of)

    async def using_security_group(self, project_id: str, group_id: str) -> list[str]:
        rows = await self._conn.fetch(
            """SELECT id FROM instances
               WHERE project_id = $1 AND $2 = ANY(security_group_ids) AND state NOT IN ('terminated', 'gone')
               ORDER BY created_at""",
            project_id,
            group_id,
        )
        return [str(r["id"]) for r in rows]

    async def due(self, limit: int) -> list[str]:
        return await self._pending.due(limit)

    async def claim(self, record_id: str, token: str, lease: float) -> InstanceRecord | None:
        row = await self._pending.claim(record_id, token, lease)
        return record_of(row) if row else None

    async def extend(self, record_id: str, token: str, lease: float) -> bool:
        return await self._pending.extend(record_id, token, lease)

    async def release(self, record_id: str, token: str) -> bool:
        return await self._pending.release(record_id, token)

    async def discard(self, record_id: str, token: str) -> bool:
        return await self._pending.discard(record_id, token)

    async def moving(self) -> list[InstanceRecord]:
        rows = await self._conn.fetch(
            f"""SELECT {COLUMNS} FROM instances
                WHERE pending_action IS NULL AND state = ANY($1::text[]) AND provider_id IS NOT NULL AND {NOT_HELD}""",
            sorted(TRANSITIONAL),
        )
        return [record_of(r) for r in rows]

    async def lock_moving(self, ids: Sequence[str]) -> list[InstanceRecord]:
        rows = await self._conn.fetch(
            f"""SELECT {COLUMNS} FROM instances
                WHERE id = ANY($1::uuid[]) AND pending_action IS NULL AND state = ANY($2::text[])
                FOR UPDATE SKIP LOCKED""",
            [uuid.UUID(i) for i in ids],
            sorted(TRANSITIONAL),
        )
        return [record_of(r) for r in rows]


__all__ = [
    "COLUMNS",
    "INSTANCE_LISTING",
    "HeldResources",
    "InstanceFilter",
    "InstanceRepository",
    "InstanceStore",
    "Named",
    "PostgresInstanceRepository",
    "key_of",
    "owned_instance",
    "record_of",
]
