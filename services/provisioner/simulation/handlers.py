"""Driving a SimCloud account from the API: a zone outage, an instance's load profile. Other clouds refuse (422):
these are the simulator's own operations (`ex_`), which no real cloud has. No FastAPI, no aio-pika."""

from __future__ import annotations

from typing import Literal

from adapters.base import CloudError, InvalidCloudRequest
from adapters.simcloud import SimCloudAdapter, load
from kernel.errors import InvalidState, NotFound, ValidationFailed
from kernel.unit_of_work import UnitOfWork
from services.provisioner import errors
from services.provisioner.clouds.directory import CloudDirectory
from services.provisioner.clouds.domain import Cloud
from services.provisioner.clouds.repository import owned_cloud
from services.provisioner.instances.domain import ENDED, InstanceRecord
from services.provisioner.instances.repository import InstanceStore, owned_instance

ZoneState = Literal["down", "up"]


async def _simulator(clouds: CloudDirectory, cloud: Cloud, location: str) -> SimCloudAdapter:
    adapter = await clouds.adapter(cloud.id) if cloud.driver == "simcloud" else None
    if not isinstance(adapter, SimCloudAdapter):
        raise ValidationFailed(
            f"Cloud {cloud.id} is not a SimCloud account: only SimCloud simulates.",
            errors=[{"location": location, "message": f"{cloud.id} is a {cloud.driver} account"}],
        )
    return adapter


async def set_zone_state(
    uow: UnitOfWork[InstanceStore],
    clouds: CloudDirectory,
    *,
    project_id: str,
    cloud_id: str,
    zone: str,
    state: ZoneState,
) -> None:
    """Take one of a SimCloud account's zones down (its instances go to error there, launches there fail) or bring
    it up again (launches succeed; the instances it caught stay in error, as after a real outage)."""
    async with uow.reading() as repos:
        cloud = await owned_cloud(repos.clouds, project_id, cloud_id, named_in=None)
    adapter = await _simulator(clouds, cloud, "path.cloud_id")
    try:
        await adapter.ex_set_zone_state(zone, state)
    except InvalidCloudRequest as exc:
        raise NotFound(f"Cloud {cloud_id} has no zone {zone}.") from exc
    except CloudError as exc:
        raise errors.from_cloud(exc, cloud_id=cloud_id) from exc


async def set_load(
    uow: UnitOfWork[InstanceStore], clouds: CloudDirectory, *, project_id: str, instance_id: str, profile: str
) -> InstanceRecord:
    """Drive a SimCloud instance's CPU load by a profile from now on (`steady:<pct>`, `ramp:<from>:<to>:<s>`,
    `spike:<base>:<peak>:<period>:<duration>`); a bad profile is a 422 naming `body.profile`."""
    async with uow.reading() as repos:
        record = await owned_instance(repos.instances, project_id, instance_id)
        cloud = await owned_cloud(repos.clouds, project_id, record.cloud_id, named_in=None)
    adapter = await _simulator(clouds, cloud, "path.instance_id")
    try:
        load.parse(profile)
    except load.BadProfile as exc:
        raise ValidationFailed(
            "The load profile is not valid.", errors=[{"location": "body.profile", "message": str(exc)}]
        ) from exc
    if record.provider_id is None or record.state in ENDED:
        raise InvalidState(f"Instance {instance_id} is {record.state}: it is not in its cloud.", state=record.state)
    try:
        await adapter.ex_set_load(record.provider_id, profile)
    except CloudError as exc:
        raise errors.from_cloud(exc, cloud_id=cloud.id) from exc
    return record


__all__ = ["ZoneState", "set_load", "set_zone_state"]
