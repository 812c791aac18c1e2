"""Quarantine: an instance taken out of its scaling group and stopped, kept (disks, console, addresses) for whoever
looks into why it failed. No FastAPI, no aio-pika."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from adapters.base import InstanceState as S
from adapters.base import Operation
from kernel.commands import SCALING_GROUP_TAG
from kernel.errors import InvalidState, NotFound
from kernel.events import EventPayload, InstanceActionRequested, InstanceQuarantined
from kernel.unit_of_work import UnitOfWork
from services.provisioner.clouds.directory import CloudDirectory
from services.provisioner.clouds.repository import owned_cloud
from services.provisioner.instances import domain
from services.provisioner.instances.domain import InstanceRecord
from services.provisioner.instances.handlers import Also
from services.provisioner.instances.repository import InstanceStore, owned_instance
from services.provisioner.work.engine import WORK_CHANNEL

# Set on a quarantined instance, with the reason: what tells it from a server a user stopped.
QUARANTINED_TAG = f"{domain.RESERVED_TAG_PREFIX}quarantined"
# The longest tag value a cloud is asked to keep.
_TAG_VALUE_MAX = 256


def quarantined_tags(tags: dict[str, str], reason: str) -> dict[str, str]:
    """The tags of a quarantined instance: out of its group, marked with why."""
    kept = {k: v for k, v in tags.items() if k != SCALING_GROUP_TAG}
    return {**kept, QUARANTINED_TAG: reason[:_TAG_VALUE_MAX]}


async def quarantine(
    uow: UnitOfWork[InstanceStore],
    clouds: CloudDirectory,
    *,
    project_id: str,
    instance_id: str,
    requested_by: str,
    reason: str,
    correlation_id: str,
    also: Also | None = None,
) -> InstanceRecord:
    """Take an instance out of its group and stop it when it runs (one in error or stopped is only taken out); 409
    while another action is under way on it or once it has ended. Then `instance.quarantined`."""
    async with uow.reading() as repos:
        current = await owned_instance(repos.instances, project_id, instance_id)
        cloud = await owned_cloud(repos.clouds, project_id, current.cloud_id)
    if current.state == S.RUNNING:
        await clouds.require(cloud, Operation.STOP_INSTANCE)
    async with uow.transaction() as tx:
        record = await tx.repos.instances.lock(project_id, instance_id)
        if record is None:
            raise NotFound(f"Instance {instance_id} does not exist.")
        if record.pending_action is not None or record.state in (S.TERMINATING, *domain.ENDED, domain.REQUESTED):
            raise InvalidState(
                f"Cannot quarantine instance {record.id} while it is {record.state}.", state=record.state
            )
        tags = quarantined_tags(dict(record.tags), reason or requested_by)
        events: list[EventPayload] = []
        after = record
        if record.state == S.RUNNING:
            after = domain.request_action(record, "stop")
            events.append(InstanceActionRequested(instance_id=record.id, cloud_id=record.cloud_id, action="stop"))
        events.append(
            InstanceQuarantined(
                instance_id=record.id,
                cloud_id=record.cloud_id,
                requested_by=requested_by,
                reason=reason,
                scaling_group_id=record.tags.get(SCALING_GROUP_TAG),
            )
        )
        after = replace(after, tags=tags, correlation_id=correlation_id, pending_since=datetime.now(UTC))
        await tx.repos.instances.retag(record.id, tags)
        saved = await tx.repos.instances.save(tx.changed(after, *events))
        if saved.pending_action is not None:
            tx.notify(WORK_CHANNEL)
        if also is not None:
            await also(tx.repos)
    return replace(saved, tags=tags)


__all__ = ["QUARANTINED_TAG", "quarantine", "quarantined_tags"]
