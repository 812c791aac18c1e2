"""Records of the resources other than instances (key pairs, security groups, volumes, snapshots, addresses, images)
and the rules of their lifecycles; no I/O.

Every resource follows one pattern. A request is checked against the record's state and recorded as a pending
action with the state it shows meanwhile (`creating`, `attaching`, ...). The cloud call is then made, and its answer
applied: the record takes what the cloud reports and yields its events. Transitions the cloud completes later
(a volume being created, a snapshot being taken) are followed by the worker. Each change that matters yields
exactly one event; a request the cloud refuses at once yields none (the caller gets the error instead), a failure
found later yields `<kind>.failed`.

Ids: every resource has a Clanavi id (a UUID) used in every path and body; `provider_id` is its id in the cloud.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Literal, TypeAlias

from adapters.base import Address, Image, ImageState, KeyPair, SecurityGroup, SecurityRule, Snapshot, SnapshotState
from adapters.base import Volume as CloudVolume
from adapters.base import VolumeState as VS
from kernel.errors import InvalidState, ValidationFailed
from kernel.events import (
    AddressAllocated,
    AddressAssociated,
    AddressDisassociated,
    AddressFailed,
    AddressReleased,
    EventPayload,
    ImageAvailable,
    ImageCreated,
    ImageDeregistered,
    ImageFailed,
    KeyPairCreated,
    KeyPairDeleted,
    KeyPairFailed,
    SecurityGroupCreated,
    SecurityGroupDeleted,
    SecurityGroupFailed,
    SecurityGroupRuleAuthorized,
    SecurityGroupRuleRevoked,
    SecurityRuleFact,
    SnapshotAvailable,
    SnapshotCreated,
    SnapshotDeleted,
    SnapshotFailed,
    VolumeAttached,
    VolumeAvailable,
    VolumeCreated,
    VolumeDeleted,
    VolumeDetached,
    VolumeFailed,
)

Kind = Literal["key_pair", "security_group", "volume", "snapshot", "address", "image"]
KINDS: tuple[Kind, ...] = ("key_pair", "security_group", "volume", "snapshot", "address", "image")

# What a cloud call answers: the resource as the cloud now has it, or None when the call returns nothing (a
# deletion) or the resource is gone.
CloudValue: TypeAlias = KeyPair | SecurityGroup | CloudVolume | Snapshot | Address | Image | None

ERROR = "error"
# A resource an inventory sync no longer found in its cloud, though nobody asked Clanavi to remove it: final, like
# its kind's own `gone` state, and every action on it is refused.
GONE = "gone"
# A resource that vanished from its cloud in a transitional state is given this long before it counts as lost:
# some clouds (EC2) list a new resource only a moment after creating it.
MISSING_GRACE = timedelta(seconds=30)


@dataclass(frozen=True, slots=True)
class Rules:
    """One kind's lifecycle. `actions`: action -> (states it may be asked from, state shown while it happens)."""

    create: str
    creating: str
    actions: Mapping[str, tuple[frozenset[str], str]]
    remove: str
    gone: str
    # States in which the worker checks the resource with its cloud (no action pending).
    followed: frozenset[str]


