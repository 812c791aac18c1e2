"""The `resources` table (every kind but instances): the repository port the use cases and the engine use, and its
PostgreSQL implementation."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import asyncpg

from kernel.db import from_row
from kernel.errors import Conflict
from kernel.keyset import Listing, PageRequest, fetch_page
from services.provisioner.instances.domain import LaunchNames
from services.provisioner.instances.repository import HeldResources, InstanceStore, key_of
from services.provisioner.listing import RECORD_KEY, RECORD_SORTS, record_filters
from services.provisioner.owned import owned
from services.provisioner.resources.domain import RULES, Kind, ResourceRecord, label, launch_names
from services.provisioner.work.engine import PendingStore
from services.provisioner.work.table import NOT_HELD, PENDING_COLUMNS, RECORD_COLUMNS, PendingTable, Stored, kept

COLUMNS = (
    "id, kind, project_id, cloud_id, name, provider_id, state, pending_action, pending, attempts, throttled, reason, "
    "attrs, correlation_id, last_event_id, pending_since, created_at, updated_at, discovered"
)
RESOURCE_LISTING = Listing(f"SELECT {COLUMNS} FROM resources", RECORD_SORTS, RECORD_KEY)

_FOLLOWED = sorted({(kind, state) for kind, rules in RULES.items() for state in rules.followed})
# Constants from the rules (never input): lets the planner use the partial index `resources_moving`.
_FOLLOWED_STATES = ", ".join(f"'{state}'" for state in sorted({s for _, s in _FOLLOWED}))
_FOLLOWED_PARAMS = ([k for k, _ in _FOLLOWED], [s for _, s in _FOLLOWED])


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


class ResourceRepository(PendingStore[ResourceRecord], HeldResources, Protocol):
    """The `resources` table (and the engine's statements on it)."""

    async def add(self, record: ResourceRecord, *, claim: str | None = None, lease: float = 0.0) -> None:
        """Record a new resource; with `claim`, its action is held by the request that carries it out. Raises
        Conflict when its name is taken in the cloud (key pairs and security groups)."""
        ...

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


class ResourceStore(InstanceStore, Protocol):
    """The repositories the resource use cases and the engine's resources use."""

    @property
    def resources(self) -> ResourceRepository: ...


async def owned_resource(
    repo: ResourceRepository, project_id: str, kind: Kind, resource_id: str, *, named_in: str | None = None
) -> ResourceRecord:
    """One of the project's resources of `kind` (see `owned`)."""
    return owned(await repo.get(project_id, kind, resource_id), label(kind), resource_id, named_in=named_in)


def record_of(row: Any) -> ResourceRecord:
    return from_row(ResourceRecord, row)


class PostgresResourceRepository(PendingTable[ResourceRecord]):
    table = "resources"
    columns = COLUMNS
    changing: ClassVar[Stored] = {**PENDING_COLUMNS, "pending": dict, "attrs": dict}
    inserted: ClassVar[Stored] = {**RECORD_COLUMNS, "kind": kept, **changing}
    # Constants from the rules (never input): lets the planner use the partial index `resources_moving`.
    moving_state = f"state IN ({_FOLLOWED_STATES}) AND (kind, state) IN (SELECT * FROM unnest($2::text[], $3::text[]))"

    def _record(self, row: Any) -> ResourceRecord:
        return record_of(row)

    async def add(self, record: ResourceRecord, *, claim: str | None = None, lease: float = 0.0) -> None:
        try:
            await self._insert(record, claim=claim, lease=lease)
        except asyncpg.UniqueViolationError:
            raise Conflict(
                f"A {label(record.kind)} named {record.name} already exists in cloud {record.cloud_id}.",
                errors=[{"location": "body.name", "message": "name taken in this cloud"}],
            ) from None

    async def _write(self, record: Any, **how: Any) -> ResourceRecord | None:
        try:
            return await super()._write(record, **how)
        except asyncpg.UniqueViolationError:
            raise Conflict(
                f"Cloud {record.cloud_id} has this {label(record.kind)} under another record already."
            ) from None

    async def hold(self, record: ResourceRecord, token: str, lease: float) -> ResourceRecord:
        saved = await self._write(record, hold=token, lease=lease)
        if saved is None:
            raise LookupError(f"resource {record.id} is not recorded")
        return saved

    async def get(self, project_id: str, kind: Kind, resource_id: str) -> ResourceRecord | None:
        key = key_of(resource_id)
        return await self._one("id = $1 AND project_id = $2 AND kind = $3", key, project_id, kind) if key else None

    async def lock(self, project_id: str, kind: Kind, resource_id: str) -> ResourceRecord | None:
        key = key_of(resource_id)
        where = "id = $1 AND project_id = $2 AND kind = $3 FOR UPDATE"
        return await self._one(where, key, project_id, kind) if key else None

    async def find(self, resource_id: str) -> ResourceRecord | None:
        return await self._one("id = $1", uuid.UUID(resource_id))

    async def named(self, project_id: str, kind: Kind, cloud_id: str, name: str) -> ResourceRecord | None:
        return await self._one(
            """project_id = $1 AND kind = $2 AND cloud_id = $3 AND name = $4 AND state <> $5
               ORDER BY created_at DESC LIMIT 1""",
            project_id,
            kind,
            cloud_id,
            name,
            RULES[kind].gone,
        )

    async def many(self, project_id: str, kind: Kind, ids: Sequence[str]) -> list[ResourceRecord]:
        keys = [k for k in (key_of(i) for i in ids) if k is not None]
        return await self._many("id = ANY($1::uuid[]) AND project_id = $2 AND kind = $3", keys, project_id, kind)

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

    async def launch_names(
        self, project_id: str, cloud_id: str, key_name: str | None, group_ids: Sequence[str]
    ) -> LaunchNames:
        key = await self.named(project_id, "key_pair", cloud_id, key_name) if key_name is not None else None
        return launch_names(key, await self.many(project_id, "security_group", group_ids), cloud_id)

    async def release_held_by(self, instance_id: str) -> None:
        await self._conn.execute(
            """UPDATE resources SET state = CASE kind WHEN 'volume' THEN 'detaching' ELSE 'disassociating' END,
                   updated_at = now()
               WHERE attrs->>'instance_id' = $1 AND pending_action IS NULL
                 AND ((kind = 'volume' AND state = 'in-use') OR (kind = 'address' AND state = 'associated'))""",
            instance_id,
        )

    async def moving(self) -> list[ResourceRecord]:
        return await self._many(
            f"""pending_action IS NULL AND provider_id IS NOT NULL AND state IN ({_FOLLOWED_STATES}) AND {NOT_HELD}
                AND (kind, state) IN (SELECT * FROM unnest($1::text[], $2::text[]))""",
            *_FOLLOWED_PARAMS,
        )

    async def lock_moving(self, ids: Sequence[str]) -> list[ResourceRecord]:
        return await self._many(
            "id = ANY($1::uuid[]) AND pending_action IS NULL FOR UPDATE SKIP LOCKED", [uuid.UUID(i) for i in ids]
        )


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
