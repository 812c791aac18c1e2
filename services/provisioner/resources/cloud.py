"""The other resources in the pending-action engine: the cloud calls that carry out a resource's pending action,
how the record takes their answers, and the reads that follow transitions (one list call per cloud and kind).

`perform` is the call made in the request that asked for the action. `recover` is the worker's, when the request did
not finish (the process died during the call, or the cloud's answer was lost). Creating a volume, snapshot, image or
address sends the record's id as the client token, so on a cloud that honours it (`IDEMPOTENT_CREATE`) the worker
simply asks again and gets what the first try made. Otherwise, before acting again, the worker looks for the effect
of an earlier try and adopts it instead of doing it twice:

- key pairs and security groups by name (unique in a cloud account); on a cloud without client tokens, volumes,
  snapshots and images by their cloud name (which carries the first 8 hex digits of the Clanavi id) and an address
  by elimination (an unassociated address of the account that was not there before the first try and that no
  Clanavi record holds); an interrupted key pair *creation* is undone instead (its private key was never shown to
  anybody, so the key pair is useless) and the record removed;
- attach, detach, associate, disassociate, authorize and revoke by reading the resource's current state;
- deletions by treating "not found" as done.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable, Collection, Hashable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final

from adapters.base import CloudAdapter, CloudNotFound, Feature, Operation, VolumeSpec
from kernel.events import EventPayload
from kernel.unit_of_work import UnitOfWork
from services.provisioner.resources import domain, transitions
from services.provisioner.resources.domain import CloudValue, Kind, ResourceRecord
from services.provisioner.resources.repository import ResourceRepository, ResourceStore
from services.provisioner.resources.security_rules import rule_from_dict
from services.provisioner.work.engine import Settlement
from services.provisioner.work.pacing import Pacer

log = logging.getLogger(__name__)


class Discarded:
    """The answer of a recovered key pair creation: whatever an earlier try made was deleted again."""

    def __repr__(self) -> str:
        return "DISCARDED"


DISCARDED: Final = Discarded()


def _cloud_name(record: ResourceRecord) -> str:
    return str(record.attrs.get("cloud_name", record.name))


# The creates that take a client token: the record's id, which every try of the record's creation sends alike.
TOKENED: frozenset[tuple[Kind, str]] = frozenset(
    {("volume", "create"), ("snapshot", "create"), ("image", "create"), ("address", "allocate")}
)


def finds_by_token(adapter: CloudAdapter, record: ResourceRecord) -> bool:
    """Whether a try of the record's pending action finds what an earlier one made, by its client token."""
    return (record.kind, record.pending_action) in TOKENED and Feature.IDEMPOTENT_CREATE in adapter.features


# The call that removes a resource of each kind from its cloud (the kind's `remove` action).
_REMOVALS: Mapping[Kind, Callable[[CloudAdapter, str], Awaitable[None]]] = {
    "key_pair": lambda adapter, pid: adapter.delete_key_pair(pid),
    "security_group": lambda adapter, pid: adapter.delete_security_group(pid),
    "volume": lambda adapter, pid: adapter.delete_volume(pid),
    "snapshot": lambda adapter, pid: adapter.delete_snapshot(pid),
    "address": lambda adapter, pid: adapter.release_address(pid),
    "image": lambda adapter, pid: adapter.deregister_image(pid),
}