RULES: dict[Kind, Rules] = {
    "key_pair": Rules(
        create="create",
        creating="creating",
        actions={"delete": (frozenset({"available", ERROR}), "deleting")},
        remove="delete",
        gone="deleted",
        followed=frozenset(),
    ),
    "security_group": Rules(
        create="create",
        creating="creating",
        actions={
            "authorize": (frozenset({"available"}), "updating"),
            "revoke": (frozenset({"available"}), "updating"),
            "delete": (frozenset({"available", ERROR}), "deleting"),
        },
        remove="delete",
        gone="deleted",
        followed=frozenset(),
    ),
    "volume": Rules(
        create="create",
        creating=VS.CREATING.value,
        actions={
            "attach": (frozenset({VS.AVAILABLE.value}), VS.ATTACHING.value),
            "detach": (frozenset({VS.IN_USE.value}), VS.DETACHING.value),
            "delete": (frozenset({VS.AVAILABLE.value, ERROR}), VS.DELETING.value),
        },
        remove="delete",
        gone=VS.DELETED.value,
        followed=frozenset({VS.CREATING.value, VS.ATTACHING.value, VS.DETACHING.value, VS.DELETING.value}),
    ),
    "snapshot": Rules(
        create="create",
        creating=SnapshotState.PENDING.value,
        actions={"delete": (frozenset({SnapshotState.AVAILABLE.value, ERROR}), SnapshotState.DELETING.value)},
        remove="delete",
        gone="deleted",
        followed=frozenset({SnapshotState.PENDING.value, SnapshotState.DELETING.value}),
    ),
    "address": Rules(
        create="allocate",
        creating="allocating",
        actions={
            "associate": (frozenset({"available"}), "associating"),
            "disassociate": (frozenset({"associated"}), "disassociating"),
            "release": (frozenset({"available", ERROR}), "releasing"),
        },
        remove="release",
        gone="released",
        followed=frozenset({"associating", "disassociating", "releasing"}),
    ),
    "image": Rules(
        create="create",
        creating=ImageState.PENDING.value,
        actions={"deregister": (frozenset({ImageState.AVAILABLE.value, ERROR}), "deregistering")},
        remove="deregister",
        gone=ImageState.DEREGISTERED.value,
        followed=frozenset({ImageState.PENDING.value, "deregistering"}),
    ),
}

GONE_STATES = frozenset(r.gone for r in RULES.values()) | {GONE}


@dataclass(frozen=True, slots=True)
class ResourceRecord:
    id: str
    kind: Kind
    project_id: str
    cloud_id: str
    name: str
    provider_id: str | None
    state: str
    # The action waiting for (or in) its cloud call, and its parameters (`previous_state` among them).
    pending_action: str | None
    pending: Mapping[str, Any]
    attempts: int
    throttled: int
    reason: str | None
    # What the kind adds: size_gb, zone, instance_id, device, fingerprint, description, rules, ip, cloud_name...
    attrs: Mapping[str, Any]
    correlation_id: str
    last_event_id: str | None
    pending_since: datetime | None
    created_at: datetime
    updated_at: datetime
    # Created outside Clanavi and adopted by an inventory sync.
    discovered: bool = False

    @property
    def rules(self) -> Rules:
        return RULES[self.kind]

    @property
    def exists_in_cloud(self) -> bool:
        return self.provider_id is not None


def new_record(
    kind: Kind,
    *,
    id: str,  # noqa: A002 - the record's field name
    project_id: str,
    cloud_id: str,
    name: str,
    attrs: Mapping[str, Any],
    pending: Mapping[str, Any],
    correlation_id: str,
    now: datetime,
    action: str | None = None,
) -> ResourceRecord:
    """A resource accepted for creation: shown as being created, its create action pending."""
    rules = RULES[kind]
    return ResourceRecord(
        id=id,
        kind=kind,
        project_id=project_id,
        cloud_id=cloud_id,
        name=name,
        provider_id=None,
        state=rules.creating,
        pending_action=action or rules.create,
        pending=dict(pending),
        attempts=0,
        throttled=0,
        reason=None,
        attrs={"cloud_name": cloud_name(kind, id, name), **attrs},
        correlation_id=correlation_id,
        last_event_id=None,
        pending_since=now,
        created_at=now,
        updated_at=now,
    )


def cloud_name(kind: Kind, record_id: str, name: str) -> str:
    """The name the resource gets in its cloud. Key pairs and security groups keep the user's name (unique in a
    cloud account, so it finds the resource again); volumes, snapshots and images get the first 8 hex digits of
    their Clanavi id appended, which finds the one a crashed request created without ever adopting another."""
    if kind in ("key_pair", "security_group", "address"):
        return name
    return f"{name}-{record_id.replace('-', '')[:8]}"


def label(kind: Kind) -> str:
    return kind.replace("_", " ")


