"""Scaling groups and their members: what a group is (its template version, its bounds, where it may place servers,
how it chooses what to remove) and the rules its settings obey. No I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from kernel.errors import ValidationFailed

Strategy = Literal["cheapest", "spread", "pack"]
Transition = Literal["launching", "terminating"]
HookResult = Literal["CONTINUE", "ABANDON"]
TerminationPolicy = Literal["zone_balance", "oldest_template_version", "oldest", "newest", "closest_to_billing_hour"]
# Requested: the launch command is sent; pending: the cloud accepted it; error: it failed (still counted against
# `max` until it is gone); terminating: the terminate command is sent (or waits for a hook).
MemberState = Literal["requested", "pending", "running", "error", "terminating"]

DEFAULT_TERMINATION: tuple[TerminationPolicy, ...] = (
    "zone_balance",
    "oldest_template_version",
    "closest_to_billing_hour",
)
DEFAULT_COOLDOWN_SECONDS = 300
DEFAULT_STABILISATION_SECONDS = 300


@dataclass(frozen=True, slots=True)
class Hook:
    """A lifecycle hook: members wait in it on `transition` until it is completed or `timeout_seconds` pass without a
    heartbeat, then follow `default_result`."""

    name: str
    transition: Transition
    timeout_seconds: int
    default_result: HookResult = "ABANDON"


@dataclass(frozen=True, slots=True)
class Reading:
    """A policy's view of its metric at `at` (epoch seconds): the mean of the samples it counts, how many, their unit,
    and how many members it counts as the current capacity."""

    value: float
    samples: int
    current: int
    at: float
    unit: str = ""


@dataclass(frozen=True, slots=True)
class Group:
    id: str
    project_id: str
    name: str
    template_id: str
    template_version: int
    min_size: int
    max_size: int
    desired: int
    allowed_clouds: tuple[str, ...] = ()
    allowed_zones: tuple[str, ...] = ()
    strategy: Strategy = "spread"
    tags: dict[str, str] = field(default_factory=dict)
    inputs: dict[str, object] = field(default_factory=dict)
    cooldown_seconds: int = DEFAULT_COOLDOWN_SECONDS
    stabilisation_seconds: int = DEFAULT_STABILISATION_SECONDS
    termination_policies: tuple[TerminationPolicy, ...] = DEFAULT_TERMINATION
    hooks: tuple[Hook, ...] = ()
    created_at: datetime | None = None
    updated_at: datetime | None = None
    last_scaled_at: datetime | None = None
    # Failed launches in a row, and when launching may start again after them.
    failures: int = 0
    backoff_until: datetime | None = None
    # The scale-in recommendations of the stabilisation window, as (epoch seconds, capacity), capacities decreasing:
    # a later recommendation at least as high replaces the earlier ones, so the first is the window's highest.
    recent: tuple[tuple[float, int], ...] = ()
    # Samples in a row on which each policy asked for the same direction (for the reason sentence).
    streaks: dict[str, int] = field(default_factory=dict)
    # Each policy's latest reading, by policy id: every policy votes on its latest, whichever metric just arrived.
    readings: dict[str, Reading] = field(default_factory=dict)
    correlation_id: str = ""
    last_event_id: str | None = None
    # When the group's history last got a point.
    charted_at: datetime | None = None
    # A group over a cluster role: its members are that role's (the template version above is the role's).
    cluster_id: str | None = None
    cluster_role: str | None = None

    def hook_for(self, transition: Transition) -> Hook | None:
        return next((h for h in self.hooks if h.transition == transition), None)

    def clamp(self, desired: int) -> int:
        return max(self.min_size, min(self.max_size, desired))


@dataclass(frozen=True, slots=True)
class Member:
    instance_id: str
    group_id: str
    project_id: str
    state: MemberState
    created_at: datetime
    zone: str | None = None
    template_version: int | None = None
    running_since: datetime | None = None
    protected: bool = False
    # The hook the member waits in, when it waits in one, and when that hook times out.
    hook: str | None = None
    hook_deadline: datetime | None = None
    # When the lifecycle event that told the member's state happened: an older one delivered late is ignored.
    state_at: datetime | None = None

    @property
    def live(self) -> bool:
        """Counted toward the desired capacity: launched or launching, not failed or on its way out."""
        return self.state in ("requested", "pending", "running")

    @property
    def in_service(self) -> bool:
        return self.state == "running" and self.hook is None


def check_bounds(min_size: int, max_size: int, desired: int) -> None:
    """422 naming the field when min > max, or desired outside them."""
    if min_size > max_size:
        raise invalid("min_size", f"min_size {min_size} is larger than max_size {max_size}")
    if not min_size <= desired <= max_size:
        raise invalid("desired", f"desired {desired} is outside min_size {min_size} and max_size {max_size}")


def check_kind(
    template_id: str | None, template_version: int | None, cluster_id: str | None, cluster_role: str | None
) -> None:
    """A group is over a template version (`template_id` and `template_version`) or over a cluster role
    (`cluster_id` and `cluster_role`): 422 naming the field when both kinds, neither, or half of one are given."""
    over_template = template_id is not None or template_version is not None
    over_cluster = cluster_id is not None or cluster_role is not None
    if over_template and over_cluster:
        field = "cluster_id" if cluster_id is not None else "cluster_role"
        raise invalid(field, "a group is over a template version or over a cluster role, not both")
    if not over_template and not over_cluster:
        raise invalid("template_id", "name template_id and template_version, or cluster_id and cluster_role")
    first, second = ("cluster_id", "cluster_role") if over_cluster else ("template_id", "template_version")
    given = {"template_id": template_id, "template_version": template_version}
    given |= {"cluster_id": cluster_id, "cluster_role": cluster_role}
    if given[first] is None:
        raise invalid(first, f"{first} is required with {second}")
    if given[second] is None:
        raise invalid(second, f"{second} is required with {first}")


def check_termination_policies(policies: tuple[str, ...]) -> None:
    if len(set(policies)) != len(policies):
        raise invalid("termination_policies", "each termination policy may be named once")
    if "zone_balance" in policies and policies[0] != "zone_balance":
        raise invalid("termination_policies", "zone_balance comes first when it is named")


def check_hooks(hooks: tuple[Hook, ...]) -> None:
    names = [h.name for h in hooks]
    if len(set(names)) != len(names):
        raise invalid("lifecycle_hooks", "hook names must be unique")
    if len({h.transition for h in hooks}) != len(hooks):
        raise invalid("lifecycle_hooks", "at most one hook per transition")


def invalid(name: str, message: str) -> ValidationFailed:
    return ValidationFailed(
        f"`{name}`: {message}.", errors=[{"location": f"body.{name}", "message": message, "type": "value_error"}]
    )


__all__ = [
    "DEFAULT_COOLDOWN_SECONDS",
    "DEFAULT_STABILISATION_SECONDS",
    "DEFAULT_TERMINATION",
    "Group",
    "Hook",
    "HookResult",
    "Member",
    "Reading",
    "MemberState",
    "Strategy",
    "TerminationPolicy",
    "Transition",
    "check_bounds",
    "check_hooks",
    "check_kind",
    "check_termination_policies",
    "invalid",
]