async def perform(adapter: CloudAdapter, record: ResourceRecord) -> CloudValue:
    """Carry out `record.pending_action`; the cloud's answer, for `transitions.applied`."""
    action = record.pending_action
    name = _cloud_name(record)
    pid = record.provider_id or ""
    p = record.pending
    if action == domain.RULES[record.kind].remove:
        with contextlib.suppress(CloudNotFound):  # a resource the cloud no longer has is removed already
            await _REMOVALS[record.kind](adapter, pid)
        return None
    match (record.kind, action):
        # key pairs: the name is the id in the cloud
        case ("key_pair", "create"):
            return await adapter.create_key_pair(name)
        case ("key_pair", "import"):
            return await adapter.import_key_pair(name, str(p["public_key"]))
        case ("security_group", "create"):
            # Some clouds (EC2) insist on a description: the name stands in for an empty one.
            return await adapter.create_security_group(name, str(record.attrs.get("description") or record.name))
        case ("security_group", "authorize"):
            return await adapter.authorize_security_rule(pid, rule_from_dict(p["rule"]))
        case ("security_group", "revoke"):
            return await adapter.revoke_security_rule(pid, rule_from_dict(p["rule"]))
        case ("volume", "create"):
            spec = VolumeSpec(
                name=name,
                size_gb=int(record.attrs["size_gb"]),
                zone=record.attrs.get("zone"),
                snapshot_id=p.get("provider_snapshot_id"),
                client_token=record.id,
            )
            return await adapter.create_volume(spec)
        case ("volume", "attach"):
            return await adapter.attach_volume(pid, str(p["provider_instance_id"]), p.get("device"))
        case ("volume", "detach"):
            return await adapter.detach_volume(pid)
        case ("snapshot", "create"):
            return await adapter.create_snapshot(str(p["provider_volume_id"]), name, client_token=record.id)
        case ("address", "allocate"):
            return await adapter.allocate_address(client_token=record.id)
        case ("address", "associate"):
            return await adapter.associate_address(pid, str(p["provider_instance_id"]))
        case ("address", "disassociate"):
            return await adapter.disassociate_address(pid)
        case ("image", "create"):
            return await adapter.create_image(str(p["provider_instance_id"]), name, client_token=record.id)
    raise ValueError(f"no cloud call for {record.kind} {action}")


async def recover(
    adapter: CloudAdapter, record: ResourceRecord, *, known_addresses: Collection[str] = ()
) -> CloudValue | Discarded:
    """Carry out `record.pending_action` after an interrupted try: what that try did when it did it (see the
    module's docstring), else the action done now."""
    if (record.kind, record.pending_action) == ("key_pair", "create"):
        name = _cloud_name(record)
        if any(k.name == name for k in await adapter.list_key_pairs()):
            await adapter.delete_key_pair(name)
        return DISCARDED
    if finds_by_token(adapter, record):
        return await perform(adapter, record)  # the client token answers what an earlier try made, or makes it
    found = await _done_before(adapter, record, known_addresses)
    return found if found is not None else await perform(adapter, record)


async def _done_before(adapter: CloudAdapter, record: ResourceRecord, known_addresses: Collection[str]) -> CloudValue:
    """The resource as an earlier try of the pending action left it, when that try did it (None otherwise)."""
    name = _cloud_name(record)
    pid = record.provider_id or ""
    p = record.pending
    match (record.kind, record.pending_action):
        case ("key_pair", "import"):
            return next((k for k in await adapter.list_key_pairs() if k.name == name), None)
        case ("security_group", "create"):
            return next((g for g in await adapter.list_security_groups() if g.name == name), None)
        case ("security_group", "authorize" | "revoke" as action):
            held = next((g for g in await adapter.list_security_groups() if g.id == pid), None)
            wanted = action == "authorize"
            return held if held is not None and (rule_from_dict(p["rule"]) in held.rules) == wanted else None
        case ("volume", "create"):
            return next((v for v in await adapter.list_volumes() if v.name == name), None)
        case ("volume", "attach" | "detach" as action):
            target = p.get("provider_instance_id") if action == "attach" else None
            return next((v for v in await adapter.list_volumes() if v.id == pid and v.instance_id == target), None)
        case ("snapshot", "create"):
            volume_pid = str(p["provider_volume_id"])
            found = await adapter.list_snapshots()
            return next((s for s in found if s.name == name and s.volume_id == volume_pid), None)
        case ("address", "allocate"):
            before = set(p.get("known_before", ())) | set(known_addresses)
            found_ips = await adapter.list_addresses()
            return next((a for a in found_ips if a.id not in before and a.instance_id is None), None)
        case ("address", "associate" | "disassociate" as action):
            target = p.get("provider_instance_id") if action == "associate" else None
            return next((a for a in await adapter.list_addresses() if a.id == pid and a.instance_id == target), None)
        case ("image", "create"):
            return next((i for i in await adapter.list_images() if i.name == name), None)
    return None


async def seen_in_cloud(adapter: CloudAdapter, kind: Kind, provider_ids: Sequence[str]) -> dict[str, CloudValue]:
    """What the cloud has now of these resources of one kind, by provider id, in one list call (missing: gone)."""
    wanted = set(provider_ids)
    values: Sequence[Any]
    match kind:
        case "volume":
            values = await adapter.list_volumes()
        case "snapshot":
            values = await adapter.list_snapshots()
        case "image":
            values = await adapter.list_images()
        case "address":
            values = await adapter.list_addresses()
        case "security_group":
            values = await adapter.list_security_groups()
        case "key_pair":
            return {k.name: k for k in await adapter.list_key_pairs() if k.name in wanted}
    return {v.id: v for v in values if v.id in wanted}


