"""v1 inventory events, published by the provisioner when it reconciles a cloud account with what the cloud has.

Each change a sync makes to a record is one event; `sync_id` names the run that made it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from kernel.events.envelope import EventPayload, FieldGroup
from kernel.events.instances import _InstanceEvent
from kernel.events.volumes import _VolumeEvent

SyncTrigger = Literal["scheduled", "manual"]


# What a sync reports of every kind of resource it reconciles; named first among an event's bases, so that the
# payload has the resource's ids first.


class _Synced(FieldGroup):
    """The sync `sync_id` saw the resource in its cloud, so its id there (`provider_id`) is known."""

    provider_id: str
    sync_id: str


class _Drift(FieldGroup):
    """The cloud reported another state than the record had, with no action of Clanavi's under way."""

    from_state: str
    to_state: str


class _Vanishing(FieldGroup):
    """The resource is no longer in its cloud (deleted or terminated outside Clanavi); the record is `gone`."""

    previous_state: str


class _InventoryInstanceEvent(_Synced, _InstanceEvent):
    """An instance's record, as a sync changed it."""


class InstanceDiscovered(_InventoryInstanceEvent):
    """An instance created outside Clanavi was found in its cloud and adopted (its record is `discovered`)."""

    TYPE = "instance.discovered"
    name: str
    image_id: str
    flavor_id: str
    state: str
    zone: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)


class InstanceDrifted(_Drift, _InventoryInstanceEvent):
    TYPE = "instance.drifted"


class InstanceVanished(_Vanishing, _InventoryInstanceEvent):
    TYPE = "instance.vanished"


class _InventoryVolumeEvent(_Synced, _VolumeEvent):
    """A volume's record, as a sync changed it."""


class VolumeDiscovered(_InventoryVolumeEvent):
    """A volume created outside Clanavi was found in its cloud and adopted (its record is `discovered`)."""

    TYPE = "volume.discovered"
    name: str
    size_gb: int
    state: str
    zone: str | None = None
    # Clanavi id of the instance it is attached to, when Clanavi knows that instance.
    instance_id: str | None = None


class VolumeDrifted(_Drift, _InventoryVolumeEvent):
    TYPE = "volume.drifted"


class VolumeVanished(_Vanishing, _InventoryVolumeEvent):
    TYPE = "volume.vanished"


class _SyncEvent(EventPayload):
    cloud_id: str
    sync_id: str
    trigger: SyncTrigger

    SUBJECT = "cloud_id"


class CloudSynced(_SyncEvent):
    """A sync of the account finished; the counts are of the instance records (and, `volumes_*`, the volume records)
    it adopted, corrected, marked gone, or found as they were."""

    TYPE = "cloud.synced"
    adopted: int
    drifted: int
    vanished: int
    unchanged: int
    # Volumes, counted apart so the instance counts above keep their meaning; 0 when the cloud has no volumes.
    volumes_adopted: int = 0
    volumes_drifted: int = 0
    volumes_vanished: int = 0
    volumes_unchanged: int = 0


class CloudSyncFailed(_SyncEvent):
    """A sync of the account stopped with an error; the changes of the chunks already written stay."""

    TYPE = "cloud.sync_failed"
    error: str
