"""Records of the resources other than instances (key pairs, security groups, volumes, snapshots, addresses, images)
and the rules of their lifecycles; no I/O.

Every resource follows one pattern. A request is checked against the record's state and recorded as a pending
action with the state it shows meanwhile (`creating`, `attaching`, ...). The cloud call is then made, and its answer
applied: the record takes what the cloud reports and yields its events. Transitions the cloud completes later
(a volume being created, a snapshot being taken) are followed by the worker. Each change that matters yields
exactly one event; a request the cloud refuses at once yields none (the caller gets the error instead), a failure
found later yields `<kind>.failed`.

Ids: every resource has a Clanavi id (a UUID) used in every path and body; `provider_id` is its id in the cloud.

How each kind's record takes a cloud's answer is in `transitions`; the rules of security groups in `security_rules`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, TypeAlias

from adapters.base import Address, Image, ImageState, KeyPair, SecurityGroup, Snapshot, SnapshotState
from adapters.base import Volume as CloudVolume
from adapters.base import VolumeState as VS
from kernel.errors import InvalidState
from kernel.events import (
    AddressFailed,
    AddressReleased,
    EventPayload,
    ImageDeregistered,
    ImageFailed,
    KeyPairDeleted,
    KeyPairFailed,
    SecurityGroupDeleted,
    SecurityGroupFailed,
    SnapshotDeleted,
    SnapshotFailed,
    VolumeDeleted,
    VolumeFailed,
)
from services.provisioner.instances.domain import LaunchNames

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
    state: str
    # What the kind adds: size_gb, zone, instance_id, device, fingerprint, description, rules, ip, cloud_name...
    attrs: Mapping[str, Any]
    correlation_id: str
    created_at: datetime
    updated_at: datetime
    # The resource's id in its cloud, once it is there.
    provider_id: str | None = None
    # The action waiting for (or in) its cloud call, and its parameters (`previous_state` among them).
    pending_action: str | None = None
    pending: Mapping[str, Any] = field(default_factory=dict)
    attempts: int = 0
    throttled: int = 0
    reason: str | None = None
    last_event_id: str | None = None
    pending_since: datetime | None = None
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
    project_id: str,
    cloud_id: str,
    name: str,
    correlation_id: str,
    attrs: Mapping[str, Any] | None = None,
    pending: Mapping[str, Any] | None = None,
    action: str | None = None,
    id: str | None = None,  # noqa: A002 - the record's field name
    now: datetime | None = None,
) -> ResourceRecord:
    """A resource accepted for creation: shown as being created, its create action pending. A new id and the time
    of now unless given."""
    rules = RULES[kind]
    record_id = id or str(uuid.uuid4())
    now = now or datetime.now(UTC)
    return ResourceRecord(
        id=record_id,
        kind=kind,
        project_id=project_id,
        cloud_id=cloud_id,
        name=name,
        state=rules.creating,
        attrs={"cloud_name": cloud_name(kind, record_id, name), **(attrs or {})},
        correlation_id=correlation_id,
        created_at=now,
        updated_at=now,
        pending_action=action or rules.create,
        pending=dict(pending or {}),
        pending_since=now,
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
    after = settled(record, record.rules.gone)
    return after, [gone_event(after)]


def needs_cloud(record: ResourceRecord) -> bool:
    return record.exists_in_cloud or record.pending_action == record.rules.create


def settled(record: ResourceRecord, state: str, **attrs: Any) -> ResourceRecord:
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


def launch_names(key: ResourceRecord | None, groups: Sequence[ResourceRecord], cloud_id: str) -> LaunchNames:
    """What a launch in `cloud_id` may name of a key pair and security groups the project has."""
    return LaunchNames(
        key_usable=key is not None and key.state == "available",
        group_provider_ids={
            g.id: g.provider_id
            for g in groups
            if g.cloud_id == cloud_id and g.provider_id is not None and g.state == "available"
        },
    )


# --- events ---------------------------------------------------------------------------------------------------


def event_ids(record: ResourceRecord) -> dict[str, Any]:
    if record.kind == "key_pair":
        return {"key_pair_id": record.id, "cloud_id": record.cloud_id, "name": record.name}
    return {f"{record.kind}_id": record.id, "cloud_id": record.cloud_id, "provider_id": record.provider_id}


def gone_event(record: ResourceRecord) -> EventPayload:
    ids = event_ids(record)
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


def failed_event(record: ResourceRecord, action: str, reason: str) -> EventPayload:
    return _FAILED[record.kind](**event_ids(record), action=action, state=record.state, reason=reason)


# --- failures --------------------------------------------------------------------------------------------------


def refused(record: ResourceRecord) -> ResourceRecord | None:
    """A cloud refused the pending action at once, and the caller is told so: the record as it was before the
    request, or None for a creation (the record is removed; nothing was made and nothing announced)."""
    if record.pending_action == record.rules.create and not record.exists_in_cloud:
        return None
    return settled(record, str(record.pending.get("previous_state", record.state)))


def failed(record: ResourceRecord, action: str, reason: str) -> tuple[ResourceRecord, list[EventPayload]]:
    """The cloud could not carry out `action` and nobody is waiting for the answer: a creation ends in `error`,
    another action leaves the resource as it was before; either way `<kind>.failed` says why."""
    if action == record.rules.create or action == "observe" or record.pending_action is None:
        state = ERROR
    else:
        state = str(record.pending.get("previous_state", ERROR))
    after = replace(settled(record, state), reason=reason)
    return after, [failed_event(after, action, reason)]


__all__ = [
    "ERROR",
    "GONE",
    "GONE_STATES",
    "KINDS",
    "MISSING_GRACE",
    "RULES",
    "CloudValue",
    "Kind",
    "ResourceRecord",
    "Rules",
    "cloud_name",
    "event_ids",
    "failed",
    "failed_event",
    "gone_event",
    "label",
    "launch_names",
    "needs_cloud",
    "new_record",
    "refused",
    "request",
    "settled",
    "withdrawn",
]
