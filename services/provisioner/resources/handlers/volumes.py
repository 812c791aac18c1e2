"""Use cases of volumes and their snapshots: create a volume (empty, or from a snapshot), attach it to an instance,
snapshot it; detaching and deleting are plain actions (`flow.act_plainly`)."""

from __future__ import annotations

from typing import Any

from adapters.base import CloudError, Feature
from kernel.errors import InvalidState, ValidationFailed
from services.provisioner import errors
from services.provisioner.clouds.domain import Cloud
from services.provisioner.resources.domain import ResourceRecord
from services.provisioner.resources.handlers.flow import (
    Outcome,
    Ports,
    act,
    create,
    new_record,
    owned_cloud,
    owned_resource,
    same_cloud,
    usable_instance,
)


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
    await ports.clouds.require(cloud, "create_volume")
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
    await owned_cloud(ports, project_id, volume.cloud_id, "create_snapshot", named_in=None)
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


__all__ = ["attach_volume", "create_snapshot", "create_volume"]
