"""The rules of each kind an inventory sync reconciles: when a record is Clanavi's business (ended, busy, being
created), when what the cloud lists means a change, and the records and events of an adoption, a drift and a
vanishing; no I/O."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar, Generic

from adapters.base import Instance as CloudInstance
from adapters.base import InstanceState as S
from adapters.base import Volume as CloudVolume
from adapters.base import VolumeState as VS
from kernel import events
from services.provisioner.instances.domain import (
    ENDED,
    GONE,
    INSTANCE_TAG,
    REQUESTED,
    RESERVED_TAG_PREFIX,
    TRANSITIONAL,
    InstanceRecord,
)
from services.provisioner.inventory.domain import C, Change, R, Sync
from services.provisioner.resources.domain import ResourceRecord

# Volume records no sync touches again.
VOLUME_ENDED = frozenset({VS.DELETED.value, GONE})
_VOLUME_ERROR = "The cloud reports the volume in error."


@dataclass(frozen=True)
class _Kind:
    """What a sync tells of one kind: the field that names a record in its events, its drift and vanishing events,
    the record states no sync touches again, and the cloud states that mean the thing is on its way out or out
    (nothing to adopt, and a record Clanavi did not end is gone)."""

    named_by: str
    drifted: Callable[..., events.EventPayload]
    vanished: Callable[..., events.EventPayload]
    ended: frozenset[str]
    ending: frozenset[S] | frozenset[VS]


_INSTANCES = _Kind(
    "instance_id", events.InstanceDrifted, events.InstanceVanished, ENDED, frozenset({S.TERMINATING, S.TERMINATED})
)
_VOLUMES = _Kind(
    "volume_id", events.VolumeDrifted, events.VolumeVanished, VOLUME_ENDED, frozenset({VS.DELETING, VS.DELETED})
)


@dataclass(frozen=True)
class _Facts(Generic[R, C]):
    """The rules every kind keeps alike, told by its `kind`."""

    sync: Sync
    kind: ClassVar[_Kind]

    def ended(self, record: R) -> bool:
        return record.state in self.kind.ended

    def ending(self, cloud: C) -> bool:
        return cloud.state in self.kind.ending

    def adoptable(self, cloud: C) -> bool:
        return not self.ending(cloud)

    def _about(self, record: R, provider_id: str) -> dict[str, Any]:
        return {
            self.kind.named_by: record.id,
            "cloud_id": record.cloud_id,
            "provider_id": provider_id,
            "sync_id": self.sync.sync_id,
        }

    def _drift(self, record: R, after: R, provider_id: str) -> Change[R]:
        fact = self.kind.drifted(**self._about(record, provider_id), from_state=record.state, to_state=after.state)
        return Change(record, after, fact)

    def vanish(self, record: R) -> Change[R]:
        fact = self.kind.vanished(**self._about(record, record.provider_id or ""), previous_state=record.state)
        return Change(record, replace(record, state=GONE), fact)


@dataclass(frozen=True)
class InstanceRules(_Facts[InstanceRecord, CloudInstance]):
    # The cloud's security group ids -> Clanavi's (groups Clanavi does not know are left out of adopted records).
    group_ids: Mapping[str, str] = field(default_factory=dict)
    kind = _INSTANCES

    def busy(self, record: InstanceRecord) -> bool:
        return record.pending_action is not None or record.state == REQUESTED or record.state in TRANSITIONAL

    def in_making(self, records: Sequence[InstanceRecord]) -> Callable[[CloudInstance], bool]:
        # Clanavi's own launch whose answer is not recorded yet: the cloud lists it with the record's tag.
        launching = {r.id for r in records if r.pending_action == "launch" or r.state == REQUESTED}
        return lambda cloud: cloud.tags.get(INSTANCE_TAG, "") in launching

    def adoptable(self, cloud: CloudInstance) -> bool:
        return super().adoptable(cloud) and cloud.state != S.UNKNOWN

    def same(self, record: InstanceRecord, cloud: CloudInstance) -> bool:
        return cloud.state == S.UNKNOWN or cloud.state.value == record.state

    def adopt(self, cloud: CloudInstance, record_id: str | None = None) -> Change[InstanceRecord]:
        sync = self.sync
        listed: dict[str, Any] = {"image_id": cloud.image_id, "flavor_id": cloud.flavor_id, "zone": cloud.zone}
        tags = {k: v for k, v in cloud.tags.items() if not k.startswith(RESERVED_TAG_PREFIX)}
        record = InstanceRecord(
            id=record_id or str(uuid.uuid4()),
            project_id=sync.project_id,
            cloud_id=sync.cloud_id,
            name=cloud.name or cloud.id,
            state=cloud.state.value,
            correlation_id=sync.correlation_id,
            created_at=sync.now,
            updated_at=sync.now,
            provider_id=cloud.id,
            reason=cloud.reason if cloud.state == S.ERROR else None,
            private_ips=tuple(cloud.private_ips) + tuple(cloud.public_ips),
            key_name=cloud.key_name,
            security_group_ids=tuple(self.group_ids[g] for g in cloud.security_group_ids if g in self.group_ids),
            tags=tags,
            discovered=True,
            **listed,
        )
        fact = events.InstanceDiscovered(
            **self._about(record, cloud.id), name=record.name, state=record.state, tags=tags, **listed
        )
        return Change(None, record, fact)

    def drift(self, record: InstanceRecord, cloud: CloudInstance) -> Change[InstanceRecord]:
        reason = (cloud.reason or "The cloud reports the instance in error.") if cloud.state == S.ERROR else None
        return self._drift(record, replace(record, state=cloud.state.value, reason=reason), cloud.id)


@dataclass(frozen=True)
class VolumeRules(_Facts[ResourceRecord, CloudVolume]):
    # The cloud's instance ids -> Clanavi's: an adopted or corrected volume is attached to the Clanavi instance.
    instance_ids: Mapping[str, str] = field(default_factory=dict)
    kind = _VOLUMES

    def busy(self, record: ResourceRecord) -> bool:
        return record.pending_action is not None or record.provider_id is None or record.state in record.rules.followed

    def in_making(self, records: Sequence[ResourceRecord]) -> Callable[[CloudVolume], bool]:
        # Clanavi's own creation whose answer is not recorded yet: the cloud lists it by the name Clanavi gave it.
        creating = {
            str(r.attrs["cloud_name"])
            for r in records
            if r.attrs.get("cloud_name")
            and (r.pending_action == r.rules.create or (r.provider_id is None and r.state == r.rules.creating))
        }
        return lambda cloud: cloud.name in creating

    def same(self, record: ResourceRecord, cloud: CloudVolume) -> bool:
        return cloud.state.value == record.state

    def _attachment(self, cloud: CloudVolume) -> dict[str, str | None]:
        """The volume's attachment as Clanavi records it: the instance by its Clanavi id, None when Clanavi does not
        know that instance."""
        attached = cloud.state == VS.IN_USE and cloud.instance_id is not None
        return {
            "instance_id": self.instance_ids.get(cloud.instance_id or "") if attached else None,
            "device": cloud.device if attached else None,
        }

    def adopt(self, cloud: CloudVolume, record_id: str | None = None) -> Change[ResourceRecord]:
        sync = self.sync
        attachment = self._attachment(cloud)
        record = ResourceRecord(
            id=record_id or str(uuid.uuid4()),
            kind="volume",
            project_id=sync.project_id,
            cloud_id=sync.cloud_id,
            name=cloud.name or cloud.id,
            state=cloud.state.value,
            attrs={"cloud_name": cloud.name, "size_gb": cloud.size_gb, "zone": cloud.zone, **attachment},
            correlation_id=sync.correlation_id,
            created_at=sync.now,
            updated_at=sync.now,
            provider_id=cloud.id,
            reason=_VOLUME_ERROR if cloud.state == VS.ERROR else None,
            discovered=True,
        )
        fact = events.VolumeDiscovered(
            **self._about(record, cloud.id),
            name=record.name,
            size_gb=cloud.size_gb,
            state=record.state,
            zone=cloud.zone,
            instance_id=attachment["instance_id"],
        )
        return Change(None, record, fact)

    def drift(self, record: ResourceRecord, cloud: CloudVolume) -> Change[ResourceRecord]:
        after = replace(
            record,
            state=cloud.state.value,
            reason=_VOLUME_ERROR if cloud.state == VS.ERROR else None,
            attrs={**record.attrs, **self._attachment(cloud), "size_gb": cloud.size_gb},
        )
        return self._drift(record, after, cloud.id)


__all__ = ["VOLUME_ENDED", "InstanceRules", "VolumeRules"]
