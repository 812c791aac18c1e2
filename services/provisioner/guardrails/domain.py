"""A project's guard-rails and the rules they set for launches; no I/O.

A launch is judged against what the project already holds: every instance that has not ended (terminated, gone or
rejected) counts, whatever its state, one waiting for approval included. vCPUs are the flavor's, as recorded at
launch; monthly costs are the hourly price in force now times 730 hours. An instance whose price is unknown, or in
another currency than the guard-rails', counts 0 and the verdict says how many did.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

from kernel.errors import ValidationFailed

ExpiryAction = Literal["stop", "terminate"]
ApprovalState = Literal["pending", "approved", "rejected"]

# The instance states that never count against a quota: what has ended, and a launch an owner turned down.
REJECTED = "rejected"
AWAITING_APPROVAL = "awaiting_approval"
NOT_COUNTED = frozenset({"terminated", "gone", REJECTED})

# Most warnings before an instance's end, and the longest lifetime a project may set (ten years).
MAX_WARNINGS = 8
MAX_LIFETIME_HOURS = 87_600


@dataclass(frozen=True, slots=True)
class Guardrails:
    """A project's guard-rails; None is no limit. Version 0: never set (nothing is limited)."""

    project_id: str
    version: int = 0
    max_instances: int | None = None
    max_vcpus: int | None = None
    max_monthly_cost: Decimal | None = None
    # The currency of `max_monthly_cost` and `approval_threshold`.
    currency: str | None = None
    # tag key -> its allowed values (empty: any value)
    required_tags: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    max_lifetime_hours: int | None = None
    expiry_action: ExpiryAction = "stop"
    # Hours before an instance's end at which a warning is sent, longest first.
    expiry_warnings: tuple[float, ...] = ()
    approval_threshold: Decimal | None = None
    changed_by: str = ""
    changed_at: datetime | None = None
    correlation_id: str = ""
    last_event_id: str | None = None


# The fields a change sets (the rest say who changed them and when).
SETTINGS = (
    "max_instances",
    "max_vcpus",
    "max_monthly_cost",
    "currency",
    "required_tags",
    "max_lifetime_hours",
    "expiry_action",
    "expiry_warnings",
    "approval_threshold",
)


def checked(rails: Guardrails) -> Guardrails:
    """The guard-rails as they are kept (warnings longest first), or 422 naming each field that does not fit."""
    problems = []
    priced = [f for f in ("max_monthly_cost", "approval_threshold") if getattr(rails, f) is not None]
    if priced and rails.currency is None:
        problems.append({"location": "body.currency", "message": f"needed with {' and '.join(priced)}"})
    if rails.max_lifetime_hours is None and rails.expiry_warnings:
        problems.append({"location": "body.expiry_warnings", "message": "needs max_lifetime_hours"})
    for n, hours in enumerate(rails.expiry_warnings):
        if rails.max_lifetime_hours is not None and hours >= rails.max_lifetime_hours:
            problems.append(
                {"location": f"body.expiry_warnings.{n}", "message": "must be shorter than max_lifetime_hours"}
            )
    if len(set(rails.expiry_warnings)) != len(rails.expiry_warnings):
        problems.append({"location": "body.expiry_warnings", "message": "each warning once"})
    if problems:
        raise ValidationFailed("The guard-rails do not fit together.", errors=problems)
    return Guardrails(
        **{f.name: getattr(rails, f.name) for f in fields(rails) if f.name != "expiry_warnings"},
        expiry_warnings=tuple(sorted(rails.expiry_warnings, reverse=True)),
    )


def _shown(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, Mapping):
        return {k: list(v) for k, v in value.items()}
    return value


def changes(before: Guardrails, after: Guardrails) -> dict[str, dict[str, Any]]:
    """Each setting that differs: {"from": ..., "to": ...}, as JSON values."""
    return {
        name: {"from": _shown(getattr(before, name)), "to": _shown(getattr(after, name))}
        for name in SETTINGS
        if getattr(before, name) != getattr(after, name)
    }