def request(record: ResourceRecord, action: str, params: Mapping[str, Any], *, correlation_id: str) -> ResourceRecord:
    """The record once `action` is accepted; raises InvalidState when its state forbids it. Asking to remove a
    resource already gone, or being removed, changes nothing."""
    rules = record.rules
    if action not in rules.actions:
        raise ValueError(f"{record.kind} has no action {action}")
    allowed, showing = rules.actions[action]
    if action == rules.remove and (record.state == rules.gone or record.pending_action == rules.remove):
        return record
    if record.pending_action is not None or record.state not in allowed:
        raise InvalidState(
            f"Cannot {action} {label(record.kind)} {record.id} while it is {record.state}"
            + (
                f" ({_article(record.pending_action)} {record.pending_action} is in progress)"
                if record.pending_action
                else ""
            )
            + ".",
            state=record.state,
        )
    return replace(
        record,
        state=showing,
        pending_action=action,
        pending={**params, "previous_state": record.state},
        attempts=0,
        throttled=0,
        reason=None,
        correlation_id=correlation_id,
        attrs={**record.attrs, "last_action": action},
    )


def _article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"


def withdrawn(record: ResourceRecord) -> tuple[ResourceRecord, list[EventPayload]]:
    """Removal of a resource that never came to exist in its cloud (its creation failed): nothing to call."""
    after = _settled(record, record.rules.gone)
    return after, [_gone_event(after)]


def needs_cloud(record: ResourceRecord) -> bool:
    return record.exists_in_cloud or record.pending_action == record.rules.create


def _settled(record: ResourceRecord, state: str, **attrs: Any) -> ResourceRecord:
    return replace(
        record,
        state=state,
        pending_action=None,
        pending={},
        attempts=0,
        throttled=0,
        reason=None,
        pending_since=None,
        attrs={**record.attrs, **attrs},
    )


# --- events ---------------------------------------------------------------------------------------------------


def _ids(record: ResourceRecord) -> dict[str, Any]:
    if record.kind == "key_pair":
        return {"key_pair_id": record.id, "cloud_id": record.cloud_id, "name": record.name}
    return {f"{record.kind}_id": record.id, "cloud_id": record.cloud_id, "provider_id": record.provider_id}


def _gone_event(record: ResourceRecord) -> EventPayload:
    ids = _ids(record)
    match record.kind:
        case "key_pair":
            return KeyPairDeleted(**ids)
        case "security_group":
            return SecurityGroupDeleted(**ids)
        case "volume":
            return VolumeDeleted(**ids)
        case "snapshot":
            return SnapshotDeleted(**ids)
        case "address":
            return AddressReleased(**ids, ip=record.attrs.get("ip"))
        case "image":
            return ImageDeregistered(**ids)


_FAILED: dict[Kind, Callable[..., EventPayload]] = {
    "key_pair": KeyPairFailed,
    "security_group": SecurityGroupFailed,
    "volume": VolumeFailed,
    "snapshot": SnapshotFailed,
    "address": AddressFailed,
    "image": ImageFailed,
}


def _failed_event(record: ResourceRecord, action: str, reason: str) -> EventPayload:
    return _FAILED[record.kind](**_ids(record), action=action, state=record.state, reason=reason)


# --- security rules --------------------------------------------------------------------------------------------


def rule_id(rule: SecurityRule) -> str:
    """A rule's id: derived from its content, so the same rule always has the same id on every cloud."""
    text = f"{rule.direction}|{rule.protocol}|{rule.from_port}|{rule.to_port}|{rule.cidr}"
    return "rule-" + hashlib.sha256(text.encode()).hexdigest()[:12]


def rule_to_dict(rule: SecurityRule) -> dict[str, Any]:
    return {
        "id": rule_id(rule),
        "direction": rule.direction,
        "protocol": rule.protocol,
        "from_port": rule.from_port,
        "to_port": rule.to_port,
        "cidr": rule.cidr,
    }


