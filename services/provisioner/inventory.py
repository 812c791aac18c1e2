"""Inventory: how a cloud account's records are reconciled with what its cloud lists; pure functions, no I/O.

A sync lists everything the cloud has, reads every record of the account, and compares them here:
- in the cloud and unknown to Clanavi: adopted, as a record marked `discovered` (`instance.discovered`);
- known, no action of Clanavi's under way, and the cloud reports another state: corrected (`instance.drifted`);
- known (it has a provider id) and no longer in the cloud, or terminated there by someone else: `gone`
  (`instance.vanished`).

Volumes are compared the same way (`plan_volumes`: `volume.discovered`, `volume.drifted`, `volume.vanished`).

What Clanavi is doing itself is never touched: a record with a pending action, one in a transition the worker
follows, one still being launched (no provider id yet), and one created or changed since the listing began (the
listing may predate the change) are left alone until a later sync. Terminated and gone records are final.

"Changed since the listing began" is told by row versions, not clocks: a change's timestamp is taken when its
transaction starts, which may be before the cloud call it records, so only a version read before the listing and
the same one read after it prove the record did not move meanwhile.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Generic, Literal, TypeVar

from adapters.base import Instance as CloudInstance
from adapters.base import InstanceState as S
from adapters.base import Volume as CloudVolume
from adapters.base import VolumeState as VS
from kernel.events import (
    EventPayload,
    InstanceDiscovered,
    InstanceDrifted,
    InstanceVanished,
    VolumeDiscovered,
    VolumeDrifted,
    VolumeVanished,
)
from services.provisioner import resources
from services.provisioner.domain import ENDED, GONE, REQUESTED, RESERVED_TAG_PREFIX, TRANSITIONAL, InstanceRecord
from services.provisioner.resources import ResourceRecord

# The tag Clanavi puts on every instance it launches: the record's id.
INSTANCE_TAG = "clanavi:instance"
# Cloud states that mean the instance is on its way out or out: nothing to adopt, and a record Clanavi did not
# terminate is gone.
_ENDING = frozenset({S.TERMINATING, S.TERMINATED})


SyncTrigger = Literal["scheduled", "manual"]
SyncStatus = Literal["running", "succeeded", "failed"]


@dataclass(frozen=True, slots=True)
class Counts:
    adopted: int = 0
    drifted: int = 0
    vanished: int = 0
    unchanged: int = 0
    # What the cloud listed, and in how many calls.
    listed: int = 0
    list_calls: int = 0
    volumes_adopted: int = 0
    volumes_drifted: int = 0
    volumes_vanished: int = 0
    volumes_unchanged: int = 0
    volumes_listed: int = 0


@dataclass(frozen=True, slots=True)
class SyncRun:
    id: str
    cloud_id: str
    project_id: str
    trigger: SyncTrigger
    status: SyncStatus
    started_at: datetime
    finished_at: datetime | None
    counts: Counts
    error: str | None
    correlation_id: str


# A record of one kind: an instance, or a volume (of the generic resources table).
R = TypeVar("R", InstanceRecord, ResourceRecord)


# Not slotted: slots and Generic together break the frozen dataclass's __init__ on Python 3.11.
@dataclass(frozen=True)
class Change(Generic[R]):
    """One record to write: `before` is None for an adopted record; `event` is what the change reports."""

    before: R | None
    after: R
    event: EventPayload


@dataclass(frozen=True)
class Plan(Generic[R]):
    """What one sync writes for one kind of record."""

    adopt: list[Change[R]] = field(default_factory=list)
    drift: list[Change[R]] = field(default_factory=list)
    vanish: list[Change[R]] = field(default_factory=list)
    # Records the cloud lists as they are.
    unchanged: int = 0
    # Records left for later: an action of Clanavi's under way, or changed since the listing began.
    skipped: int = 0

    @property
    def changes(self) -> int:
        return len(self.adopt) + len(self.drift) + len(self.vanish)


InstancePlan = Plan[InstanceRecord]


def busy(record: InstanceRecord, stable: Collection[str]) -> bool:
    """Whether Clanavi is acting on the record, or it is not among the `stable` ones (unchanged since before the
    listing began): the listing may predate what the record says."""
    return (
        record.pending_action is not None
        or record.state == REQUESTED
        or record.state in TRANSITIONAL
        or record.id not in stable
    )


def _launching(record: InstanceRecord) -> bool:
    return record.pending_action == "launch" or record.state == REQUESTED


def _tags(cloud: CloudInstance) -> dict[str, str]:
    return {k: v for k, v in cloud.tags.items() if not k.startswith(RESERVED_TAG_PREFIX)}


def adopted(
    cloud: CloudInstance,
    *,
    cloud_id: str,
    project_id: str,
    sync_id: str,
    correlation_id: str,
    now: datetime,
    group_ids: Mapping[str, str],
    record_id: str | None = None,
) -> Change[InstanceRecord]:
    """The record of an instance found in the cloud, and its `instance.discovered` event. `group_ids` maps the
    cloud's security group ids to Clanavi's (groups Clanavi does not know are left out)."""
    tags = _tags(cloud)
    record = InstanceRecord(
        id=record_id or str(uuid.uuid4()),
        project_id=project_id,
        cloud_id=cloud_id,
        name=cloud.name or cloud.id,
        image_id=cloud.image_id,
        flavor_id=cloud.flavor_id,
        provider_id=cloud.id,
        state=cloud.state.value,
        pending_action=None,
        attempts=0,
        reason=cloud.reason if cloud.state == S.ERROR else None,
        private_ips=tuple(cloud.private_ips) + tuple(cloud.public_ips),
        correlation_id=correlation_id,
        last_event_id=None,
        created_at=now,
        updated_at=now,
        key_name=cloud.key_name,
        security_group_ids=tuple(group_ids[g] for g in cloud.security_group_ids if g in group_ids),
        zone=cloud.zone,
        tags=tags,
        discovered=True,
    )
    event = InstanceDiscovered(
        instance_id=record.id,
        cloud_id=cloud_id,
        provider_id=cloud.id,
        sync_id=sync_id,
        name=record.name,
        image_id=record.image_id,
        flavor_id=record.flavor_id,
        state=record.state,
        zone=record.zone,
        tags=tags,
    )
    return Change(None, record, event)


def _drifted(record: InstanceRecord, cloud: CloudInstance, sync_id: str) -> Change[InstanceRecord]:
    reason = (cloud.reason or "The cloud reports the instance in error.") if cloud.state == S.ERROR else None
    after = replace(record, state=cloud.state.value, reason=reason)
    event = InstanceDrifted(
        instance_id=record.id,
        cloud_id=record.cloud_id,
        provider_id=cloud.id,
        sync_id=sync_id,
        from_state=record.state,
        to_state=after.state,
    )
    return Change(record, after, event)


def _vanished(record: InstanceRecord, sync_id: str) -> Change[InstanceRecord]:
    after = replace(record, state=GONE)
    event = InstanceVanished(
        instance_id=record.id,
        cloud_id=record.cloud_id,
        provider_id=record.provider_id or "",
        sync_id=sync_id,
        previous_state=record.state,
    )
    return Change(record, after, event)


def plan_instances(
    listed: Iterable[CloudInstance],
    records: Sequence[InstanceRecord],
    *,
    cloud_id: str,
    project_id: str,
    sync_id: str,
    correlation_id: str,
    stable: Collection[str],
    now: datetime,
    group_ids: Mapping[str, str] | None = None,
) -> InstancePlan:
    """What a sync changes, given everything the cloud listed, every record of the account (read after the listing
    ended), and the ids of the records whose version did not change from before the listing to after it."""
    by_provider = {r.provider_id: r for r in records if r.provider_id is not None}
    by_id = {r.id: r for r in records}
    plan = InstancePlan()
    seen: set[str] = set()
    unchanged = skipped = 0
    for cloud in listed:
        if cloud.id in seen:
            continue  # a listing that moved under us may repeat an item across pages
        seen.add(cloud.id)
        record = by_provider.get(cloud.id)
        if record is None:
            launched_by = by_id.get(cloud.tags.get(INSTANCE_TAG, ""))
            if launched_by is not None and _launching(launched_by):
                skipped += 1  # Clanavi's own launch, whose answer the worker has not recorded yet
            elif cloud.state not in _ENDING and cloud.state != S.UNKNOWN:
                plan.adopt.append(
                    adopted(
                        cloud,
                        cloud_id=cloud_id,
                        project_id=project_id,
                        sync_id=sync_id,
                        correlation_id=correlation_id,
                        now=now,
                        group_ids=group_ids or {},
                    )
                )
            continue
        if record.state in ENDED:
            unchanged += 1
        elif busy(record, stable):
            skipped += 1
        elif cloud.state in _ENDING:
            plan.vanish.append(_vanished(record, sync_id))
        elif cloud.state == S.UNKNOWN or cloud.state.value == record.state:
            unchanged += 1
        else:
            plan.drift.append(_drifted(record, cloud, sync_id))
    for record in records:
        if record.provider_id is None or record.provider_id in seen or record.state in ENDED:
            continue
        if busy(record, stable):
            skipped += 1
        else:
            plan.vanish.append(_vanished(record, sync_id))
    return replace(plan, unchanged=unchanged, skipped=skipped)


# --- volumes ----------------------------------------------------------------------------------------------------

# Volume records no sync touches again.
VOLUME_ENDED = frozenset({VS.DELETED.value, resources.GONE})
# Cloud states that mean the volume is on its way out or out, as for instances.
_VOLUME_ENDING = frozenset({VS.DELETING, VS.DELETED})
_VOLUME_ERROR = "The cloud reports the volume in error."


VolumeChange = Change[ResourceRecord]
VolumePlan = Plan[ResourceRecord]


def volume_busy(record: ResourceRecord, stable: Collection[str]) -> bool:
    """Whether Clanavi is acting on the volume record (an action pending, a transition the worker follows, a
    creation whose answer is not recorded yet), or it changed since the listing began."""
    return (
        record.pending_action is not None
        or record.provider_id is None
        or record.state in record.rules.followed
        or record.id not in stable
    )


def _attachment(cloud: CloudVolume, instance_ids: Mapping[str, str]) -> dict[str, str | None]:
    """The volume's attachment as Clanavi records it: the instance by its Clanavi id, None when Clanavi does not
    know that instance."""
    attached = cloud.state == VS.IN_USE and cloud.instance_id is not None
    return {
        "instance_id": instance_ids.get(cloud.instance_id or "") if attached else None,
        "device": cloud.device if attached else None,
    }


def adopted_volume(
    cloud: CloudVolume,
    *,
    cloud_id: str,
    project_id: str,
    sync_id: str,
    correlation_id: str,
    now: datetime,
    instance_ids: Mapping[str, str],
    record_id: str | None = None,
) -> VolumeChange:
    """The record of a volume found in the cloud, and its `volume.discovered` event. `instance_ids` maps the
    cloud's instance ids to Clanavi's."""
    attachment = _attachment(cloud, instance_ids)
    attrs = {"cloud_name": cloud.name, "size_gb": cloud.size_gb, "zone": cloud.zone, **attachment}
    record = ResourceRecord(
        id=record_id or str(uuid.uuid4()),
        kind="volume",
        project_id=project_id,
        cloud_id=cloud_id,
        name=cloud.name or cloud.id,
        provider_id=cloud.id,
        state=cloud.state.value,
        pending_action=None,
        pending={},
        attempts=0,
        throttled=0,
        reason=_VOLUME_ERROR if cloud.state == VS.ERROR else None,
        attrs=attrs,
        correlation_id=correlation_id,
        last_event_id=None,
        pending_since=None,
        created_at=now,
        updated_at=now,
        discovered=True,
    )
    event = VolumeDiscovered(
        volume_id=record.id,
        cloud_id=cloud_id,
        provider_id=cloud.id,
        sync_id=sync_id,
        name=record.name,
        size_gb=cloud.size_gb,
        state=record.state,
        zone=cloud.zone,
        instance_id=attachment["instance_id"],
    )
    return VolumeChange(None, record, event)


def _volume_drifted(
    record: ResourceRecord, cloud: CloudVolume, sync_id: str, instance_ids: Mapping[str, str]
) -> VolumeChange:
    after = replace(
        record,
        state=cloud.state.value,
        reason=_VOLUME_ERROR if cloud.state == VS.ERROR else None,
        attrs={**record.attrs, **_attachment(cloud, instance_ids), "size_gb": cloud.size_gb},
    )
    event = VolumeDrifted(
        volume_id=record.id,
        cloud_id=record.cloud_id,
        provider_id=cloud.id,
        sync_id=sync_id,
        from_state=record.state,
        to_state=after.state,
    )
    return VolumeChange(record, after, event)


def _volume_vanished(record: ResourceRecord, sync_id: str) -> VolumeChange:
    after = replace(record, state=resources.GONE)
    event = VolumeVanished(
        volume_id=record.id,
        cloud_id=record.cloud_id,
        provider_id=record.provider_id or "",
        sync_id=sync_id,
        previous_state=record.state,
    )
    return VolumeChange(record, after, event)


def _creating(record: ResourceRecord) -> bool:
    return record.pending_action == record.rules.create or (
        record.provider_id is None and record.state == record.rules.creating
    )


def plan_volumes(
    listed: Iterable[CloudVolume],
    records: Sequence[ResourceRecord],
    *,
    cloud_id: str,
    project_id: str,
    sync_id: str,
    correlation_id: str,
    stable: Collection[str],
    now: datetime,
    instance_ids: Mapping[str, str] | None = None,
) -> VolumePlan:
    """What a sync changes in the account's volume records, given everything the cloud listed, every volume record
    of the account (read after the listing ended), and the ids of the records whose version did not change from
    before the listing to after it. `instance_ids` maps the cloud's instance ids to Clanavi's."""
    instance_ids = instance_ids or {}
    by_provider: dict[str, ResourceRecord] = {}
    for r in records:
        if r.provider_id is None:
            continue
        known = by_provider.get(r.provider_id)
        if known is None or known.state in VOLUME_ENDED:
            by_provider[r.provider_id] = r  # a live record of the same volume wins over an ended one
    # Clanavi's own creations whose answer is not recorded yet, by the name they get in the cloud.
    creating = {str(r.attrs.get("cloud_name")) for r in records if _creating(r) and r.attrs.get("cloud_name")}
    plan = VolumePlan()
    seen: set[str] = set()
    unchanged = skipped = 0
    for cloud in listed:
        if cloud.id in seen:
            continue
        seen.add(cloud.id)
        record = by_provider.get(cloud.id)
        if record is None:
            if cloud.name in creating:
                skipped += 1
            elif cloud.state not in _VOLUME_ENDING:
                plan.adopt.append(
                    adopted_volume(
                        cloud,
                        cloud_id=cloud_id,
                        project_id=project_id,
                        sync_id=sync_id,
                        correlation_id=correlation_id,
                        now=now,
                        instance_ids=instance_ids,
                    )
                )
            continue
        if record.state in VOLUME_ENDED:
            unchanged += 1
        elif volume_busy(record, stable):
            skipped += 1
        elif cloud.state in _VOLUME_ENDING:
            plan.vanish.append(_volume_vanished(record, sync_id))
        elif cloud.state.value == record.state:
            unchanged += 1
        else:
            plan.drift.append(_volume_drifted(record, cloud, sync_id, instance_ids))
    for record in records:
        if record.provider_id is None or record.provider_id in seen or record.state in VOLUME_ENDED:
            continue
        if volume_busy(record, stable):
            skipped += 1
        else:
            plan.vanish.append(_volume_vanished(record, sync_id))
    return replace(plan, unchanged=unchanged, skipped=skipped)


__all__ = [
    "INSTANCE_TAG",
    "VOLUME_ENDED",
    "Change",
    "Counts",
    "InstancePlan",
    "SyncRun",
    "SyncStatus",
    "SyncTrigger",
    "VolumeChange",
    "VolumePlan",
    "adopted",
    "adopted_volume",
    "busy",
    "plan_instances",
    "plan_volumes",
    "volume_busy",
]
