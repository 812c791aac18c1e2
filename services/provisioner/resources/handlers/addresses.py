"""Use cases of addresses (elastic / floating IPs) and of images made from instances; releasing, disassociating and
deregistering are plain actions (`flow.act_plainly`)."""

from __future__ import annotations

import uuid

from adapters.base import CloudError
from services.provisioner import errors
from services.provisioner.resources.handlers.flow import (
    Outcome,
    Ports,
    act,
    create,
    new_record,
    owned_cloud,
    owned_resource,
    usable_instance,
)


async def allocate_address(
    ports: Ports, *, project_id: str, cloud_id: str, name: str | None, correlation_id: str
) -> Outcome:
    await owned_cloud(ports, project_id, cloud_id, "allocate_address", "list_addresses")
    adapter = await ports.clouds.adapter(cloud_id)
    try:
        # What the cloud holds before the call: a worker recovering from a lost answer finds the new one by it.
        known = sorted(a.id for a in await adapter.list_addresses())
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
        pending={"known_before": known},
        resource_id=resource_id,
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
    await owned_cloud(ports, project_id, instance.cloud_id, "create_image", named_in=None)
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


__all__ = ["allocate_address", "associate_address", "create_image"]
