"""v1 snapshot events, published by the provisioner. `volume_id` is the Clanavi id of the source volume."""

from __future__ import annotations

from kernel.events.envelope import ActionFailure, EventPayload


class _SnapshotEvent(EventPayload):
    snapshot_id: str
    cloud_id: str
    provider_id: str | None

    SUBJECT = "snapshot_id"


class SnapshotCreated(_SnapshotEvent):
    """The cloud started taking the snapshot; it becomes `available` when complete."""

    TYPE = "snapshot.created"
    name: str
    volume_id: str
    size_gb: int


class SnapshotAvailable(_SnapshotEvent):
    TYPE = "snapshot.available"


class SnapshotDeleted(_SnapshotEvent):
    TYPE = "snapshot.deleted"


class SnapshotFailed(_SnapshotEvent, ActionFailure):
    TYPE = "snapshot.failed"
