"""Health from signals, and the circuit breaker: pure rules over what the events told of an instance, no I/O.

An instance a policy watches is `unknown` until it runs, then `healthy` or `unhealthy` by the policy's signals. The
cloud saying `error` makes it unhealthy at once, grace or not; the signals that watch the server itself (metrics gone
quiet, heartbeats, probes) count only once the grace period after it started running is over, so a booting server is
never replaced for being slow to boot.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from services.failover.policies.domain import Breaker, Policy, Signals

Health = Literal["healthy", "unhealthy", "unknown"]

# The member states the provisioner's events leave an instance in.
GONE = frozenset({"terminated", "quarantined"})


@dataclass(frozen=True, slots=True)
class Member:
    """An instance as the provisioner's events told it."""

    instance_id: str
    project_id: str
    cloud_id: str
    state: str
    zone: str | None = None
    tags: dict[str, str] | None = None
    cluster_id: str | None = None
    cluster_role: str | None = None
    template_id: str | None = None
    template_version: int | None = None
    running_since: datetime | None = None
    address: str | None = None
    address_id: str | None = None
    last_metric_at: datetime | None = None
    last_heartbeat_at: datetime | None = None
    # When the event that told `state` happened: an older event delivered late never overrides a newer one.
    state_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Watch:
    """One policy's view of one instance."""

    policy_id: str
    instance_id: str
    project_id: str
    health: Health
    reasons: tuple[str, ...]
    changed_at: datetime
    probe_successes: int = 0
    probe_failures: int = 0
    probed_at: datetime | None = None
    unhealthy_since: datetime | None = None
    remediation: str | None = None
    replacement_id: str | None = None
    remediated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Assessment:
    health: Health
    reasons: tuple[str, ...]


def in_grace(member: Member, grace_seconds: int, now: datetime) -> bool:
    return member.running_since is None or now < member.running_since + timedelta(seconds=grace_seconds)


def assess(signals: Signals, grace_seconds: int, member: Member, watch: Watch, now: datetime) -> Assessment:
    """The health `signals` give `member` at `now`, with the reason for each signal that finds it unhealthy."""
    if member.state == "error":
        return Assessment("unhealthy", ("the cloud reports the instance in error",))
    if member.state != "running":
        return Assessment("unknown", (f"the instance is {member.state}",))
    if in_grace(member, grace_seconds, now):
        return Assessment("healthy", ())
    reasons: list[str] = []
    assert member.running_since is not None
    if signals.metrics_quiet_seconds is not None:
        last = member.last_metric_at or member.running_since
        if (now - last).total_seconds() > signals.metrics_quiet_seconds:
            reasons.append(f"no metric sample for more than {signals.metrics_quiet_seconds} s")
    if signals.heartbeat_seconds is not None:
        last = member.last_heartbeat_at or member.running_since
        if (now - last).total_seconds() > signals.heartbeat_seconds:
            reasons.append(f"no agent heartbeat for more than {signals.heartbeat_seconds} s")
    probe = signals.probe
    if probe is not None:
        if member.address is None:
            reasons.append("no address to probe")
        elif watch.probe_failures >= probe.unhealthy_threshold:
            reasons.append(f"{probe.kind} probe on port {probe.port} failed {watch.probe_failures} times in a row")
        elif watch.health == "unhealthy" and watch.probe_successes < probe.healthy_threshold:
            # Recovering: healthy only after enough successes in a row.
            reasons.append(f"{probe.kind} probe on port {probe.port} not yet passing {probe.healthy_threshold} times")
    return Assessment("unhealthy" if reasons else "healthy", tuple(reasons))


@dataclass(frozen=True, slots=True)
class Trip:
    scope: Literal["target", "zone"]
    zone: str | None
    unhealthy: int
    members: int
    percent: float
    max_percent: int


def breaker_trips(breaker: Breaker, members: Sequence[Member], watches: Sequence[Watch], now: datetime) -> Trip | None:
    """Whether remediating now would be a cascade: more than the breaker's share of the target's members (or of one
    zone's) became unhealthy within its window. `members` are every instance the policy watches, those gone too (the
    share is of the live ones); `watches` the policy's, a replaced instance's too, so a cascade of replacements that
    fail again still counts."""
    since = now - timedelta(seconds=breaker.window_seconds)
    zone_of = {m.instance_id: m.zone for m in members}
    live = [m for m in members if m.state not in GONE]
    recent = [w for w in watches if w.unhealthy_since is not None and w.unhealthy_since >= since]
    total = len(live)
    if total == 0:
        return None
    unhealthy = len(recent)
    percent = 100.0 * unhealthy / max(total, unhealthy)
    # A lone member is replaced whatever the share: a breaker that never lets one server be replaced protects nothing.
    if unhealthy > 1 and percent > breaker.max_unhealthy_percent:
        return Trip("target", None, unhealthy, total, round(percent, 1), breaker.max_unhealthy_percent)
    if breaker.zone_max_unhealthy_percent is not None:
        per_zone = Counter(m.zone for m in live if m.zone)
        bad_zone = Counter(z for w in recent if (z := zone_of.get(w.instance_id)))
        for zone, bad in sorted(bad_zone.items()):
            share = 100.0 * bad / max(per_zone[zone], bad)
            if bad > 1 and share > breaker.zone_max_unhealthy_percent:
                return Trip("zone", zone, bad, per_zone[zone], round(share, 1), breaker.zone_max_unhealthy_percent)
    return None


def batch_size(members: int, min_healthy_percent: int) -> int:
    """How many members a refresh may replace at once and keep `min_healthy_percent` of them in service."""
    keep = math.ceil(members * min_healthy_percent / 100)
    return max(1, members - keep)


def watched(policy: Policy, member: Member) -> bool:
    return policy.target.matches(member.tags or {}, member.cluster_id, member.cluster_role)
