"""The scaler's decisions, as pure rules: what the policies' readings make of the desired capacity (out if any policy
says so, in only if every one agrees, never below the highest recommendation of the stabilisation window), how many
members to launch or remove to reach it without ever counting past `max`, which members a scale-in removes, and how
long failed launches back off. No I/O: the handlers feed these from the database and the bus."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from services.scaler.groups.domain import Group, Member, Reading, TerminationPolicy
from services.scaler.policies.domain import Policy, step_adjustment, target_tracking

__all__ = [
    "Decision",
    "Plan",
    "Sample",
    "backoff_seconds",
    "choose_to_terminate",
    "decide",
    "plan",
    "reading_of",
]

# A policy's reading older than this no longer votes (its metric stopped arriving).
STALE_SECONDS = 120.0


@dataclass(frozen=True, slots=True)
class Sample:
    value: float
    unit: str
    # When the member it is about entered service; None for a sample about the whole group.
    since: datetime | None


def reading_of(
    policy: Policy, samples: Sequence[Sample], in_service: Iterable[datetime | None], now: datetime
) -> Reading | None:
    """What `policy` reads from a batch's samples of its metric: the samples of members past its warmup (a warming
    member's metric says little about the load) and of the group itself."""
    warm_since = now - timedelta(seconds=policy.warmup_seconds)
    counted = [s for s in samples if s.since is None or s.since <= warm_since]
    if not counted:
        return None
    current = sum(1 for since in in_service if since is not None and since <= warm_since)
    value = sum(s.value for s in counted) / len(counted)
    return Reading(value=value, samples=len(counted), current=current, at=now.timestamp(), unit=counted[0].unit)


@dataclass(frozen=True, slots=True)
class Vote:
    policy: Policy
    proposal: int
    reading: Reading


@dataclass(frozen=True, slots=True)
class Decision:
    desired: int
    reason: str
    recent: tuple[tuple[float, int], ...]
    streaks: dict[str, int]
    inputs: dict[str, object] = field(default_factory=dict)

    def changes(self, group: Group) -> bool:
        return self.desired != group.desired


def _vote(policy: Policy, reading: Reading, group: Group, now: datetime) -> Vote | None:
    if policy.kind == "target_tracking":
        assert policy.target is not None
        if reading.current == 0:
            return None  # nothing in service to scale from: the reconcile loop keeps the group at its desired size
        proposal = target_tracking(reading.current, reading.value, policy.target, policy.tolerance)
        return Vote(policy, proposal, reading)
    if policy.kind == "step":
        if group.last_scaled_at is not None and now - group.last_scaled_at < timedelta(seconds=group.cooldown_seconds):
            return None
        stepped = step_adjustment(
            group.desired, reading.value, policy.steps, policy.adjustment_type, policy.min_adjustment_magnitude
        )
        return None if stepped is None else Vote(policy, stepped, reading)
    return None


def _remember(
    recent: Sequence[tuple[float, int]], at: float, recommendation: int, window: float
) -> tuple[tuple[float, int], ...]:
    """The window's recommendations with `recommendation` added: older than the window dropped, and any earlier one
    no higher than it dropped too (it can never be the window's highest again)."""
    kept = [(t, r) for t, r in recent if t > at - window and r > recommendation]
    return (*kept, (at, recommendation))


def _describe(vote: Vote, streak: int) -> str:
    reading, policy = vote.reading, vote.policy
    unit = f" {reading.unit}" if reading.unit else ""
    samples = f" for {abs(streak)} sample{'s' if abs(streak) != 1 else ''}"
    if policy.kind == "target_tracking":
        sign = ">" if vote.proposal > reading.current else "<" if vote.proposal < reading.current else "~"
        return f"{policy.metric} {reading.value:.3g}{unit} {sign} target {policy.target:g}{unit}{samples}"
    return f"{policy.metric} {reading.value:.3g}{unit} in a step of policy {policy.name}{samples}"


