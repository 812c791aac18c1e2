"""Instances in the pending-action engine: the cloud calls that carry out an instance's action, how the record takes
their answers, and how instances in transition are followed (one `get_instances` call per cloud)."""

from __future__ import annotations

import logging
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime

from adapters.base import CloudAdapter, CloudError, InvalidCloudRequest, LaunchSpec
from adapters.base import Instance as CloudInstance
from adapters.base import InstanceState as S
from kernel.crypto import CryptoError, Keyring
from kernel.events import EventPayload
from kernel.unit_of_work import UnitOfWork
from services.provisioner.instances import domain
from services.provisioner.instances.domain import INSTANCE_TAG, InstanceRecord, UserAction
from services.provisioner.instances.repository import InstanceRepository, InstanceStore
from services.provisioner.templates import sealing
from services.provisioner.work.engine import Settlement
from services.provisioner.work.pacing import Pacer, jittered_delay

log = logging.getLogger(__name__)


def launch_spec(record: InstanceRecord, keyring: Keyring | None = None) -> LaunchSpec:
    """The launch of a record; the record's id is the client token, so the same launch never makes two instances.
    User data kept sealed (a template's boot scripts, which may hold secrets) is opened here, in memory only; a
    record whose user data no key opens fails its launch rather than launch without it."""
    options = record.launch_options
    user_data: str | bytes | None = options.get("user_data")
    sealed = options.get("user_data_sealed")
    if sealed is not None:
        try:
            user_data = sealing.open_user_data(keyring, record.id, str(sealed))
        except CryptoError:
            raise InvalidCloudRequest("the launch's user data cannot be opened with this provisioner's keys") from None
    return LaunchSpec(
        name=record.name,
        image_id=record.image_id,
        flavor_id=record.flavor_id,
        client_token=record.id,
        key_name=record.key_name,
        security_group_ids=tuple(options.get("security_group_provider_ids", ())),
        user_data=user_data,
        zone=record.zone,
        tags={**record.tags, INSTANCE_TAG: record.id},
    )


class InstanceKind:
    name = "instance"

    def __init__(self, keyring: Keyring | None = None) -> None:
        # Opens the user data a launch keeps sealed.
        self.keyring = keyring

    def store(self, repos: InstanceStore) -> InstanceRepository:
        return repos.instances

    async def call(
        self, adapter: CloudAdapter, record: InstanceRecord, uow: UnitOfWork[InstanceStore]
    ) -> CloudInstance:
        action = record.pending_action
        if action == "launch":
            return await adapter.launch_instance(launch_spec(record, self.keyring))
        if record.provider_id is None:
            # Termination was asked while the launch was in flight, whose answer was then dropped: the client token
            # finds the instance that launch made (or makes it), and it is terminated.
            made = await adapter.launch_instance(launch_spec(record, self.keyring))
            return await adapter.terminate_instance(made.id)
        operations = {
            "start": adapter.start_instance,
            "stop": adapter.stop_instance,
            "reboot": adapter.reboot_instance,
            "suspend": adapter.suspend_instance,
            "resume": adapter.resume_instance,
            "terminate": adapter.terminate_instance,
        }
        return await operations[str(action)](record.provider_id)

    def applied(self, record: InstanceRecord, value: CloudInstance) -> Settlement[InstanceRecord]:
        if record.provider_id is None:
            after, events = domain.launched(record, value)
        else:
            after, events = domain.observe(replace(record, pending_action=None, attempts=0, throttled=0), value)
        return Settlement(after, events)

    def failed(self, record: InstanceRecord, reason: str) -> Settlement[InstanceRecord]:
        return Settlement(*domain.failed(record, reason))

    async def gave_up(
        self, adapter: CloudAdapter, record: InstanceRecord, reason: str, pacer: Pacer
    ) -> Settlement[InstanceRecord]:
        if record.provider_id is None:
            return self.failed(record, reason)
        try:
            found = await adapter.get_instances([record.provider_id])
        except CloudError:
            log.warning("could not read instance %s back from its cloud", record.id)
            delay = jittered_delay(record.attempts + 1, pacer.rand())
            return Settlement(replace(record, attempts=record.attempts + 1, reason=reason), retry_in=delay)
        action: UserAction = record.pending_action  # type: ignore[assignment]
        return Settlement(*domain.action_failed(record, action, reason, found[0] if found else None))

    def followed_together(self, record: InstanceRecord) -> Hashable:
        return record.cloud_id

    async def current(self, adapter: CloudAdapter, records: Sequence[InstanceRecord]) -> Mapping[str, CloudInstance]:
        return {i.id: i for i in await adapter.get_instances([r.provider_id or "" for r in records])}

    def observe(
        self, record: InstanceRecord, value: CloudInstance | None, now: datetime
    ) -> tuple[InstanceRecord, list[EventPayload]]:
        return domain.observe(record, value)

    async def changed(self, repos: InstanceStore, after: InstanceRecord) -> None:
        if after.state == S.TERMINATED and after.provider_id is not None:
            await repos.resources.release_held_by(after.id)


# The kind without a keyring, for a worker that launches no template (a launch with sealed user data fails on it).
INSTANCES = InstanceKind()

__all__ = ["INSTANCES", "InstanceKind", "launch_spec"]
