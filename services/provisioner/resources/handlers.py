"""Use cases of key pairs, security groups, volumes, snapshots, addresses and images made from instances. No FastAPI,
no aio-pika.

Each use case checks what its request names (in the project: another project's ids answer as unknown ones), then
goes through `flow`: the record, its claim, the cloud call made in the request, the outcome. Deleting, detaching,
disassociating, releasing and deregistering are plain actions (`act_plainly`).
"""

from __future__ import annotations

import base64
import binascii
import uuid
from typing import Any

from adapters.base import CloudError, Feature, Operation, SecurityRule
from kernel.errors import InvalidState, NotFound, ValidationFailed
from services.provisioner import errors
from services.provisioner.clouds.domain import Cloud
from services.provisioner.resources.domain import ResourceRecord, new_record
from services.provisioner.resources.flow import (
    Outcome,
    Ports,
    act,
    act_plainly,
    create,
    get,
    owned_cloud,
    owned_resource,
    page,
    same_cloud,
    usable_instance,
)
from services.provisioner.resources.security_rules import check_rule, find_rule, rule_id, rule_to_dict

# --- key pairs -------------------------------------------------------------------------------------------------

_KEY_TYPES = ("ssh-rsa", "ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521")


def check_public_key(public_key: str) -> str:
    """An OpenSSH public key line, stripped; ValidationFailed when it is not one."""
    parts = public_key.strip().split()
    valid = len(parts) >= 2 and parts[0] in _KEY_TYPES
    if valid:
        try:
            blob = base64.b64decode(parts[1], validate=True)
            valid = blob[4 : 4 + len(parts[0])] == parts[0].encode()
        except (binascii.Error, ValueError):
            valid = False
    if not valid:
        raise ValidationFailed(
            "The public key is not an OpenSSH public key.",
            errors=[{"location": "body.public_key", "message": f"expected '<type> <base64> [comment]', {_KEY_TYPES}"}],
        )
    return " ".join(parts)


async def create_key_pair(ports: Ports, *, project_id: str, cloud_id: str, name: str, correlation_id: str) -> Outcome:
    await owned_cloud(ports, project_id, cloud_id, Operation.CREATE_KEY_PAIR)
    record = new_record("key_pair", project_id=project_id, cloud_id=cloud_id, name=name, correlation_id=correlation_id)
    return await create(ports, record)


async def import_key_pair(
    ports: Ports, *, project_id: str, cloud_id: str, name: str, public_key: str, correlation_id: str
) -> Outcome:
    cloud = await owned_cloud(ports, project_id, cloud_id)
    key = check_public_key(public_key)
    await ports.clouds.require(cloud, Operation.IMPORT_KEY_PAIR)
    record = new_record(
        "key_pair",
        project_id=project_id,
        cloud_id=cloud_id,
        name=name,
        correlation_id=correlation_id,
        pending={"public_key": key},
        action="import",
    )
    return await create(ports, record)


# --- security groups -------------------------------------------------------------------------------------------


async def create_security_group(
    ports: Ports, *, project_id: str, cloud_id: str, name: str, description: str, correlation_id: str
) -> Outcome:
    await owned_cloud(ports, project_id, cloud_id, Operation.CREATE_SECURITY_GROUP)
    record = new_record(
        "security_group",
        project_id=project_id,
        cloud_id=cloud_id,
        name=name,
        correlation_id=correlation_id,
        attrs={"description": description, "rules": []},
    )
    return await create(ports, record)


async def authorize_rule(
    ports: Ports, *, project_id: str, group_id: str, rule: SecurityRule, correlation_id: str
) -> Outcome:
    group = await owned_resource(ports, project_id, "security_group", group_id)
    rule = check_rule(rule)
    if find_rule(group, rule_id(rule)) is not None:
        return Outcome(group, done=True)  # granted already: nothing to do
    return await _rule_action(ports, group, "authorize", rule, correlation_id)


async def revoke_rule(ports: Ports, *, project_id: str, group_id: str, rule_id: str, correlation_id: str) -> Outcome:
    group = await owned_resource(ports, project_id, "security_group", group_id)
    rule = find_rule(group, rule_id)
    if rule is None:
        raise NotFound(f"Security group {group_id} has no rule {rule_id}.")
    return await _rule_action(ports, group, "revoke", rule, correlation_id)


