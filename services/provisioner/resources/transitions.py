"""How each kind's record takes what its cloud answers: the answer to its pending action (`applied`), and what the
cloud reports while it carries out a transition (`observe`); no I/O."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from adapters.base import Address, Image, ImageState, KeyPair, SecurityGroup, Snapshot, SnapshotState
from adapters.base import Volume as CloudVolume
from adapters.base import VolumeState as VS
from kernel.events import (
    AddressAllocated,
    AddressAssociated,
    AddressDisassociated,
    EventPayload,
    ImageAvailable,
    ImageCreated,
    KeyPairCreated,
    SecurityGroupCreated,
    SecurityGroupRuleAuthorized,
    SecurityGroupRuleRevoked,
    SnapshotAvailable,
    SnapshotCreated,
    VolumeAttached,
    VolumeAvailable,
    VolumeCreated,
    VolumeDetached,
)
from services.provisioner.resources.domain import (
    MISSING_GRACE,
    CloudValue,
    ResourceRecord,
    event_ids,
    failed,
    gone_event,
    label,
    settled,
)
from services.provisioner.resources.security_rules import rule_fact, rule_from_dict, rule_id, rule_to_dict


def applied(record: ResourceRecord, value: CloudValue, *, now: datetime) -> tuple[ResourceRecord, list[EventPayload]]:
    """The record after its pending action's cloud call answered `value`."""
    action = record.pending_action
    if action is None:
        raise ValueError("no action is pending")
    rules = record.rules
    if action == rules.remove:
        after = settled(record, rules.gone)
        return after, [gone_event(after)]
    match record.kind:
        case "key_pair":
            return _key_pair_applied(record, action, value)
        case "security_group":
            return _security_group_applied(record, action, value)
        case "volume":
            return _volume_applied(record, action, value, now)
        case "snapshot":
            return _snapshot_applied(record, value, now)
        case "address":
            return _address_applied(record, action, value)
        case "image":
            return _image_applied(record, value, now)


def _expect(value: CloudValue, cls: type[Any], record: ResourceRecord) -> Any:
    if not isinstance(value, cls):
        raise TypeError(f"the cloud answered {type(value).__name__} for {record.kind} {record.pending_action}")
    return value


def _key_pair_applied(
    record: ResourceRecord, action: str, value: CloudValue
) -> tuple[ResourceRecord, list[EventPayload]]:
    key: KeyPair = _expect(value, KeyPair, record)
    after = replace(settled(record, "available", fingerprint=key.fingerprint), provider_id=key.name)
    return after, [KeyPairCreated(**event_ids(after), fingerprint=key.fingerprint, imported=action == "import")]


def _security_group_applied(
    record: ResourceRecord, action: str, value: CloudValue
) -> tuple[ResourceRecord, list[EventPayload]]:
    group: SecurityGroup = _expect(value, SecurityGroup, record)
    rules = [rule_to_dict(r) for r in group.rules]
    after = replace(settled(record, "available", rules=rules), provider_id=group.id)
    if action == "create":
        description = str(record.attrs.get("description", ""))
        return after, [SecurityGroupCreated(**event_ids(after), name=record.name, description=description)]
    rule = rule_from_dict(record.pending["rule"])
    event_cls = SecurityGroupRuleAuthorized if action == "authorize" else SecurityGroupRuleRevoked
    return after, [event_cls(**event_ids(after), rule_id=rule_id(rule), rule=rule_fact(rule))]


def _volume_applied(
    record: ResourceRecord, action: str, value: CloudValue, now: datetime
) -> tuple[ResourceRecord, list[EventPayload]]:
    volume: CloudVolume = _expect(value, CloudVolume, record)
    events: list[EventPayload] = []
    if action == "create":
        record = replace(
            settled(record, VS.CREATING.value, size_gb=volume.size_gb, zone=volume.zone or record.attrs.get("zone")),
            provider_id=volume.id,
        )
        events.append(
            VolumeCreated(
                **event_ids(record),
                name=record.name,
                size_gb=volume.size_gb,
                zone=record.attrs.get("zone"),
                snapshot_id=record.attrs.get("snapshot_id"),
            )
        )
    elif action == "attach":
        target = record.pending["instance_id"]
        record = settled(record, VS.ATTACHING.value, instance_id=target, device=volume.device)
    elif action == "detach":
        record = settled(record, VS.DETACHING.value)
    after, more = _volume_observed(record, volume, now)
    return after, events + more


def _snapshot_applied(
    record: ResourceRecord, value: CloudValue, now: datetime
) -> tuple[ResourceRecord, list[EventPayload]]:
    snapshot: Snapshot = _expect(value, Snapshot, record)
    record = replace(settled(record, SnapshotState.PENDING.value, size_gb=snapshot.size_gb), provider_id=snapshot.id)
    created = SnapshotCreated(
        **event_ids(record), name=record.name, volume_id=str(record.attrs.get("volume_id")), size_gb=snapshot.size_gb
    )
    after, more = _snapshot_observed(record, snapshot, now)
    return after, [created, *more]


def _address_applied(
    record: ResourceRecord, action: str, value: CloudValue
) -> tuple[ResourceRecord, list[EventPayload]]:
    address: Address = _expect(value, Address, record)
    if action == "allocate":
        after = replace(settled(record, "available", ip=address.ip), provider_id=address.id)
        return after, [AddressAllocated(**event_ids(after), ip=address.ip)]
    if action == "associate":
        target = str(record.pending["instance_id"])
        after = settled(record, "associated", instance_id=target, ip=address.ip)
        return after, [AddressAssociated(**event_ids(after), ip=address.ip, instance_id=target)]
    previous = record.attrs.get("instance_id")
    after = settled(record, "available", instance_id=None, ip=address.ip)
    return after, [AddressDisassociated(**event_ids(after), ip=address.ip, instance_id=previous)]