# Which operation each (kind, action) calls: checked against the adapter's features before anything is recorded.
OPERATIONS: dict[tuple[Kind, str], tuple[Operation, ...]] = {
    ("key_pair", "create"): (Operation.CREATE_KEY_PAIR,),
    ("key_pair", "import"): (Operation.IMPORT_KEY_PAIR,),
    ("key_pair", "delete"): (Operation.DELETE_KEY_PAIR,),
    ("security_group", "create"): (Operation.CREATE_SECURITY_GROUP,),
    ("security_group", "authorize"): (Operation.AUTHORIZE_SECURITY_RULE,),
    ("security_group", "revoke"): (Operation.REVOKE_SECURITY_RULE,),
    ("security_group", "delete"): (Operation.DELETE_SECURITY_GROUP,),
    ("volume", "create"): (Operation.CREATE_VOLUME,),
    ("volume", "attach"): (Operation.ATTACH_VOLUME,),
    ("volume", "detach"): (Operation.DETACH_VOLUME,),
    ("volume", "delete"): (Operation.DELETE_VOLUME,),
    ("snapshot", "create"): (Operation.CREATE_SNAPSHOT,),
    ("snapshot", "delete"): (Operation.DELETE_SNAPSHOT,),
    ("address", "allocate"): (Operation.ALLOCATE_ADDRESS, Operation.LIST_ADDRESSES),
    ("address", "associate"): (Operation.ASSOCIATE_ADDRESS,),
    ("address", "disassociate"): (Operation.DISASSOCIATE_ADDRESS,),
    ("address", "release"): (Operation.RELEASE_ADDRESS,),
    ("image", "create"): (Operation.CREATE_IMAGE,),
    ("image", "deregister"): (Operation.DEREGISTER_IMAGE,),
}


class ResourceKind:
    name = "resource"

    def store(self, repos: ResourceStore) -> ResourceRepository:
        return repos.resources

    async def call(
        self, adapter: CloudAdapter, record: ResourceRecord, uow: UnitOfWork[ResourceStore]
    ) -> CloudValue | Discarded:
        known: set[str] = set()
        if record.kind == "address" and record.pending_action == "allocate" and not finds_by_token(adapter, record):
            async with uow.reading() as repos:
                known = await repos.resources.provider_ids(record.cloud_id, "address")
        return await recover(adapter, record, known_addresses=known)

    def applied(self, record: ResourceRecord, value: CloudValue | Discarded) -> Settlement[ResourceRecord]:
        if isinstance(value, Discarded):
            log.warning("key pair %s: its creation was interrupted; removed from the cloud and from Clanavi", record.id)
            return Settlement(None)
        return Settlement(*transitions.applied(record, value, now=datetime.now(UTC)))

    def failed(self, record: ResourceRecord, reason: str) -> Settlement[ResourceRecord]:
        return Settlement(*domain.failed(record, str(record.pending_action), reason))

    async def gave_up(
        self, adapter: CloudAdapter, record: ResourceRecord, reason: str, pacer: Pacer
    ) -> Settlement[ResourceRecord]:
        return self.failed(record, reason)

    def followed_together(self, record: ResourceRecord) -> Hashable:
        return (record.cloud_id, record.kind)

    async def current(
        self, adapter: CloudAdapter, records: Sequence[ResourceRecord]
    ) -> Mapping[str, CloudValue | Discarded]:
        return await seen_in_cloud(adapter, records[0].kind, [r.provider_id or "" for r in records])

    def observe(
        self, record: ResourceRecord, value: CloudValue | Discarded | None, now: datetime
    ) -> tuple[ResourceRecord, list[EventPayload]]:
        return transitions.observe(record, None if isinstance(value, Discarded) else value, now=now)

    async def changed(self, repos: ResourceStore, after: ResourceRecord) -> None:
        return None


RESOURCES = ResourceKind()

__all__ = [
    "DISCARDED",
    "OPERATIONS",
    "RESOURCES",
    "TOKENED",
    "Discarded",
    "ResourceKind",
    "finds_by_token",
    "perform",
    "recover",
    "seen_in_cloud",
]
