"""v1 events of the scaler: its groups and policies as they change, and every decision it takes with the inputs it
took it on and a reason a user reads ("scaled out 3 -> 5: cpu_utilization 82 % > target 60 % for 2 samples")."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from kernel.events.envelope import EventPayload


class _GroupEvent(EventPayload):
    group_id: str

    SUBJECT = "group_id"


class ScalingGroupCreated(_GroupEvent):
    TYPE = "scaling_group.created"
    name: str
    template_id: str
    template_version: int
    min_size: int
    max_size: int
    desired: int


class ScalingGroupUpdated(_GroupEvent):
    """The group's settings changed; `changes` names each field changed, with its new value."""

    TYPE = "scaling_group.updated"
    changes: dict[str, Any]


class ScalingGroupDeleted(_GroupEvent):
    TYPE = "scaling_group.deleted"


class ScalingPolicyCreated(_GroupEvent):
    TYPE = "scaling_policy.created"
    policy_id: str
    name: str
    kind: Literal["target_tracking", "step", "scheduled"]


class ScalingPolicyDeleted(_GroupEvent):
    TYPE = "scaling_policy.deleted"
    policy_id: str


class ScalingDecided(_GroupEvent):
    """The group's desired capacity changed: from what, to what, why, and the inputs of the decision."""

    TYPE = "scaling.decided"
    previous: int
    desired: int
    reason: str
    # What the decision was taken on: the metric, its value and target, the policies that voted, the sample count.
    inputs: dict[str, Any] = Field(default_factory=dict)


class ScalingLaunched(_GroupEvent):
    """The scaler sent `provisioner.launch_instance` for a new member, with the id it chose."""

    TYPE = "scaling.launched"
    instance_id: str
    reason: str


class ScalingTerminated(_GroupEvent):
    """The scaler sent `provisioner.terminate_instance` for a member (a scale-in, or a member in error)."""

    TYPE = "scaling.terminated"
    instance_id: str
    reason: str


class ScalingLaunchFailed(_GroupEvent):
    """A launch the scaler asked for failed (the instance ended in error, or the provisioner refused it)."""

    TYPE = "scaling.launch_failed"
    instance_id: str
    reason: str
    failures: int


class ScalingBackedOff(_GroupEvent):
    """After `failures` failed launches in a row, the group launches nothing before `until`."""

    TYPE = "scaling.backed_off"
    failures: int
    until: datetime


class ScalingHookWaiting(_GroupEvent):
    """A member waits in a lifecycle hook until it is completed, or until `deadline`, then follows `default_result`."""

    TYPE = "scaling.hook_waiting"
    instance_id: str
    hook: str
    transition: Literal["launching", "terminating"]
    deadline: datetime
    default_result: Literal["CONTINUE", "ABANDON"]


class ScalingHookCompleted(_GroupEvent):
    """A lifecycle hook ended for a member: answered through the API, or timed out (its default result)."""

    TYPE = "scaling.hook_completed"
    instance_id: str
    hook: str
    result: Literal["CONTINUE", "ABANDON"]
    timed_out: bool


class ScalingVersionMoved(_GroupEvent):
    """The group launches from another template version (an instance refresh finished or rolled back)."""

    TYPE = "scaling.version_moved"
    template_id: str
    previous_version: int
    template_version: int


__all__ = [
    "ScalingBackedOff",
    "ScalingDecided",
    "ScalingGroupCreated",
    "ScalingGroupDeleted",
    "ScalingGroupUpdated",
    "ScalingHookCompleted",
    "ScalingHookWaiting",
    "ScalingLaunchFailed",
    "ScalingLaunched",
    "ScalingPolicyCreated",
    "ScalingPolicyDeleted",
    "ScalingTerminated",
    "ScalingVersionMoved",
]
