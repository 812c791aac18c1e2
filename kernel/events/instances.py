"""v1 instance lifecycle events, published by the provisioner."""

from __future__ import annotations

from typing import Literal

from kernel.events.envelope import EventPayload


class _InstanceEvent(EventPayload):
    instance_id: str
    cloud_id: str

    @property
    def subject(self) -> str | None:
        return self.instance_id


class InstanceRequested(_InstanceEvent):
    """A user asked for a new instance; nothing exists in the cloud yet."""

    TYPE = "instance.requested"
    name: str
    image_id: str
    flavor_id: str


class InstanceActionRequested(_InstanceEvent):
    """A user asked to start, stop, reboot or terminate an instance."""

    TYPE = "instance.action_requested"
    action: Literal["start", "stop", "reboot", "terminate"]


class InstanceLaunched(_InstanceEvent):
    """The cloud accepted the launch and gave the instance its id there."""

    TYPE = "instance.launched"
    provider_id: str
    flavor_id: str
    image_id: str


class InstanceRunning(_InstanceEvent):
    """The instance reached `running` (after a launch or a start)."""

    TYPE = "instance.running"
    provider_id: str
    flavor_id: str
    previous_state: str


class InstanceRebooted(_InstanceEvent):
    TYPE = "instance.rebooted"
    provider_id: str


class InstanceStopped(_InstanceEvent):
    TYPE = "instance.stopped"
    provider_id: str


class InstanceTerminated(_InstanceEvent):
    TYPE = "instance.terminated"
    provider_id: str | None


class InstanceFailed(_InstanceEvent):
    """The instance ended in `error`; `reason` says why in words a user can act on."""

    TYPE = "instance.failed"
    provider_id: str | None
    reason: str


class InstanceActionFailed(_InstanceEvent):
    """The cloud refused or could not carry out a start, stop, reboot or terminate; the instance keeps `state`."""

    TYPE = "instance.action_failed"
    action: Literal["start", "stop", "reboot", "terminate"]
    state: str
    reason: str