async def _rule_action(
    ports: Ports, group: ResourceRecord, action: str, rule: SecurityRule, correlation_id: str
) -> Outcome:
    return await act(ports, group, action, params={"rule": rule_to_dict(rule)}, correlation_id=correlation_id)


async def delete_security_group(ports: Ports, *, project_id: str, group_id: str, correlation_id: str) -> Outcome:
    group = await owned_resource(ports, project_id, "security_group", group_id)
    async with ports.uow.reading() as repos:
        users = await repos.instances.using_security_group(project_id, group.id)
    if users:
        raise InvalidState(
            f"Security group {group_id} is used by {len(users)} instance(s) that are not terminated: "
            + ", ".join(users[:5]),
            instance_ids=users[:20],
        )
    return await act(ports, group, "delete", correlation_id=correlation_id)


# --- volumes and snapshots -------------------------------------------------------------------------------------


async def _check_zone(ports: Ports, cloud: Cloud, zone: str | None, location: str) -> None:
    if zone is None or Feature.ZONES not in await ports.clouds.features(cloud):
        return
    try:
        zones = await ports.clouds.zones(cloud.id)
    except CloudError as exc:
        raise errors.from_cloud(exc, cloud_id=cloud.id) from exc
    if zone not in {z.id for z in zones}:
        raise ValidationFailed(
            f"Cloud {cloud.id} has no zone {zone}.",
            errors=[{"location": location, "message": f"one of {sorted(z.id for z in zones)}"}],
        )


async def _from_snapshot(ports: Ports, cloud: Cloud, snapshot: ResourceRecord, size_gb: int | None) -> int:
    """The size of a volume made from `snapshot` (at least the snapshot's), when the cloud can make it."""
    await ports.clouds.require(cloud, feature=Feature.VOLUME_FROM_SNAPSHOT)
    same_cloud("snapshot", snapshot.id, snapshot.cloud_id, cloud.id, "body.snapshot_id")
    if snapshot.state != "available":
        raise InvalidState(f"Snapshot {snapshot.id} is {snapshot.state}.", state=snapshot.state)
    least = int(snapshot.attrs.get("size_gb") or 1)
    if size_gb is not None and size_gb < least:
        raise ValidationFailed(
            f"A volume from snapshot {snapshot.id} needs at least {least} GB.",
            errors=[{"location": "body.size_gb", "message": f"at least {least}"}],
        )
    return size_gb or least


async def create_volume(
    ports: Ports,
    *,
    project_id: str,
    cloud_id: str,
    name: str,
    size_gb: int | None,
    zone: str | None,
    snapshot_id: str | None,
    correlation_id: str,
) -> Outcome:
    cloud = await owned_cloud(ports, project_id, cloud_id)
    snapshot = None
    if snapshot_id is not None:
        snapshot = await owned_resource(ports, project_id, "snapshot", snapshot_id, named_in="body.snapshot_id")
    await ports.clouds.require(cloud, Operation.CREATE_VOLUME)
    pending: dict[str, Any] = {}
    if snapshot is not None:
        size_gb = await _from_snapshot(ports, cloud, snapshot, size_gb)
        pending["provider_snapshot_id"] = snapshot.provider_id
    if size_gb is None:
        raise ValidationFailed(
            "A volume needs a size (or a snapshot to take it from).",
            errors=[{"location": "body.size_gb", "message": "required without snapshot_id"}],
        )
    await _check_zone(ports, cloud, zone, "body.zone")
    record = new_record(
        "volume",
        project_id=project_id,
        cloud_id=cloud_id,
        name=name,
        correlation_id=correlation_id,
        attrs={"size_gb": size_gb, "zone": zone, "snapshot_id": snapshot_id, "instance_id": None, "device": None},
        pending=pending,
    )
    return await create(ports, record)


