"""An alert's life, one per rule and label set: pending while its condition holds for less than the rule's `for`,
firing once it held that long, resolved when it stopped holding for the rule's `keep_firing_for` (Prometheus's
meaning). A pending alert whose condition stops holding is dropped: it never fired. Pure rules, no I/O."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal

from kernel.events.alerts import AlertFiring, AlertResolved
from services.alerts.rules.domain import Kind, Routing, Rule, fingerprint

State = Literal["pending", "firing", "resolved"]


@dataclass(frozen=True)
class Alert:
    id: str
    project_id: str
    rule_id: str
    rule_name: str
    kind: Kind
    severity: str
    fingerprint: str
    group_key: str
    labels: dict[str, str]
    state: State
    holds: bool
    value: float | None
    summary: str
    started_at: datetime
    last_true_at: datetime
    correlation_id: str
    updated_at: datetime
    firing_since: datetime | None = None
    resolved_at: datetime | None = None
    last_event_id: str | None = None
    # When the newest input judged (a sample's `at`, an event's `occurred_at`) was taken.
    observed_at: datetime | None = None


@dataclass(frozen=True)
class Outcome:
    """What judging an alert came to: the alert to keep (None: drop it), and the event its change caused."""

    alert: Alert | None
    event: AlertFiring | AlertResolved | None = None


def new_alert(
    alert_id: str, rule: Rule, series: dict[str, str], value: float | None, summary: str, now: datetime, cid: str
) -> Alert:
    labels = rule.labels_for(series)
    return Alert(
        id=alert_id,
        project_id=rule.project_id,
        rule_id=rule.id,
        rule_name=rule.name,
        kind=rule.kind,
        severity=rule.severity,
        fingerprint=fingerprint(labels),
        group_key=rule.group_key(labels),
        labels=labels,
        state="pending",
        holds=True,
        value=value,
        summary=summary,
        started_at=now,
        last_true_at=now,
        correlation_id=cid,
        updated_at=now,
    )


def _firing(rule: Rule, alert: Alert, now: datetime) -> Outcome:
    fired = replace(alert, state="firing", firing_since=now, updated_at=now)
    return Outcome(
        fired,
        AlertFiring(
            alert_id=alert.id,
            rule_id=rule.id,
            rule_name=rule.name,
            kind=rule.kind,
            severity=rule.severity,
            labels=alert.labels,
            value=alert.value,
            summary=alert.summary,
            firing_since=now,
        ),
    )


def _resolved(rule: Rule, alert: Alert, now: datetime) -> Outcome:
    assert alert.firing_since is not None
    done = replace(alert, state="resolved", holds=False, resolved_at=now, updated_at=now)
    return Outcome(
        done,
        AlertResolved(
            alert_id=alert.id,
            rule_id=rule.id,
            rule_name=rule.name,
            kind=rule.kind,
            severity=rule.severity,
            labels=alert.labels,
            firing_since=alert.firing_since,
            resolved_at=now,
        ),
    )


def observe(rule: Rule, alert: Alert, holds: bool, value: float | None, summary: str, now: datetime) -> Outcome:
    """The alert after its condition was judged anew (a sample, an event arrived): `holds` or not, now."""
    if holds:
        alert = replace(alert, holds=True, last_true_at=now, value=value, summary=summary or alert.summary)
        if alert.state == "pending" and now - alert.started_at >= timedelta(seconds=rule.condition.for_seconds):
            return _firing(rule, alert, now)
        return Outcome(replace(alert, updated_at=now))
    if alert.state == "pending":
        return Outcome(None)
    if alert.holds:
        # It held until this judgement: keep_firing_for counts from now.
        alert = replace(alert, holds=False, last_true_at=now, value=value if value is not None else alert.value)
    return settle(rule, alert, now)


def settle(rule: Rule, alert: Alert, now: datetime) -> Outcome:
    """The alert after time alone passed: a pending one whose condition still holds fires when `for` has elapsed; a
    firing one whose condition stopped holding resolves when `keep_firing_for` has elapsed since it last held."""
    if alert.state == "pending" and alert.holds:
        if now - alert.started_at >= timedelta(seconds=rule.condition.for_seconds):
            return _firing(rule, alert, now)
        return Outcome(alert)
    if alert.state == "firing" and not alert.holds:
        if now - alert.last_true_at >= timedelta(seconds=rule.condition.keep_firing_for_seconds):
            return _resolved(rule, alert, now)
    return Outcome(alert)


Inhibitor = tuple[Mapping[str, str], Routing]


def inhibited(labels: Mapping[str, str], inhibitors: Sequence[Inhibitor]) -> bool:
    """Whether a firing alert of a rule that inhibits others (its labels, its rule's routing) mutes these labels."""
    return any(routing.inhibits_alert(source, labels) for source, routing in inhibitors)


__all__ = ["Alert", "Inhibitor", "Outcome", "State", "inhibited", "new_alert", "observe", "settle"]