def rule_from_dict(data: Mapping[str, Any]) -> SecurityRule:
    return SecurityRule(
        direction=data["direction"],
        protocol=data["protocol"],
        from_port=data["from_port"],
        to_port=data["to_port"],
        cidr=data["cidr"],
    )


def _rule_fact(rule: SecurityRule) -> SecurityRuleFact:
    return SecurityRuleFact(
        direction=rule.direction, protocol=rule.protocol, from_port=rule.from_port, to_port=rule.to_port, cidr=rule.cidr
    )


def check_rule(rule: SecurityRule, location: str = "body") -> SecurityRule:
    """A rule normalised (the CIDR in canonical form), or ValidationFailed naming what is wrong."""
    problems = []
    try:
        cidr = str(ipaddress.ip_network(rule.cidr, strict=False))
    except ValueError:
        problems.append({"location": f"{location}.cidr", "message": f"{rule.cidr!r} is not an IP network"})
        cidr = rule.cidr
    from_port, to_port = rule.from_port, rule.to_port
    if rule.protocol in ("tcp", "udp"):
        if from_port is None or to_port is None:
            problems.append({"location": f"{location}.from_port", "message": f"{rule.protocol} rules need ports"})
        elif not (0 <= from_port <= to_port <= 65535):
            problems.append(
                {"location": f"{location}.to_port", "message": "ports must satisfy 0 <= from_port <= to_port <= 65535"}
            )
    elif from_port is not None or to_port is not None:
        problems.append({"location": f"{location}.from_port", "message": f"{rule.protocol} rules take no ports"})
    if problems:
        raise ValidationFailed("The security rule is not valid.", errors=problems)
    return SecurityRule(
        direction=rule.direction, protocol=rule.protocol, from_port=from_port, to_port=to_port, cidr=cidr
    )


def find_rule(record: ResourceRecord, wanted_id: str) -> SecurityRule | None:
    for data in record.attrs.get("rules", []):
        if data["id"] == wanted_id:
            return rule_from_dict(data)
    return None


# --- applying a cloud's answer ---------------------------------------------------------------------------------


def applied(record: ResourceRecord, value: CloudValue, *, now: datetime) -> tuple[ResourceRecord, list[EventPayload]]:
    """The record after its pending action's cloud call answered `value`."""
    action = record.pending_action
    if action is None:
        raise ValueError("no action is pending")
    rules = record.rules
    if action == rules.remove:
        after = _settled(record, rules.gone)
        return after, [_gone_event(after)]
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
    after = replace(_settled(record, "available", fingerprint=key.fingerprint), provider_id=key.name)
    return after, [KeyPairCreated(**_ids(after), fingerprint=key.fingerprint, imported=action == "import")]


def _security_group_applied(
    record: ResourceRecord, action: str, value: CloudValue
) -> tuple[ResourceRecord, list[EventPayload]]:
    group: SecurityGroup = _expect(value, SecurityGroup, record)
    rules = [rule_to_dict(r) for r in group.rules]
    after = replace(_settled(record, "available", rules=rules), provider_id=group.id)
    if action == "create":
        description = str(record.attrs.get("description", ""))
        return after, [SecurityGroupCreated(**_ids(after), name=record.name, description=description)]
    rule = rule_from_dict(record.pending["rule"])
    event_cls = SecurityGroupRuleAuthorized if action == "authorize" else SecurityGroupRuleRevoked
    return after, [event_cls(**_ids(after), rule_id=rule_id(rule), rule=_rule_fact(rule))]


def _volume_applied(
    record: ResourceRecord, action: str, value: CloudValue, now: datetime
) -> tuple[ResourceRecord, list[EventPayload]]:
    volume: CloudVolume = _expect(value, CloudVolume, record)
    events: list[EventPayload] = []
    if action == "create":
        record = replace(
            _settled(record, VS.CREATING.value, size_gb=volume.size_gb, zone=volume.zone or record.attrs.get("zone")),
            provider_id=volume.id,
        )
        events.append(
            VolumeCreated(
                **_ids(record),
                name=record.name,
                size_gb=volume.size_gb,
                zone=record.attrs.get("zone"),
                snapshot_id=record.attrs.get("snapshot_id"),
            )
        )
    elif action == "attach":
        target = record.pending["instance_id"]
        record = _settled(record, VS.ATTACHING.value, instance_id=target, device=volume.device)
    elif action == "detach":
        record = _settled(record, VS.DETACHING.value)
    after, more = _volume_observed(record, volume, now)
    return after, events + more


