"""The cloud calls that carry out a resource's pending action, and the reads that follow transitions.

`perform` runs in two situations. Inline, in the request that asked for the action: the call is made directly.
Recovering, in the worker, when the request did not finish (the process died during the call, or the cloud's answer
was lost): the contract has no client token for these resources, so before acting again the worker looks for the
effect of an earlier try and adopts it instead of doing it twice:

- key pairs and security groups by name (unique in a cloud account), volumes, snapshots and images by their cloud
  name (which carries the first 8 hex digits of the Clanavi id); an interrupted key pair *creation* is undone
  instead (its private key was never shown to anybody, so the key pair is useless) and the record removed;
- an address by elimination: an unassociated address of the account that was not there before the first try and
  that no Clanavi record holds;
- attach, detach, associate, disassociate, authorize and revoke by reading the resource's current state;
- deletions by treating "not found" as done.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Collection, Sequence
from typing import Any, Final

from adapters.base import CloudAdapter, CloudNotFound, SecurityGroup, VolumeSpec
from services.provisioner.resources import CloudValue, Kind, ResourceRecord, rule_from_dict


class _Discarded:
    def __repr__(self) -> str:
        return "DISCARDED"


# The answer of a recovered key pair creation: whatever an earlier try made was deleted again.
DISCARDED: Final = _Discarded()


async def perform(
    adapter: CloudAdapter,
    record: ResourceRecord,
    *,
    recovering: bool,
    known_addresses: Collection[str] = (),
) -> CloudValue | _Discarded:
    """Carry out `record.pending_action`; the cloud's answer, for `resources.applied`."""
    action = record.pending_action
    name = str(record.attrs.get("cloud_name", record.name))
    pid = record.provider_id or ""
    p = record.pending
    match (record.kind, action):
        # key pairs: the name is the id in the cloud
        case ("key_pair", "create"):
            if recovering:
                if any(k.name == name for k in await adapter.list_key_pairs()):
                    await adapter.delete_key_pair(name)
                return DISCARDED
            return await adapter.create_key_pair(name)
        case ("key_pair", "import"):
            if recovering:
                for key in await adapter.list_key_pairs():
                    if key.name == name:
                        return key
            return await adapter.import_key_pair(name, str(p["public_key"]))
        case ("key_pair", "delete"):
            await _gone(adapter.delete_key_pair(pid))
            return None
        # security groups
        case ("security_group", "create"):
            if recovering:
                for group in await adapter.list_security_groups():
                    if group.name == name:
                        return group
            # Some clouds (EC2) insist on a description: the name stands in for an empty one.
            return await adapter.create_security_group(name, str(record.attrs.get("description") or record.name))
        case ("security_group", "authorize" | "revoke"):
            rule = rule_from_dict(p["rule"])
            if recovering:
                held = await _group(adapter, pid)
                if held is not None and (rule in held.rules) == (action == "authorize"):
                    return held
            if action == "authorize":
                return await adapter.authorize_security_rule(pid, rule)
            return await adapter.revoke_security_rule(pid, rule)
        case ("security_group", "delete"):
            await _gone(adapter.delete_security_group(pid))
            return None
        # volumes
        case ("volume", "create"):
            if recovering:
                for volume in await adapter.list_volumes():
                    if volume.name == name:
                        return volume
            spec = VolumeSpec(
                name=name,
                size_gb=int(record.attrs["size_gb"]),
                zone=record.attrs.get("zone"),
                snapshot_id=p.get("provider_snapshot_id"),
            )
            return await adapter.create_volume(spec)
        case ("volume", "attach" | "detach"):
            if recovering:
                found = next((v for v in await adapter.list_volumes() if v.id == pid), None)
                wanted = p.get("provider_instance_id") if action == "attach" else None
                if found is not None and found.instance_id == wanted:
                    return found
            if action == "attach":
                return await adapter.attach_volume(pid, str(p["provider_instance_id"]), p.get("device"))
            return await adapter.detach_volume(pid)
        case ("volume", "delete"):
            await _gone(adapter.delete_volume(pid))
            return None
        # snapshots
        case ("snapshot", "create"):
            volume_pid = str(p["provider_volume_id"])
            if recovering:
                for snapshot in await adapter.list_snapshots():
                    if snapshot.name == name and snapshot.volume_id == volume_pid:
                        return snapshot
            return await adapter.create_snapshot(volume_pid, name)
        case ("snapshot", "delete"):
            await _gone(adapter.delete_snapshot(pid))
            return None
        # addresses
        case ("address", "allocate"):
            if recovering:
                before = set(p.get("known_before", ())) | set(known_addresses)
                for address in await adapter.list_addresses():
                    if address.id not in before and address.instance_id is None:
                        return address
            return await adapter.allocate_address()
        case ("address", "associate" | "disassociate"):
            if recovering:
                held_ip = next((a for a in await adapter.list_addresses() if a.id == pid), None)
                target = p.get("provider_instance_id") if action == "associate" else None
                if held_ip is not None and held_ip.instance_id == target:
                    return held_ip
            if action == "associate":
                return await adapter.associate_address(pid, str(p["provider_instance_id"]))
            return await adapter.disassociate_address(pid)
        case ("address", "release"):
            await _gone(adapter.release_address(pid))
            return None
        # images made from instances
        case ("image", "create"):
            if recovering:
                for image in await adapter.list_images():
                    if image.name == name:
                        return image
            return await adapter.create_image(str(p["provider_instance_id"]), name)
        case ("image", "deregister"):
            await _gone(adapter.deregister_image(pid))
            return None
    raise ValueError(f"no cloud call for {record.kind} {action}")


async def _gone(call: Awaitable[None]) -> None:
    """A deletion: a resource the cloud no longer has is deleted already."""
    with contextlib.suppress(CloudNotFound):
        await call


async def _group(adapter: CloudAdapter, group_id: str) -> SecurityGroup | None:
    return next((g for g in await adapter.list_security_groups() if g.id == group_id), None)


async def current(adapter: CloudAdapter, kind: Kind, provider_ids: Sequence[str]) -> dict[str, CloudValue]:
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
OPERATIONS: dict[tuple[Kind, str], tuple[str, ...]] = {
    ("key_pair", "create"): ("create_key_pair",),
    ("key_pair", "import"): ("import_key_pair",),
    ("key_pair", "delete"): ("delete_key_pair",),
    ("security_group", "create"): ("create_security_group",),
    ("security_group", "authorize"): ("authorize_security_rule",),
    ("security_group", "revoke"): ("revoke_security_rule",),
    ("security_group", "delete"): ("delete_security_group",),
    ("volume", "create"): ("create_volume",),
    ("volume", "attach"): ("attach_volume",),
    ("volume", "detach"): ("detach_volume",),
    ("volume", "delete"): ("delete_volume",),
    ("snapshot", "create"): ("create_snapshot",),
    ("snapshot", "delete"): ("delete_snapshot",),
    ("address", "allocate"): ("allocate_address", "list_addresses"),
    ("address", "associate"): ("associate_address",),
    ("address", "disassociate"): ("disassociate_address",),
    ("address", "release"): ("release_address",),
    ("image", "create"): ("create_image",),
    ("image", "deregister"): ("deregister_image",),
}

__all__ = ["DISCARDED", "OPERATIONS", "current", "perform"]
