"""What each lifecycle event tells billing: what it learns of a resource and the fact it adds, if any; no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kernel.events import (
    AddressAllocated,
    AddressReleased,
    EventPayload,
    InstanceFailed,
    InstanceLaunched,
    InstanceRequested,
    InstanceRunning,
    InstanceStopped,
    InstanceSuspended,
    InstanceTerminated,
    SnapshotCreated,
    SnapshotDeleted,
    VolumeCreated,
    VolumeDeleted,
)
from services.billing.usage.domain import Change, Fact, Kind

# A scaler's launch says `scaler:<group id>` in `requested_by`.
_SCALER = "scaler:"


@dataclass(frozen=True, slots=True)
class Learned:
    kind: Kind
    resource_id: str
    cloud_id: str
    # Attributes of the resource the event tells (merged into what is known).
    attributes: dict[str, Any]
    fact: Fact | None


def learned(payload: EventPayload, at: datetime) -> Learned | None:
    """What `payload`, which happened at `at`, tells billing; None for an event that does not concern it."""
    match payload:
        case InstanceRequested():
            by = payload.requested_by or ""
            group = by[len(_SCALER) :] if by.startswith(_SCALER) else None
            attributes: dict[str, Any] = {
                "name": payload.name,
                "flavor_id": payload.flavor_id,
                "image_id": payload.image_id,
                "region": payload.zone,
                "tags": dict(payload.tags),
                "cluster_id": payload.cluster_id,
                "template_id": payload.template_id,
                "scaling_group_id": group,
            }
            return Learned(Kind.INSTANCE, payload.instance_id, payload.cloud_id, attributes, None)
        case InstanceLaunched():
            attributes = {"flavor_id": payload.flavor_id, "image_id": payload.image_id}
            return Learned(Kind.INSTANCE, payload.instance_id, payload.cloud_id, attributes, None)
        case InstanceRunning():
            fact = Fact(at, Change.ON, payload.flavor_id)
            return Learned(Kind.INSTANCE, payload.instance_id, payload.cloud_id, {}, fact)
        case InstanceStopped() | InstanceSuspended():
            return Learned(Kind.INSTANCE, payload.instance_id, payload.cloud_id, {}, Fact(at, Change.OFF))
        case InstanceTerminated() | InstanceFailed():
            return Learned(Kind.INSTANCE, payload.instance_id, payload.cloud_id, {}, Fact(at, Change.END))
        case VolumeCreated():
            attributes = {"name": payload.name, "size_gb": payload.size_gb, "region": payload.zone}
            return Learned(Kind.VOLUME, payload.volume_id, payload.cloud_id, attributes, Fact(at, Change.ON))
        case VolumeDeleted():
            return Learned(Kind.VOLUME, payload.volume_id, payload.cloud_id, {}, Fact(at, Change.END))
        case SnapshotCreated():
            attributes = {"name": payload.name, "size_gb": payload.size_gb}
            return Learned(Kind.SNAPSHOT, payload.snapshot_id, payload.cloud_id, attributes, Fact(at, Change.ON))
        case SnapshotDeleted():
            return Learned(Kind.SNAPSHOT, payload.snapshot_id, payload.cloud_id, {}, Fact(at, Change.END))
        case AddressAllocated():
            attributes = {"name": payload.ip}
            return Learned(Kind.ADDRESS, payload.address_id, payload.cloud_id, attributes, Fact(at, Change.ON))
        case AddressReleased():
            return Learned(Kind.ADDRESS, payload.address_id, payload.cloud_id, {}, Fact(at, Change.END))
    return None


__all__ = ["Learned", "learned"]