def _image_applied(
    record: ResourceRecord, value: CloudValue, now: datetime
) -> tuple[ResourceRecord, list[EventPayload]]:
    image: Image = _expect(value, Image, record)
    record = replace(settled(record, ImageState.PENDING.value), provider_id=image.id)
    created = ImageCreated(**event_ids(record), name=record.name, instance_id=str(record.attrs.get("instance_id")))
    after, more = _image_observed(record, image, now)
    return after, [created, *more]


# --- following the cloud ---------------------------------------------------------------------------------------


def observe(record: ResourceRecord, value: CloudValue, *, now: datetime) -> tuple[ResourceRecord, list[EventPayload]]:
    """Bring a record in transition in line with what its cloud reports (None: the cloud no longer lists it)."""
    rules = record.rules
    if value is None:
        if record.state == rules.actions[rules.remove][1]:
            after = settled(record, rules.gone)
            return after, [gone_event(after)]
        if now - record.updated_at < MISSING_GRACE:
            return record, []
        return failed(record, "observe", f"The {label(record.kind)} no longer exists in its cloud.")
    match record.kind:
        case "volume":
            return _volume_observed(record, _expect(value, CloudVolume, record), now)
        case "snapshot":
            return _snapshot_observed(record, _expect(value, Snapshot, record), now)
        case "image":
            return _image_observed(record, _expect(value, Image, record), now)
        case "address":
            return _address_observed(record, _expect(value, Address, record), now)
        case _:
            return record, []


def _volume_observed(
    record: ResourceRecord, volume: CloudVolume, now: datetime
) -> tuple[ResourceRecord, list[EventPayload]]:
    before, state = record.state, volume.state.value
    if state == before:
        return record, []
    if volume.state == VS.ERROR:
        return failed(record, str(record.attrs.get("last_action", "create")), "The cloud reports the volume in error.")
    if volume.state == VS.DELETED:
        after = settled(record, VS.DELETED.value)
        return after, [gone_event(after)]
    if volume.state == VS.AVAILABLE:
        if before == VS.CREATING.value:
            after = settled(record, state)
            return after, [VolumeAvailable(**event_ids(after))]
        if before in (VS.DETACHING.value, VS.IN_USE.value):
            previous = record.attrs.get("instance_id")
            after = settled(record, state, instance_id=None, device=None)
            return after, [VolumeDetached(**event_ids(after), instance_id=previous)]
        if before == VS.ATTACHING.value:
            return record, []  # the attachment has not begun yet
    if volume.state == VS.IN_USE and before in (VS.ATTACHING.value, VS.AVAILABLE.value):
        target = str(record.attrs.get("instance_id"))
        after = settled(record, state, device=volume.device or record.attrs.get("device"))
        return after, [VolumeAttached(**event_ids(after), instance_id=target, device=after.attrs.get("device"))]
    if volume.state == VS.IN_USE and before == VS.DETACHING.value:
        if now - record.updated_at < MISSING_GRACE:
            return record, []  # the detachment has not begun yet
        return settled(record, state), []  # it stays attached (nothing detached it)
    return record, []


def _snapshot_observed(
    record: ResourceRecord, snapshot: Snapshot, now: datetime
) -> tuple[ResourceRecord, list[EventPayload]]:
    if snapshot.state.value == record.state:
        return record, []
    if snapshot.state == SnapshotState.ERROR:
        return failed(record, "create", "The cloud reports the snapshot in error.")
    if snapshot.state == SnapshotState.AVAILABLE and record.state == SnapshotState.PENDING.value:
        after = settled(record, SnapshotState.AVAILABLE.value)
        return after, [SnapshotAvailable(**event_ids(after))]
    return record, []


def _image_observed(record: ResourceRecord, image: Image, now: datetime) -> tuple[ResourceRecord, list[EventPayload]]:
    if image.state.value == record.state:
        return record, []
    if image.state == ImageState.FAILED:
        return failed(record, "create", "The cloud could not make the image.")
    if image.state == ImageState.DEREGISTERED:
        after = settled(record, ImageState.DEREGISTERED.value)
        return after, [gone_event(after)]
    if image.state == ImageState.AVAILABLE and record.state == ImageState.PENDING.value:
        after = settled(record, ImageState.AVAILABLE.value)
        return after, [ImageAvailable(**event_ids(after))]
    return record, []


def _address_observed(
    record: ResourceRecord, address: Address, now: datetime
) -> tuple[ResourceRecord, list[EventPayload]]:
    if address.instance_id is None and record.state in ("disassociating", "associated"):
        previous = record.attrs.get("instance_id")
        after = settled(record, "available", instance_id=None)
        return after, [AddressDisassociated(**event_ids(after), ip=address.ip, instance_id=previous)]
    if address.instance_id is not None and record.state == "associating":
        target = str(record.attrs.get("instance_id"))
        after = settled(record, "associated")
        return after, [AddressAssociated(**event_ids(after), ip=address.ip, instance_id=target)]
    if (
        address.instance_id is not None
        and record.state == "disassociating"
        and now - record.updated_at >= MISSING_GRACE
    ):
        return settled(record, "associated"), []  # it stays associated (nothing disassociated it)
    return record, []


def follow_targets(records: Sequence[ResourceRecord]) -> list[ResourceRecord]:
    """The records among these the worker checks with their cloud."""
    return [r for r in records if r.pending_action is None and r.exists_in_cloud and r.state in r.rules.followed]


__all__ = ["applied", "follow_targets", "observe"]
