"""v1 instance lifecycle events, published by the provisioner."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from kernel.events.envelope import ActionFailure, EventPayload

UserAction = Literal["start", "stop", "reboot", "suspend", "resume", "terminate"]


class _InstanceEvent(EventPayload):
    instance_id: str
    cloud_id: str

    SUBJECT = "instance_id"


class InstanceRequested(_InstanceEvent):
    """A user asked for a new instance; nothing exists in the cloud yet."""

    TYPE = "instance.requested"
    name: str
    image_id: str
    flavor_id: str
    # Added in place (v1 stays): the launch options. Never the user data, which may hold secrets.
    key_name: str | None = None
    # Clanavi ids of the security groups.
    security_group_ids: list[str] = Field(default_factory=list)
    zone: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    user_data_bytes: int = 0
    # Added in place: the server template (and version) it is launched from. Never the inputs' values.
    template_id: str | None = None
    template_version: int | None = None
    # Added in place: the cluster (and its role) it is launched for.
    cluster_id: str | None = None
    cluster_role: str | None = None
    # Added in place: when its lifetime ends (the project's guard-rails or the launch set one), and whether it waits
    # for an owner's approval before anything is asked of the cloud.
    expires_at: datetime | None = None
    awaiting_approval: bool = False
    # Added in place: the service that asked for it by a command, and what for (`scaler:<group id>`); None: a user.
    requested_by: str | None = None


class InstanceActionRequested(_InstanceEvent):
    """A user asked to start, stop, reboot, suspend, resume or terminate an instance."""

    TYPE = "instance.action_requested"
    action: UserAction


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


class InstanceSuspended(_InstanceEvent):
    TYPE = "instance.suspended"
    provider_id: str


class InstanceTerminated(_InstanceEvent):
    TYPE = "instance.terminated"
    provider_id: str | None


class InstanceFailed(_InstanceEvent):
    """The instance ended in `error`; `reason` says why in words a user can act on."""

    TYPE = "instance.failed"
    provider_id: str | None
    reason: str


class InstanceActionFailed(ActionFailure, _InstanceEvent):
    """The cloud refused or could not carry out a user action; the instance keeps `state`."""

    TYPE = "instance.action_failed"
    action: UserAction


class InstanceBootScriptFailed(_InstanceEvent):
    """One of the boot scripts of an instance launched from a template failed, as its console showed. The exit code
    is None when the console did not say it."""

    TYPE = "instance.boot_script_failed"
    template_id: str
    template_version: int
    script_id: str
    script_version: int
    filename: str
    exit_code: int | None


class InstanceBootCompleted(_InstanceEvent):
    """The boot of an instance launched from a template is over: every boot script succeeded, some failed, or
    Clanavi stopped following it before it could tell (`unknown`: the instance ended, or the boot outlasted the
    follow bound)."""

    TYPE = "instance.boot_completed"
    template_id: str
    template_version: int
    state: Literal["succeeded", "failed", "unknown"]
    # The filenames of the boot scripts that failed.
    failed: list[str] = Field(default_factory=list)
