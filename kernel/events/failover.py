"""v1 events of the failover service: health policies, each instance's health as it changes, every remediation it
decided (with its inputs and reason), its circuit breaker, and instance refreshes."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from kernel.events.envelope import EventPayload

HealthName = Literal["healthy", "unhealthy", "unknown"]
RemediationAction = Literal["replace", "reboot", "promote_standby", "quarantine"]


class _PolicyEvent(EventPayload):
    policy_id: str

    SUBJECT = "policy_id"


class HealthPolicyCreated(_PolicyEvent):
    TYPE = "health.policy_created"
    name: str
    target: dict[str, Any]
    action: RemediationAction


class HealthPolicyChanged(_PolicyEvent):
    TYPE = "health.policy_changed"
    name: str
    target: dict[str, Any]
    action: RemediationAction


class HealthPolicyDeleted(_PolicyEvent):
    TYPE = "health.policy_deleted"


class HealthChanged(EventPayload):
    """An instance watched by a policy changed health; `reasons` say which signals found it unhealthy."""

    TYPE = "health.changed"
    policy_id: str
    instance_id: str
    health: HealthName
    previous: HealthName
    reasons: list[str] = Field(default_factory=list)

    SUBJECT = "instance_id"


class FailoverRemediated(EventPayload):
    """The service commanded the provisioner to remediate an unhealthy instance: which command (its id in the
    audit), the replacement's id when it launches one, and the inputs it decided on."""

    TYPE = "failover.remediated"
    policy_id: str
    instance_id: str
    action: RemediationAction
    commands: list[str]
    new_instance_id: str | None = None
    address_id: str | None = None
    reason: str
    # What the decision read: the target's members, how many were unhealthy within the window, the zone's.
    inputs: dict[str, Any] = Field(default_factory=dict)

    SUBJECT = "instance_id"


class FailoverHeld(EventPayload):
    """An unhealthy instance was left as it is: the breaker is open, or no healthy standby could be promoted."""

    TYPE = "failover.held"
    policy_id: str
    instance_id: str
    reason: str

    SUBJECT = "instance_id"


class BreakerTripped(_PolicyEvent):
    """Too much of the target (or of one zone) became unhealthy within the window: remediation stops until the
    target is healthy again or an operator resets the breaker."""

    TYPE = "failover.breaker_tripped"
    scope: Literal["target", "zone"]
    zone: str | None = None
    unhealthy: int
    members: int
    percent: float
    max_percent: int
    window_seconds: int


class BreakerClosed(_PolicyEvent):
    TYPE = "failover.breaker_closed"
    by: Literal["healthy", "reset"]


class _RefreshEvent(EventPayload):
    refresh_id: str
    policy_id: str
    # Set when the policy targets a scaling group: the scaler moves the group to the version it ends on.
    scaling_group_id: str | None = None
    template_id: str | None = None
    template_version: int

    SUBJECT = "refresh_id"


class InstanceRefreshStarted(_RefreshEvent):
    TYPE = "instance_refresh.started"
    members: int
    min_healthy_percent: int


class InstanceRefreshCheckpointReached(_RefreshEvent):
    TYPE = "instance_refresh.checkpoint_reached"
    replaced: int
    members: int


class InstanceRefreshCompleted(_RefreshEvent):
    TYPE = "instance_refresh.completed"
    replaced: int


class InstanceRefreshRolledBack(_RefreshEvent):
    """New servers failed their health checks: the replaced members go back to `template_version` (the old one)."""

    TYPE = "instance_refresh.rolled_back"
    reason: str