def decide(
    group: Group,
    policies: Sequence[Policy],
    now: datetime,
    *,
    warming: bool,
) -> Decision:
    """The desired capacity the policies' readings (the group's, by policy id) call for. Out if any policy proposes
    more; in only when every voting policy proposes less and no member is warming up, and then no lower than the
    highest recommendation of the stabilisation window."""
    at = now.timestamp()
    votes = [
        vote
        for policy in policies
        if (reading := group.readings.get(policy.id)) is not None and at - reading.at <= STALE_SECONDS
        if (vote := _vote(policy, reading, group, now)) is not None
    ]
    streaks = dict(group.streaks)
    for vote in votes:
        direction = (vote.proposal > group.desired) - (vote.proposal < group.desired)
        before = streaks.get(vote.policy.id, 0)
        streaks[vote.policy.id] = before + direction if before * direction > 0 else direction
    inputs: dict[str, object] = {
        "policies": {
            v.policy.id: {
                "metric": v.policy.metric,
                "value": round(v.reading.value, 6),
                "target": v.policy.target,
                "samples": v.reading.samples,
                "current": v.reading.current,
                "proposal": v.proposal,
            }
            for v in votes
        },
        "desired": group.desired,
    }
    if not votes:
        return Decision(group.desired, "", group.recent, streaks, inputs)
    window = float(group.stabilisation_seconds)
    out = [v for v in votes if v.proposal > group.desired]
    if out:
        best = max(out, key=lambda v: v.proposal)
        desired = group.clamp(best.proposal)
        recent = _remember(group.recent, at, desired, window)
        reason = f"scaled out {group.desired} -> {desired}: {_describe(best, streaks[best.policy.id])}"
        return Decision(desired, reason if desired != group.desired else "", recent, streaks, inputs)
    agreeing = all(v.proposal < group.desired for v in votes) and not warming
    recommendation = max(v.proposal for v in votes) if agreeing else group.desired
    recent = _remember(group.recent, at, recommendation, window)
    stabilised = group.clamp(max(r for _, r in recent))
    desired = min(group.desired, stabilised)
    if desired == group.desired:
        return Decision(group.desired, "", recent, streaks, inputs)
    deciding = max(votes, key=lambda v: v.proposal)
    reason = f"scaled in {group.desired} -> {desired}: {_describe(deciding, streaks[deciding.policy.id])}"
    if desired > recommendation:
        reason += f" (the highest recommendation of the last {window:g} s)"
    return Decision(desired, reason, recent, streaks, inputs)


@dataclass(frozen=True, slots=True)
class Plan:
    """What reaching the desired capacity takes now: launches, members to remove, and members in error to clear."""

    launch: int
    remove: tuple[Member, ...]
    clear: tuple[Member, ...]


def plan(group: Group, members: Sequence[Member], now: datetime) -> Plan:
    """Launch up to `desired` live members, but never more members in any state than `max` (a member in error or on
    its way out still counts until it is gone), and nothing while launches back off; remove the surplus by the
    termination policies; clear members in error."""
    live = [m for m in members if m.live]
    launch = 0
    backing_off = group.backoff_until is not None and now < group.backoff_until
    if len(live) < group.desired and not backing_off:
        launch = max(0, min(group.desired - len(live), group.max_size - len(members)))
    remove: tuple[Member, ...] = ()
    if len(live) > group.desired:
        remove = tuple(choose_to_terminate(members, len(live) - group.desired, group.termination_policies, now))
    clear = tuple(m for m in members if m.state == "error" and m.hook is None)
    return Plan(launch, remove, clear)


def _billing_remainder(member: Member, now: datetime) -> float:
    age = (now - member.created_at).total_seconds()
    return 3600.0 - age % 3600.0


def choose_to_terminate(
    members: Sequence[Member], count: int, policies: Sequence[TerminationPolicy], now: datetime
) -> list[Member]:
    """The `count` members a scale-in removes, one at a time, each narrowed by the termination policies in their
    order (ties broken by id); never a protected member, nor one waiting in a lifecycle hook."""
    live = [m for m in members if m.live]
    candidates = [m for m in live if not m.protected and m.hook is None]
    chosen: list[Member] = []
    for _ in range(count):
        pool = [m for m in candidates if m not in chosen]
        if not pool:
            break
        for policy in policies:
            if len(pool) == 1:
                break
            if policy == "zone_balance":
                zones = Counter(m.zone for m in live if m not in chosen)
                busiest = max(zones[m.zone] for m in pool)
                pool = [m for m in pool if zones[m.zone] == busiest]
            elif policy == "oldest_template_version":
                oldest = min(m.template_version or 0 for m in pool)
                pool = [m for m in pool if (m.template_version or 0) == oldest]
            elif policy == "oldest":
                first = min(m.created_at for m in pool)
                pool = [m for m in pool if m.created_at == first]
            elif policy == "newest":
                last = max(m.created_at for m in pool)
                pool = [m for m in pool if m.created_at == last]
            else:
                closest = min(_billing_remainder(m, now) for m in pool)
                pool = [m for m in pool if _billing_remainder(m, now) == closest]
        chosen.append(min(pool, key=lambda m: m.instance_id))
    return chosen


def backoff_seconds(failures: int, base: float, cap: float) -> float:
    """Exponential: `base` after the first failure, doubling with each one after it, at most `cap`."""
    return float(min(cap, base * 2 ** max(0, failures - 1)))