@dataclass(frozen=True, slots=True)
class Held:
    """The instances of one cloud, flavor and image that count against the project's quotas."""

    cloud_id: str
    flavor_id: str
    count: int
    # vCPUs of those whose flavor was known at launch, and how many were not.
    vcpus: int
    vcpus_unknown: int
    image_id: str | None = None


@dataclass(frozen=True, slots=True)
class Usage:
    instances: int = 0
    vcpus: int = 0
    monthly: Decimal = Decimal(0)
    # Counted instances with no price (or one in another currency), and with no vCPU figure: each counted 0.
    unpriced: int = 0
    vcpus_unknown: int = 0


@dataclass(frozen=True, slots=True)
class Demand:
    """What a launch asks for, as the guard-rails judge it: `count` servers (several for a cluster), their vCPUs
    and monthly cost together."""

    vcpus: int | None
    # Its monthly cost and that price's currency (None: its flavor has no price).
    monthly: Decimal | None
    currency: str | None
    tags: Mapping[str, str]
    # A lifetime the launch asks for itself: hours from now, or an end.
    lifetime_hours: float | None = None
    expires_at: datetime | None = None
    count: int = 1


@dataclass(frozen=True, slots=True)
class QuotaUse:
    quota: Literal["max_instances", "max_vcpus", "max_monthly_cost"]
    limit: int | Decimal
    used: int | Decimal
    adds: int | Decimal

    @property
    def exceeded(self) -> bool:
        return self.used + self.adds > self.limit


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the guard-rails say of a launch: each quota with what is used and what the launch adds, the problems of
    its tags and lifetime (422), whether it waits for approval, when it expires, and notes on what counted 0."""

    quotas: tuple[QuotaUse, ...] = ()
    problems: tuple[Mapping[str, str], ...] = ()
    needs_approval: bool = False
    expires_at: datetime | None = None
    expiry_action: ExpiryAction | None = None
    expiry_warnings: tuple[float, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def exceeded(self) -> tuple[QuotaUse, ...]:
        return tuple(q for q in self.quotas if q.exceeded)

    @property
    def allowed(self) -> bool:
        return not self.problems and not self.exceeded


def in_currency(rails: Guardrails, monthly: Decimal | None, currency: str | None) -> Decimal | None:
    """A monthly cost the guard-rails can compare (None: unpriced, or priced in another currency)."""
    if monthly is None or rails.currency is None or currency != rails.currency:
        return None
    return monthly


def _tag_problems(rails: Guardrails, tags: Mapping[str, str]) -> list[dict[str, str]]:
    problems = []
    for key, allowed in sorted(rails.required_tags.items()):
        if key not in tags:
            problems.append({"location": f"body.tags.{key}", "message": f"tag {key} is required in this project"})
        elif allowed and tags[key] not in allowed:
            problems.append({"location": f"body.tags.{key}", "message": f"one of {', '.join(allowed)}"})
    return problems


def lifetime(
    rails: Guardrails, *, now: datetime, hours: float | None, until: datetime | None
) -> tuple[datetime | None, list[dict[str, str]]]:
    """When a launch's lifetime ends (None: never) and the problems of what it asked: never beyond the project's
    cap, never in the past."""
    cap = now + timedelta(hours=rails.max_lifetime_hours) if rails.max_lifetime_hours is not None else None
    problems = []
    asked = until if until is not None else (now + timedelta(hours=hours) if hours is not None else None)
    where = "body.expires_at" if until is not None else "body.lifetime_hours"
    if asked is not None and asked <= now:
        problems.append({"location": where, "message": "must be in the future"})
    elif asked is not None and cap is not None and asked > cap:
        problems.append({"location": where, "message": f"at most {rails.max_lifetime_hours} hours in this project"})
    if problems:
        return None, problems
    return (asked if asked is not None else cap), []


def judge(rails: Guardrails, usage: Usage, demand: Demand, *, now: datetime) -> Verdict:
    """The guard-rails' verdict on a launch, the project holding `usage`."""
    quotas = []
    notes = []
    if rails.max_instances is not None:
        quotas.append(QuotaUse("max_instances", rails.max_instances, usage.instances, demand.count))
    if rails.max_vcpus is not None:
        quotas.append(QuotaUse("max_vcpus", rails.max_vcpus, usage.vcpus, demand.vcpus or 0))
        if usage.vcpus_unknown:
            notes.append(f"{usage.vcpus_unknown} counted instance(s) have no known vCPU figure: counted 0")
        if demand.vcpus is None:
            notes.append("the launch's flavor has no known vCPU figure: counted 0")
    cost = in_currency(rails, demand.monthly, demand.currency)
    if rails.max_monthly_cost is not None:
        quotas.append(QuotaUse("max_monthly_cost", rails.max_monthly_cost, usage.monthly, cost or Decimal(0)))
        if usage.unpriced:
            notes.append(f"{usage.unpriced} counted instance(s) have no price in {rails.currency}: counted 0")
    if (rails.max_monthly_cost is not None or rails.approval_threshold is not None) and cost is None:
        notes.append(f"the launch has no price in {rails.currency}: it costs 0 here")
    expires_at, problems = lifetime(rails, now=now, hours=demand.lifetime_hours, until=demand.expires_at)
    problems = _tag_problems(rails, demand.tags) + problems
    needs_approval = rails.approval_threshold is not None and cost is not None and cost > rails.approval_threshold
    return Verdict(
        quotas=tuple(quotas),
        problems=tuple(problems),
        needs_approval=needs_approval,
        expires_at=expires_at,
        expiry_action=rails.expiry_action if expires_at is not None else None,
        expiry_warnings=rails.expiry_warnings if expires_at is not None else (),
        notes=tuple(notes),
    )


