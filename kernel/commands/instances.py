"""v1 commands the provisioner carries out on instances, sent by the scaler and the failover service.

`requested_by` says who sent a command and for what (`scaler:<group id>`, `failover:<policy id>`): it is kept on what
the command changes and repeated in the events that follow, so a user can tell a scale-out from their own launch.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from kernel.events.envelope import EventPayload

# The tag every member of a scaling group carries: its group's id. Lifecycle events carry the instance's tags, so a
# subscriber learns a group's members (and a replacement's, which keeps its predecessor's tags) from them alone.
SCALING_GROUP_TAG = "clanavi:scaling-group"

RequestedBy = Field(min_length=1, max_length=200, pattern=r"^[a-z]+:[A-Za-z0-9_.:-]+$")


class CommandPayload(EventPayload):
    """Base of every command's payload; subclasses name their `TYPE` (`<service>.<imperative>`) and `VERSION`."""

    requested_by: str = RequestedBy
    # Why, in words a user reads in the audit and on the instance ("scale out 3 -> 5: cpu 82 % > 60 %").
    reason: str = Field(default="", max_length=500)


class _InstanceCommand(CommandPayload):
    instance_id: str = Field(min_length=1, max_length=64)

    SUBJECT = "instance_id"


class LaunchInstance(_InstanceCommand):
    """Launch a server from a template version, with the id the sender chose for it. Placed among `allowed_clouds`
    (and `allowed_zones`) by `strategy` when no `cloud_id` is named. Refused (`command.refused`) for what the API
    would refuse: an unknown or deprecated version, invalid inputs, the project's quotas."""

    TYPE = "provisioner.launch_instance"
    template_id: str
    # None: the template's default version.
    template_version: int | None = None
    # Input values at the server's level; never a secret (secrets are set on the template, sealed there).
    inputs: dict[str, Any] = Field(default_factory=dict)
    cloud_id: str | None = None
    zone: str | None = None
    allowed_clouds: list[str] = Field(default_factory=list)
    allowed_zones: list[str] = Field(default_factory=list)
    strategy: Literal["cheapest", "spread", "pack"] = "spread"
    # The members of a group are placed seeing each other (`spread` evens them over zones) when this names the group.
    placement_group: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    name: str | None = Field(default=None, max_length=200)
    # A member of this cluster's role: launched from the role's template version and placement, named and counted
    # as the role's members are. Refused unless the cluster is running and has the role.
    cluster_id: str | None = None
    cluster_role: str | None = None


class TerminateInstance(_InstanceCommand):
    """Terminate an instance (its decommission scripts first, as a user's terminate does)."""

    TYPE = "provisioner.terminate_instance"


class RebootInstance(_InstanceCommand):
    TYPE = "provisioner.reboot_instance"


class StopInstance(_InstanceCommand):
    TYPE = "provisioner.stop_instance"


class QuarantineInstance(_InstanceCommand):
    """Take an instance out of its scaling group and stop it, keeping it (disks, console, addresses) for forensics:
    its group tag is removed, `clanavi:quarantined` set; then `instance.quarantined`."""

    TYPE = "provisioner.quarantine_instance"


class ReplaceInstance(_InstanceCommand):
    """Launch a copy of an instance (same template, inputs, cloud, zone, tags, cluster membership; a newer
    `template_version` when one is named) with the id the sender chose, then dispose of the old one: terminate it,
    quarantine it, or keep it. The old one is disposed of only once the new one runs."""

    TYPE = "provisioner.replace_instance"
    new_instance_id: str = Field(min_length=1, max_length=64)
    template_version: int | None = None
    dispose: Literal["terminate", "quarantine", "keep"] = "terminate"


class MoveAddress(CommandPayload):
    """Associate an address with another instance (a standby promoted in its predecessor's place)."""

    TYPE = "provisioner.move_address"
    address_id: str
    instance_id: str

    SUBJECT = "address_id"


__all__ = [
    "SCALING_GROUP_TAG",
    "CommandPayload",
    "LaunchInstance",
    "MoveAddress",
    "QuarantineInstance",
    "RebootInstance",
    "ReplaceInstance",
    "StopInstance",
    "TerminateInstance",
]