def _snapshot_applied(
    record: ResourceRecord, value: CloudValue, now: datetime
) -> tuple[ResourceRecord, list[EventPayload]]:
    snapshot: Snapshot = _expect(value, Snapshot, record)
    record = replace(_settled(record, SnapshotState.PENDING.value, size_gb=snapshot.size_gb), provider_id=snapshot.id)
    created = SnapshotCreated(
        **_ids(record), name=record.name, volume_id=str(record.attrs.get("volume_id")), size_gb=snapshot.size_gb
    )
    after, more = _snapshot_observed(record, snapshot, now)
    return after, [created, *more]


def _address_applied(
    record: ResourceRecord, action: str, value: CloudValue
) -> tuple[ResourceRecord, list[EventPayload]]:
    address: Address = _expect(value, Address, record)
    if action == "allocate":
        after = replace(_settled(record, "available", ip=address.ip), provider_id=address.id)
        return after, [AddressAllocated(**_ids(after), ip=address.ip)]
    if action == "associate":
        target = str(record.pending["instance_id"])
        after = _settled(record, "associated", instance_id=target, ip=address.ip)
        return after, [AddressAssociated(**_ids(after), ip=address.ip, instance_id=target)]
    previous = record.attrs.get("instance_id")
    after = _settled(record, "available", instance_id=None, ip=address.ip)
    return after, [AddressDisassociated(**_ids(after), ip=address.ip, instance_id=previous)]


def _image_applied(
    record: ResourceRecord, value: CloudValue, now: datetime
) -> tuple[ResourceRecord, list[EventPayload]]:
    image: Image = _expect(value, Image, record)
    record = replace(_settled(record, ImageState.PENDING.value), provider_id=image.id)
    created = ImageCreated(**_ids(record), name=record.name, instance_id=str(record.attrs.get("instance_id")))
    after, more = _image_observed(record, image, now)
    return after, [created, *more]


# --- following the cloud ---------------------------------------------------------------------------------------


def observe(record: ResourceRecord, value: CloudValue, *, now: datetime) -> tuple[ResourceRecord, list[EventPayload]]:
    """Bring a record in transition in line with what its cloud reports (None: the cloud no longer lists it)."""
    rules = record.rules
    if value is None:
        if record.state == rules.actions[rules.remove][1]:
            after = _settled(record, rules.gone)
            return after, [_gone_event(after)]
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
        after = _settled(record, VS.DELETED.value)
        return after, [_gone_event(after)]
    if volume.state == VS.AVAILABLE:
        if before == VS.CREATING.value:
            after = _settled(record, state)
            return after, [VolumeAvailable(**_ids(after))]
        if before in (VS.DETACHING.value, VS.IN_USE.value):
            previous = record.attrs.get("instance_id")
            after = _settled(record, state, instance_id=None, device=None)
            return after, [VolumeDetached(**_ids(after), instance_id=previous)]
        if before == VS.ATTACHING.value:
            return record, []  # the attachment has not begun yet
    if volume.state == VS.IN_USE and before in (VS.ATTACHING.value, VS.AVAILABLE.value):
        target = str(record.attrs.get("instance_id"))
        after = _settled(record, state, device=volume.device or record.attrs.get("device"))
        return after, [VolumeAttached(**_ids(after), instance_id=target, device=after.attrs.get("device"))]
    if volume.state == VS.IN_USE and before == VS.DETACHING.value:
        if now - record.updated_at < MISSING_GRACE:
            return record, []  # the detachment has not begun yet
        return _settled(record, state), []  # it stays attached (nothing detached it)
    return record, []