# --- expiry ---------------------------------------------------------------------------------------------------


def warnings_due(expires_at: datetime, warnings: Sequence[float], now: datetime) -> int:
    """How many of the warnings (hours before the end, longest first) are due at `now`."""
    return sum(1 for hours in warnings if now >= expires_at - timedelta(hours=hours))


def extended_until(rails: Guardrails, *, created_at: datetime, now: datetime, until: datetime) -> list[dict[str, str]]:
    """The problems of moving an instance's end to `until`: in the future, and within the project's cap counted
    from its launch."""
    if until <= now:
        return [{"location": "body.expires_at", "message": "must be in the future"}]
    if rails.max_lifetime_hours is not None and until > created_at + timedelta(hours=rails.max_lifetime_hours):
        return [
            {
                "location": "body.expires_at",
                "message": f"at most {rails.max_lifetime_hours} hours after the launch in this project",
            }
        ]
    return []


# --- approvals -----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Approval:
    """A launch waiting for (or given) an owner's decision."""

    id: str
    project_id: str
    instance_id: str
    state: ApprovalState
    monthly: Decimal
    currency: str
    threshold: Decimal
    requested_by: str
    created_at: datetime
    updated_at: datetime
    correlation_id: str
    decided_by: str | None = None
    reason: str | None = None
    decided_at: datetime | None = None
    last_event_id: str | None = None


__all__ = [
    "AWAITING_APPROVAL",
    "MAX_LIFETIME_HOURS",
    "MAX_WARNINGS",
    "NOT_COUNTED",
    "REJECTED",
    "SETTINGS",
    "Approval",
    "ApprovalState",
    "Demand",
    "ExpiryAction",
    "Guardrails",
    "Held",
    "QuotaUse",
    "Usage",
    "Verdict",
    "changes",
    "checked",
    "extended_until",
    "in_currency",
    "judge",
    "lifetime",
    "warnings_due",
]
