"""What the service does about an instance that turned unhealthy: the breaker's verdict first, then the policy's
action as commands to the provisioner, emitted in the transaction that decided them, with the replacement's id
chosen here (so a redelivered or retried decision can never launch twice)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from kernel.commands import (
    CommandPayload,
    MoveAddress,
    QuarantineInstance,
    RebootInstance,
    ReplaceInstance,
)
from kernel.events.failover import BreakerTripped, FailoverHeld, FailoverRemediated
from kernel.unit_of_work import Chained, Transaction
from services.failover.health.domain import GONE, Member, Trip, Watch, breaker_trips
from services.failover.policies.domain import Policy
from services.failover.unit_of_work import Repositories


@dataclass(frozen=True, slots=True)
class Decision:
    commands: tuple[CommandPayload, ...]
    new_instance_id: str | None = None
    address_id: str | None = None
    held: str | None = None


def requested_by(policy: Policy) -> str:
    return f"failover:{policy.id}"


def _standby(member: Member, watched: Sequence[tuple[Watch, Member]]) -> Member | None:
    """The healthy member that has run longest and holds no address: the one promoted in a failed primary's place."""
    candidates = [
        m
        for w, m in watched
        if m.instance_id != member.instance_id and w.health == "healthy" and m.state == "running" and not m.address_id
    ]
    return min(candidates, key=lambda m: (m.running_since or datetime.max, m.instance_id), default=None)


def decide(policy: Policy, member: Member, watched: Sequence[tuple[Watch, Member]], reason: str) -> Decision:
    """The commands the policy's action takes for `member`, unhealthy for `reason`."""
    who = requested_by(policy)
    if policy.action == "reboot":
        return Decision((RebootInstance(instance_id=member.instance_id, requested_by=who, reason=reason),))
    if policy.action == "quarantine":
        return Decision((QuarantineInstance(instance_id=member.instance_id, requested_by=who, reason=reason),))
    new_id = str(uuid.uuid4())
    replacement = ReplaceInstance(
        instance_id=member.instance_id, new_instance_id=new_id, requested_by=who, reason=reason, dispose="terminate"
    )
    holds = member.address_id is not None and policy.address_id in (None, member.address_id)
    if policy.action == "promote_standby" and holds:
        assert member.address_id is not None
        standby = _standby(member, watched)
        if standby is None:
            return Decision((), held="no healthy standby to promote; the address stays where it is")
        move = MoveAddress(
            address_id=member.address_id,
            instance_id=standby.instance_id,
            requested_by=who,
            reason=f"promote standby {standby.instance_id}: {reason}",
        )
        return Decision((move, replacement), new_instance_id=new_id, address_id=member.address_id)
    return Decision((replacement,), new_instance_id=new_id)


def _inputs(member: Member, watched: Sequence[tuple[Watch, Member]], policy: Policy, now: datetime) -> dict[str, Any]:
    live = [m for _, m in watched if m.state not in GONE]
    window = policy.breaker.window_seconds
    recent = [
        w for w, _ in watched if w.unhealthy_since is not None and (now - w.unhealthy_since).total_seconds() <= window
    ]
    return {
        "members": len(live),
        "unhealthy_in_window": len(recent),
        "window_seconds": window,
        "zone": member.zone,
        "zone_members": sum(1 for m in live if member.zone is not None and m.zone == member.zone),
    }


async def remediate(
    tx: Transaction[Repositories], policy: Policy, watch: Watch, member: Member, about: Chained, now: datetime
) -> tuple[Policy, Watch]:
    """Remediate `member` (its `watch` just turned unhealthy) unless the breaker is open or trips now. `policy` is
    locked by the caller, so two deciders never both count the same window."""
    reason = "; ".join(watch.reasons) or "unhealthy"
    if policy.breaker_open:
        tx.emit(about, FailoverHeld(policy_id=policy.id, instance_id=member.instance_id, reason=policy.breaker_reason))
        return policy, watch
    watched = [
        (watch if w.instance_id == watch.instance_id else w, m) for w, m in await tx.repos.watches.of_policy(policy.id)
    ]
    trip = breaker_trips(policy.breaker, [m for _, m in watched], [w for w, _ in watched], now)
    if trip is not None:
        policy = await _trip(tx, policy, trip, about, now)
        tx.emit(about, FailoverHeld(policy_id=policy.id, instance_id=member.instance_id, reason=policy.breaker_reason))
        return policy, watch
    decision = decide(policy, member, watched, reason)
    if decision.held is not None:
        tx.emit(about, FailoverHeld(policy_id=policy.id, instance_id=member.instance_id, reason=decision.held))
        return policy, watch
    command_ids = [tx.emit(about, command) or "" for command in decision.commands]
    tx.emit(
        about,
        FailoverRemediated(
            policy_id=policy.id,
            instance_id=member.instance_id,
            action=policy.action,
            commands=command_ids,
            new_instance_id=decision.new_instance_id,
            address_id=decision.address_id,
            reason=reason,
            inputs=_inputs(member, watched, policy, now),
        ),
    )
    watch = replace(watch, remediation=policy.action, replacement_id=decision.new_instance_id, remediated_at=now)
    return policy, watch


async def _trip(tx: Transaction[Repositories], policy: Policy, trip: Trip, about: Chained, now: datetime) -> Policy:
    where = "the target" if trip.scope == "target" else f"zone {trip.zone}"
    reason = (
        f"breaker open: {trip.unhealthy} of {trip.members} members of {where} ({trip.percent} %) became unhealthy "
        f"within {policy.breaker.window_seconds} s, over {trip.max_percent} %"
    )
    event = BreakerTripped(
        policy_id=policy.id,
        scope=trip.scope,
        zone=trip.zone,
        unhealthy=trip.unhealthy,
        members=trip.members,
        percent=trip.percent,
        max_percent=trip.max_percent,
        window_seconds=policy.breaker.window_seconds,
    )
    policy = replace(policy, breaker_open=True, breaker_reason=reason, updated_at=now)
    policy = tx.changed(policy, event)
    await tx.repos.policies.save(policy)
    return policy