def _snapshot_observed(
    record: ResourceRecord, snapshot: Snapshot, now: datetime
) -> tuple[ResourceRecord, list[EventPayload]]:
    if snapshot.state.value == record.state:
        return record, []
    if snapshot.state == SnapshotState.ERROR:
        return failed(record, "create", "The cloud reports the snapshot in error.")
    if snapshot.state == SnapshotState.AVAILABLE and record.state == SnapshotState.PENDING.value:
        after = _settled(record, SnapshotState.AVAILABLE.value)
        return after, [SnapshotAvailable(**_ids(after))]
    return record, []


def _image_observed(record: ResourceRecord, image: Image, now: datetime) -> tuple[ResourceRecord, list[EventPayload]]:
    if image.state.value == record.state:
        return record, []
    if image.state == ImageState.FAILED:
        return failed(record, "create", "The cloud could not make the image.")
    if image.state == ImageState.DEREGISTERED:
        after = _settled(record, ImageState.DEREGISTERED.value)
        return after, [_gone_event(after)]
    if image.state == ImageState.AVAILABLE and record.state == ImageState.PENDING.value:
        after = _settled(record, ImageState.AVAILABLE.value)
        return after, [ImageAvailable(**_ids(after))]
    return record, []


def _address_observed(
    record: ResourceRecord, address: Address, now: datetime
) -> tuple[ResourceRecord, list[EventPayload]]:
    if address.instance_id is None and record.state in ("disassociating", "associated"):
        previous = record.attrs.get("instance_id")
        after = _settled(record, "available", instance_id=None)
        return after, [AddressDisassociated(**_ids(after), ip=address.ip, instance_id=previous)]
    if address.instance_id is not None and record.state == "associating":
        target = str(record.attrs.get("instance_id"))
        after = _settled(record, "associated")
        return after, [AddressAssociated(**_ids(after), ip=address.ip, instance_id=target)]
    if (
        address.instance_id is not None
        and record.state == "disassociating"
        and now - record.updated_at >= MISSING_GRACE
    ):
        return _settled(record, "associated"), []  # it stays associated (nothing disassociated it)
    return record, []


def follow_targets(records: Sequence[ResourceRecord]) -> list[ResourceRecord]:
    """The records among these the worker checks with their cloud."""
    return [r for r in records if r.pending_action is None and r.exists_in_cloud and r.state in r.rules.followed]


# --- failures --------------------------------------------------------------------------------------------------


def refused(record: ResourceRecord) -> ResourceRecord | None:
    """A cloud refused the pending action at once, and the caller is told so: the record as it was before the
    request, or None for a creation (the record is removed; nothing was made and nothing announced)."""
    if record.pending_action == record.rules.create and not record.exists_in_cloud:
        return None
    return _settled(record, str(record.pending.get("previous_state", record.state)))


def failed(record: ResourceRecord, action: str, reason: str) -> tuple[ResourceRecord, list[EventPayload]]:
    """The cloud could not carry out `action` and nobody is waiting for the answer: a creation ends in `error`,
    another action leaves the resource as it was before; either way `<kind>.failed` says why."""
    if action == record.rules.create or action == "observe" or record.pending_action is None:
        state = ERROR
    else:
        state = str(record.pending.get("previous_state", ERROR))
    after = replace(_settled(record, state), reason=reason)
    return after, [_failed_event(after, action, reason)]


def retried(record: ResourceRecord, *, attempts: int, throttled: int, reason: str) -> ResourceRecord:
    return replace(record, attempts=attempts, throttled=throttled, reason=reason)


__all__ = [
    "ERROR",
    "GONE",
    "GONE_STATES",
    "KINDS",
    "RULES",
    "CloudValue",
    "Kind",
    "ResourceRecord",
    "Rules",
    "applied",
    "check_rule",
    "cloud_name",
    "failed",
    "find_rule",
    "follow_targets",
    "needs_cloud",
    "new_record",
    "observe",
    "refused",
    "request",
    "retried",
    "rule_id",
    "withdrawn",
]
