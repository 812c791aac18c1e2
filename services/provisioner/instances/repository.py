"""The `instances` table: the repository port the use cases and the engine use, and its PostgreSQL implementation."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from kernel.db import from_row
from kernel.keyset import Listing, PageRequest, fetch_page
from services.provisioner.clouds.repository import CloudRepository
from services.provisioner.instances.domain import TRANSITIONAL, InstanceRecord, LaunchNames
from services.provisioner.listing import RECORD_KEY, RECORD_SORTS, record_filters
from services.provisioner.owned import owned
from services.provisioner.work.engine import PendingStore
from services.provisioner.work.table import (
    IN_FLIGHT,
    NOT_HELD,
    PENDING_COLUMNS,
    RECORD_COLUMNS,
    PendingTable,
    Stored,
    kept,
)

COLUMNS = (
    "id, project_id, cloud_id, name, image_id, flavor_id, provider_id, state, pending_action, attempts, "
    "reason, private_ips, correlation_id, last_event_id, created_at, updated_at, key_name, security_group_ids, "
    f"zone, tags, launch_options, throttled, pending_since, discovered, {IN_FLIGHT}, template_id, template_version, "
    "inputs, boot, cluster_id, cluster_role, vcpus, expires_at, expiry_action, expiry_warnings, warnings_sent, "
    "expired_at, requested_by"
)
INSTANCE_LISTING = Listing(f"SELECT {COLUMNS} FROM instances", RECORD_SORTS, RECORD_KEY)
# An instance as the passes over many instances read it (the follow, every quarter second while they move; the
# metrics sampler, every round for all that run): without the template's inputs and the boot section, kilobytes of
# JSON each that comparing with the cloud never looks at. A change is saved from the whole record, read again with
# its lock.
_WATCHED = COLUMNS.replace("inputs, boot,", "'{}'::jsonb AS inputs, NULL::jsonb AS boot,")


@dataclass(frozen=True)
class InstanceFilter:
    project_id: str
    cloud_id: str | None = None
    states: Sequence[str] = ()
    name: str | None = None
    # Only records an inventory sync adopted (True) or only Clanavi's own (False).
    discovered: bool | None = None
    cluster_id: str | None = None


class InstanceRepository(PendingStore[InstanceRecord], Protocol):
    """The `instances` table (and the engine's statements on it)."""

    async def add(self, record: InstanceRecord) -> None: ...
    async def get(self, project_id: str, instance_id: str) -> InstanceRecord | None: ...
    async def lock(self, project_id: str, instance_id: str) -> InstanceRecord | None: ...
    async def running(self, limit: int) -> list[InstanceRecord]:
        """Instances their cloud last showed running, with no action under way (the oldest first), as much of them as
        comparing them with their cloud needs (a change is saved from `lock_running`'s whole records)."""
        ...

    async def lock_running(self, ids: Sequence[str]) -> list[InstanceRecord]:
        """Those of `ids` still running with no action under way, locked (skipping any another transaction holds)."""
        ...

    async def owned_ids(self, project_id: str, ids: Sequence[str]) -> set[str]:
        """Those of `ids` that are the project's instances."""
        ...

    async def retag(self, instance_id: str, tags: dict[str, str]) -> None:
        """Replace an instance's tags (a quarantine takes it out of its scaling group)."""
        ...

    async def project_of(self, instance_id: str) -> str | None:
        """The project an instance id belongs to, whichever it is (None: no instance has it)."""
        ...

    async def page(self, flt: InstanceFilter, request: PageRequest) -> tuple[list[InstanceRecord], str | None]:
        """One page of a project's instances, and the cursor of the next page (None on the last)."""
        ...

    async def using_security_group(self, project_id: str, group_id: str) -> list[str]:
        """Ids of the project's instances launched with a security group (a Clanavi id) that have not ended."""
        ...


class HeldResources(Protocol):
    """What instances ask of the other resources' records: what a launch may name, and what a terminated instance
    held."""

    async def launch_names(
        self, project_id: str, cloud_id: str, key_name: str | None, group_ids: Sequence[str]
    ) -> LaunchNames: ...
    async def release_held_by(self, instance_id: str) -> None:
        """Volumes and addresses the cloud held on a terminated instance are checked again: the engine follows them
        until the cloud reports them free (or, after a grace, still held)."""
        ...


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
    return from_row(InstanceRecord, row)


def key_of(record_id: str) -> uuid.UUID | None:
    """A record's id as the key it has in the table; None for text that cannot be one (no record has it)."""
    try:
        return uuid.UUID(record_id)
    except ValueError:
        return None


class PostgresInstanceRepository(PendingTable[InstanceRecord]):
    table = "instances"
    columns = COLUMNS
    changing: ClassVar[Stored] = {**PENDING_COLUMNS, "private_ips": list, "launch_options": dict, "zone": kept}
    inserted: ClassVar[Stored] = {
        **RECORD_COLUMNS,
        "image_id": kept,
        "flavor_id": kept,
        "key_name": kept,
        "security_group_ids": list,
        "tags": dict,
        "template_id": kept,
        "template_version": kept,
        "inputs": dict,
        # Written once here; then by the boot follower alone, so that an action's settlement never undoes it.
        "boot": lambda boot: None if boot is None else dict(boot),
        "cluster_id": lambda cluster_id: None if cluster_id is None else uuid.UUID(cluster_id),
        "cluster_role": kept,
        "vcpus": kept,
        "expires_at": kept,
        "expiry_action": kept,
        "expiry_warnings": list,
        "requested_by": kept,
        **changing,
    }

    def _record(self, row: Any) -> InstanceRecord:
        return record_of(row)

    async def add(self, record: InstanceRecord) -> None:
        await self._insert(record)

    async def get(self, project_id: str, instance_id: str) -> InstanceRecord | None:
        key = key_of(instance_id)
        return await self._one("id = $1 AND project_id = $2", key, project_id) if key else None

    async def lock(self, project_id: str, instance_id: str) -> InstanceRecord | None:
        key = key_of(instance_id)
        return await self._one("id = $1 AND project_id = $2 FOR UPDATE", key, project_id) if key else None

    async def running(self, limit: int) -> list[InstanceRecord]:
        return await self._watched(
            f"""state = 'running' AND pending_action IS NULL AND provider_id IS NOT NULL AND {NOT_HELD}
                ORDER BY created_at, id LIMIT $1""",
            limit,
        )

    async def lock_running(self, ids: Sequence[str]) -> list[InstanceRecord]:
        return await self._many(
            """id = ANY($1::uuid[]) AND state = 'running' AND pending_action IS NULL FOR UPDATE SKIP LOCKED""",
            [uuid.UUID(i) for i in ids],
        )

    async def owned_ids(self, project_id: str, ids: Sequence[str]) -> set[str]:
        keys = [k for k in (key_of(i) for i in ids) if k is not None]
        rows = await self._conn.fetch(
            "SELECT id FROM instances WHERE project_id = $1 AND id = ANY($2::uuid[])", project_id, keys
        )
        return {str(r["id"]) for r in rows}

    async def retag(self, instance_id: str, tags: dict[str, str]) -> None:
        await self._conn.execute(
            "UPDATE instances SET tags = $2, updated_at = now() WHERE id = $1", uuid.UUID(instance_id), tags
        )

    async def project_of(self, instance_id: str) -> str | None:
        key = key_of(instance_id)
        if key is None:
            return None
        found: str | None = await self._conn.fetchval("SELECT project_id FROM instances WHERE id = $1", key)
        return found

    async def page(self, flt: InstanceFilter, request: PageRequest) -> tuple[list[InstanceRecord], str | None]:
        where = record_filters(flt)
        if flt.cluster_id is not None:
            key = key_of(flt.cluster_id)
            if key is None:  # no cluster has that id: none has members
                return [], None
            where.add("cluster_id = {}", key)
        return await fetch_page(self._conn, INSTANCE_LISTING, where, request, record_of)

    async def using_security_group(self, project_id: str, group_id: str) -> list[str]:
        rows = await self._conn.fetch(
            """SELECT id FROM instances
               WHERE project_id = $1 AND $2 = ANY(security_group_ids)
                 AND state NOT IN ('terminated', 'gone', 'rejected')
               ORDER BY created_at""",
            project_id,
            group_id,
        )
        return [str(r["id"]) for r in rows]

    async def moving(self) -> list[InstanceRecord]:
        return await self._watched(
            f"pending_action IS NULL AND state = ANY($1::text[]) AND provider_id IS NOT NULL AND {NOT_HELD}",
            sorted(TRANSITIONAL),
        )

    async def _watched(self, where: str, *args: Any) -> list[InstanceRecord]:
        rows = await self._conn.fetch(f"SELECT {_WATCHED} FROM instances WHERE {where}", *args)
        return [record_of(r) for r in rows]

    async def lock_moving(self, ids: Sequence[str]) -> list[InstanceRecord]:
        return await self._many(
            """id = ANY($1::uuid[]) AND pending_action IS NULL AND state = ANY($2::text[])
               FOR UPDATE SKIP LOCKED""",
            [uuid.UUID(i) for i in ids],
            sorted(TRANSITIONAL),
        )


__all__ = [
    "COLUMNS",
    "INSTANCE_LISTING",
    "HeldResources",
    "InstanceFilter",
    "InstanceRepository",
    "InstanceStore",
    "PostgresInstanceRepository",
    "key_of",
    "owned_instance",
    "record_of",
]
