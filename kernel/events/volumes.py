"""v1 volume events, published by the provisioner. Instance and snapshot ids are Clanavi ids."""

from __future__ import annotations

from kernel.events.envelope import ActionFailure, EventPayload


class _VolumeEvent(EventPayload):
    volume_id: str
    cloud_id: str
    provider_id: str | None

    SUBJECT = "volume_id"


class VolumeCreated(_VolumeEvent):
    """The cloud accepted the volume; it becomes `available` when the cloud has made it."""

    TYPE = "volume.created"
    name: str
    size_gb: int
    zone: str | None
    snapshot_id: str | None


class VolumeAvailable(_VolumeEvent):
    TYPE = "volume.available"


class VolumeAttached(_VolumeEvent):
    TYPE = "volume.attached"
    instance_id: str
    device: str | None


class VolumeDetached(_VolumeEvent):
    TYPE = "volume.detached"
    instance_id: str | None


class VolumeDeleted(_VolumeEvent):
    TYPE = "volume.deleted"


class VolumeFailed(_VolumeEvent, ActionFailure):
    """The cloud could not carry out `action` (or reports the volume in error); the volume is left in `state`."""

    TYPE = "volume.failed"