async def attach_volume(
    ports: Ports, *, project_id: str, volume_id: str, instance_id: str, device: str | None, correlation_id: str
) -> Outcome:
    volume = await owned_resource(ports, project_id, "volume", volume_id)
    instance = await usable_instance(
        ports, project_id, instance_id, cloud_id=volume.cloud_id, location="body.instance_id"
    )
    params = {"instance_id": instance.id, "provider_instance_id": instance.provider_id, "device": device}
    return await act(ports, volume, "attach", params=params, correlation_id=correlation_id)


async def create_snapshot(ports: Ports, *, project_id: str, volume_id: str, name: str, correlation_id: str) -> Outcome:
    volume = await owned_resource(ports, project_id, "volume", volume_id, named_in="body.volume_id")
    await owned_cloud(ports, project_id, volume.cloud_id, Operation.CREATE_SNAPSHOT, named_in=None)
    if volume.provider_id is None or volume.state not in ("available", "in-use"):
        raise InvalidState(f"Volume {volume_id} is {volume.state}.", state=volume.state)
    record = new_record(
        "snapshot",
        project_id=project_id,
        cloud_id=volume.cloud_id,
        name=name,
        correlation_id=correlation_id,
        attrs={"volume_id": volume.id, "size_gb": volume.attrs.get("size_gb")},
        pending={"provider_volume_id": volume.provider_id},
    )
    return await create(ports, record)


# --- addresses and images made from instances ------------------------------------------------------------------


async def allocate_address(
    ports: Ports, *, project_id: str, cloud_id: str, name: str | None, correlation_id: str
) -> Outcome:
    cloud = await owned_cloud(ports, project_id, cloud_id, Operation.ALLOCATE_ADDRESS, Operation.LIST_ADDRESSES)
    pending: dict[str, Any] = {}
    if Feature.IDEMPOTENT_CREATE not in await ports.clouds.features(cloud):
        adapter = await ports.clouds.adapter(cloud_id)
        try:
            # What the cloud holds before the call: a worker recovering from a lost answer finds the new one by it
            # (a cloud with client tokens answers it for the record's id instead).
            pending["known_before"] = sorted(a.id for a in await adapter.list_addresses())
        except CloudError as exc:
            raise errors.from_cloud(exc, cloud_id=cloud_id) from exc
    resource_id = str(uuid.uuid4())
    record = new_record(
        "address",
        project_id=project_id,
        cloud_id=cloud_id,
        name=name or f"address-{resource_id[:8]}",
        correlation_id=correlation_id,
        attrs={"ip": None, "instance_id": None},
        pending=pending,
        id=resource_id,
    )
    return await create(ports, record)


async def associate_address(
    ports: Ports, *, project_id: str, address_id: str, instance_id: str, correlation_id: str
) -> Outcome:
    address = await owned_resource(ports, project_id, "address", address_id)
    instance = await usable_instance(
        ports, project_id, instance_id, cloud_id=address.cloud_id, location="body.instance_id"
    )
    params = {"instance_id": instance.id, "provider_instance_id": instance.provider_id}
    return await act(ports, address, "associate", params=params, correlation_id=correlation_id)


async def create_image(
    ports: Ports, *, project_id: str, cloud_id: str | None, instance_id: str, name: str, correlation_id: str
) -> Outcome:
    if cloud_id is not None:
        await owned_cloud(ports, project_id, cloud_id)
    instance = await usable_instance(ports, project_id, instance_id, cloud_id=cloud_id, location="body.instance_id")
    await owned_cloud(ports, project_id, instance.cloud_id, Operation.CREATE_IMAGE, named_in=None)
    record = new_record(
        "image",
        project_id=project_id,
        cloud_id=instance.cloud_id,
        name=name,
        correlation_id=correlation_id,
        attrs={"instance_id": instance.id},
        pending={"provider_instance_id": instance.provider_id},
    )
    return await create(ports, record)


__all__ = [
    "Outcome",
    "Ports",
    "act_plainly",
    "allocate_address",
    "associate_address",
    "attach_volume",
    "authorize_rule",
    "check_public_key",
    "create_image",
    "create_key_pair",
    "create_security_group",
    "create_snapshot",
    "create_volume",
    "delete_security_group",
    "get",
    "import_key_pair",
    "page",
    "revoke_rule",
]
