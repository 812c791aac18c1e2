"""v1 events of the alerts service: an alert that started firing and one that resolved (one alert per rule and label
set). They carry the alert's labels and value, never a channel's secret or address."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from kernel.events.envelope import EventPayload

RuleKind = Literal["threshold", "no_data", "event_rate", "budget"]


class _AlertEvent(EventPayload):
    alert_id: str
    rule_id: str
    rule_name: str
    kind: RuleKind
    severity: str
    labels: dict[str, str]

    SUBJECT = "alert_id"


class AlertFiring(_AlertEvent):
    """The rule's condition held (for its `for` duration): the alert fires from `firing_since`."""

    TYPE = "alert.firing"
    value: float | None
    summary: str
    firing_since: datetime


class AlertResolved(_AlertEvent):
    """The condition no longer holds (and `keep_firing_for` has passed): the alert is over."""

    TYPE = "alert.resolved"
    firing_since: datetime
    resolved_at: datetime
