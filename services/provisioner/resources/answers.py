"""Records as the API shows them: one answer shape per kind of resource."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import Response

from services.provisioner.resources import handlers
from services.provisioner.resources.domain import ResourceRecord
from services.provisioner.resources.schemas import (
    AddressOut,
    CustomImageOut,
    KeyPairOut,
    ResourceOut,
    SecurityGroupOut,
    SecurityRuleOut,
    SnapshotOut,
    VolumeOut,
)

Shape = Callable[[ResourceRecord], ResourceOut]


def _common(record: ResourceRecord) -> dict[str, Any]:
    names = ("id", "project_id", "cloud_id", "name", "provider_id", "state", "pending_action", "reason")
    return {**{n: getattr(record, n) for n in names}, "created_at": record.created_at, "updated_at": record.updated_at}


def key_pair_out(record: ResourceRecord) -> KeyPairOut:
    return KeyPairOut(**_common(record), fingerprint=record.attrs.get("fingerprint"))


def security_group_out(record: ResourceRecord) -> SecurityGroupOut:
    rules = [SecurityRuleOut(**r) for r in record.attrs.get("rules", [])]
    return SecurityGroupOut(**_common(record), description=record.attrs.get("description", ""), rules=rules)


def volume_out(record: ResourceRecord) -> VolumeOut:
    a = record.attrs
    return VolumeOut(
        **_common(record),
        size_gb=a.get("size_gb") or 0,
        zone=a.get("zone"),
        instance_id=a.get("instance_id") if record.state in ("attaching", "in-use", "detaching") else None,
        device=a.get("device") if record.state == "in-use" else None,
        snapshot_id=a.get("snapshot_id"),
        discovered=record.discovered,
    )


def snapshot_out(record: ResourceRecord) -> SnapshotOut:
    return SnapshotOut(**_common(record), volume_id=record.attrs["volume_id"], size_gb=record.attrs.get("size_gb"))


def address_out(record: ResourceRecord) -> AddressOut:
    associated = record.state in ("associating", "associated", "disassociating")
    instance_id = record.attrs.get("instance_id") if associated else None
    return AddressOut(**_common(record), ip=record.attrs.get("ip"), instance_id=instance_id)


def image_out(record: ResourceRecord) -> CustomImageOut:
    return CustomImageOut(**_common(record), instance_id=record.attrs["instance_id"])


def answer(response: Response, outcome: handlers.Outcome, shape: Shape, *, created: bool) -> ResourceOut:
    response.status_code = (201 if created else 200) if outcome.done else 202
    return shape(outcome.record)


__all__ = [
    "Shape",
    "address_out",
    "answer",
    "image_out",
    "key_pair_out",
    "security_group_out",
    "snapshot_out",
    "volume_out",
]
