"""v1 events of a project's guard-rails, published by the provisioner: a change of its guard-rails, the approvals of
launches that cost more than the project allows without one, and the expiry of instances launched with a lifetime."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from kernel.events.envelope import EventPayload


class GuardrailsChanged(EventPayload):
    """The project's guard-rails changed: who changed them, and each field that changed, from and to."""

    TYPE = "guardrails.changed"
    version: int
    changed_by: str
    # field -> {"from": ..., "to": ...} (amounts as decimal strings)
    changes: dict[str, dict[str, Any]]


class _ApprovalEvent(EventPayload):
    approval_id: str
    instance_id: str

    SUBJECT = "approval_id"


class ApprovalRequested(_ApprovalEvent):
    """A launch costs more a month than the project's approval threshold: it waits for an owner's decision."""

    TYPE = "approval.requested"
    requested_by: str
    monthly: Decimal
    currency: str
    threshold: Decimal


class ApprovalApproved(_ApprovalEvent):
    """An owner approved the launch: it goes on."""

    TYPE = "approval.approved"
    decided_by: str


class ApprovalRejected(_ApprovalEvent):
    """The launch was rejected (by an owner, or because nobody decided in time: `decided_by` null); it ends."""

    TYPE = "approval.rejected"
    decided_by: str | None
    reason: str
    expired: bool = False


class _ExpiryEvent(EventPayload):
    instance_id: str
    cloud_id: str
    expires_at: datetime
    # What happens at the end: stop or terminate.
    action: str

    SUBJECT = "instance_id"


class InstanceExpiryWarned(_ExpiryEvent):
    """The instance's lifetime ends soon (one of the project's expiry warnings)."""

    TYPE = "instance.expiry_warned"
    # The warning this is (hours before the end), and the seconds actually left.
    warning_hours: float
    seconds_left: float


class InstanceExpired(_ExpiryEvent):
    """The instance's lifetime ended: it is being stopped or terminated."""

    TYPE = "instance.expired"


class InstanceLifetimeExtended(_ExpiryEvent):
    """An owner moved the end of the instance's lifetime."""

    TYPE = "instance.lifetime_extended"
    previous_expires_at: datetime
    extended_by: str
