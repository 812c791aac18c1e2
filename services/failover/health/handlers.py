"""Use cases of health: learning an instance's facts from the provisioner's events, judging its health under each
policy that watches it, and acting when it turns unhealthy. No FastAPI, no aio-pika."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from kernel.events import (
    AddressAssociated,
    AddressDisassociated,
    CommandRefused,
    Envelope,
    EventPayload,
    InstanceFailed,
    InstanceQuarantined,
    InstanceRebooted,
    InstanceRequested,
    InstanceRunning,
    InstanceStopped,
    InstanceTerminated,
    MetricsSampled,
)
from kernel.events.failover import BreakerClosed, FailoverHeld, HealthChanged
from kernel.unit_of_work import Chained, Transaction
from services.failover.health.domain import GONE, Member, Watch, assess, watched
from services.failover.health.remediation import remediate
from services.failover.policies.domain import Policy
from services.failover.refreshes import progress
from services.failover.unit_of_work import Repositories

__all__ = ["learn", "reassess", "start_watching"]


def _state_after(payload: EventPayload) -> str | None:
    if isinstance(payload, InstanceRunning | InstanceRebooted):
        return "running"
    if isinstance(payload, InstanceFailed):
        return "error"
    if isinstance(payload, InstanceStopped):
        return "stopped"
    if isinstance(payload, InstanceTerminated):
        return "terminated"
    if isinstance(payload, InstanceQuarantined):
        return "quarantined"
    return None


async def learn(tx: Transaction[Repositories], envelope: Envelope, payload: EventPayload, about: Chained) -> None:
    """Take in one of the provisioner's facts about an instance, then judge the instance again."""
    now = envelope.occurred_at
    repos = tx.repos
    if isinstance(payload, MetricsSampled):
        await _sampled(tx, envelope, payload, about)
        return
    if isinstance(payload, CommandRefused):
        await _refused(tx, envelope, payload, about)
        return
    if isinstance(payload, InstanceRequested):
        member = Member(
            instance_id=payload.instance_id,
            project_id=envelope.project_id,
            cloud_id=payload.cloud_id,
            state="requested",
            zone=payload.zone,
            tags=dict(payload.tags),
            cluster_id=payload.cluster_id,
            cluster_role=payload.cluster_role,
            template_id=payload.template_id,
            template_version=payload.template_version,
        )
        earlier = await repos.members.get(payload.instance_id, lock=True)
        if earlier is not None:
            if earlier.project_id != envelope.project_id:
                return
            # Deliveries may overtake one another: what a later event already told is kept.
            member = replace(
                member,
                state=earlier.state,
                running_since=earlier.running_since,
                address=earlier.address,
                address_id=earlier.address_id,
                last_metric_at=earlier.last_metric_at,
                last_heartbeat_at=earlier.last_heartbeat_at,
                state_at=earlier.state_at,
            )
        await repos.members.upsert(member, now)
        policies = [p for p in await repos.policies.of_project(envelope.project_id) if watched(p, member)]
        for policy in policies:
            await repos.watches.add(_new_watch(policy, member, now))
        if earlier is not None and policies:
            await reassess(tx, member, about, now, policies)
        return
    if isinstance(payload, AddressAssociated | AddressDisassociated):
        if payload.instance_id is None:
            return
        holder = await repos.members.get(payload.instance_id, lock=True)
        if holder is None or holder.project_id != envelope.project_id:
            return
        if isinstance(payload, AddressAssociated):
            holder = replace(holder, address=payload.ip, address_id=payload.address_id)
        elif holder.address_id == payload.address_id:
            holder = replace(holder, address=None, address_id=None)
        await repos.members.upsert(holder, now)
        return
    state = _state_after(payload)
    instance_id = getattr(payload, "instance_id", None)
    if state is None or instance_id is None:
        return
    known = await repos.members.get(instance_id, lock=True)
    if known is None:
        # Its `instance.requested` has not been handled yet (or came before this service was deployed): keep what
        # this event tells until it is.
        cloud_id = getattr(payload, "cloud_id", "")
        known = Member(instance_id=instance_id, project_id=envelope.project_id, cloud_id=cloud_id, state="requested")
    elif known.project_id != envelope.project_id:
        return
    elif known.state_at is not None and now < known.state_at:
        # Deliveries may overtake one another: an `instance.running` that arrives after the `instance.failed` that
        # followed it must not bring a failed server back to health.
        return
    running_since = known.running_since
    if isinstance(payload, InstanceRebooted) or (state == "running" and known.state != "running"):
        # A (re)boot starts the grace period again: the server is given time to come up before it is judged.
        running_since = now
    known = replace(known, state=state, running_since=running_since, state_at=now)
    await repos.members.upsert(known, now)
    await reassess(tx, known, about, now)


async def _sampled(tx: Transaction[Repositories], envelope: Envelope, payload: MetricsSampled, about: Chained) -> None:
    latest: dict[str, datetime] = {}
    for sample in payload.samples:
        if sample.instance_id is not None:
            latest[sample.instance_id] = max(sample.at, latest.get(sample.instance_id, sample.at))
    if not latest:
        return
    heartbeat = payload.source == "agent"
    for at in sorted(set(latest.values())):
        ids = [i for i, t in latest.items() if t == at]
        await tx.repos.members.sampled(envelope.project_id, ids, at, heartbeat=heartbeat)
    # A sample can only bring an instance back to health: only those judged unhealthy are judged again.
    for instance_id in sorted(latest):
        watches = await tx.repos.watches.of_instance(instance_id)
        if any(w.health == "unhealthy" for w in watches):
            member = await tx.repos.members.get(instance_id, lock=True)
            if member is not None and member.project_id == envelope.project_id:
                await reassess(tx, member, about, envelope.occurred_at)


async def _refused(tx: Transaction[Repositories], envelope: Envelope, payload: CommandRefused, about: Chained) -> None:
    """The provisioner refused one of this service's commands: say so on the instance it was about."""
    sender, _, policy_id = payload.requested_by.partition(":")
    if sender != "failover" or payload.subject_id is None:
        return
    policy = await tx.repos.policies.get(envelope.project_id, policy_id)
    if policy is None:
        return
    # The refusal's code, never its text: what reaches users is in this service's words.
    reason = f"the provisioner refused {payload.command} ({payload.status} {payload.code})"
    tx.emit(about, FailoverHeld(policy_id=policy.id, instance_id=payload.subject_id, reason=reason))


def _new_watch(policy: Policy, member: Member, now: datetime) -> Watch:
    return Watch(policy.id, member.instance_id, member.project_id, "unknown", (), now)


async def reassess(
    tx: Transaction[Repositories],
    member: Member,
    about: Chained,
    now: datetime,
    policies: Sequence[Policy] | None = None,
) -> None:
    """Judge `member` again under every policy that watches it (or those given), emit what changed, and act on what
    turned unhealthy. Each policy is locked first, in one order, so deciders never count the same window twice."""
    if policies is None:
        policies = await tx.repos.policies.of_instance(member.instance_id)
    for policy in sorted(policies, key=lambda p: p.id):
        locked = await tx.repos.policies.get(policy.project_id, policy.id, lock=True)
        if locked is None:
            continue
        watch = next(
            (w for w in await tx.repos.watches.of_instance(member.instance_id) if w.policy_id == policy.id), None
        )
        if watch is None:
            continue
        await judge(tx, locked, watch, member, about, now)


async def judge(
    tx: Transaction[Repositories], policy: Policy, watch: Watch, member: Member, about: Chained, now: datetime
) -> Policy:
    """Apply the policy's verdict on one watched member (the policy locked by the caller)."""
    verdict = assess(policy.signals, policy.grace_seconds, member, watch, now)
    before = watch
    if verdict.health != watch.health or verdict.reasons != watch.reasons:
        watch = replace(watch, health=verdict.health, reasons=verdict.reasons, changed_at=now)
    if verdict.health != before.health:
        tx.emit(
            about,
            HealthChanged(
                policy_id=policy.id,
                instance_id=member.instance_id,
                health=verdict.health,
                previous=before.health,
                reasons=list(verdict.reasons),
            ),
        )
    if verdict.health == "unhealthy" and before.health != "unhealthy":
        watch = replace(watch, unhealthy_since=now)
        if (
            watch.remediation is None
            and member.state not in GONE
            and not await progress.owns(tx, policy, member.instance_id)
        ):
            policy, watch = await remediate(tx, policy, watch, member, about, now)
    elif verdict.health == "healthy" and before.health != "healthy":
        # Recovered (after a reboot, say): a later failure is remediated again.
        watch = replace(watch, remediation=None, replacement_id=None)
    if watch != before:
        await tx.repos.watches.save(watch)
    if policy.breaker_open and (verdict.health == "healthy" or member.state in GONE):
        # The last unhealthy member recovering, or going (terminated, quarantined), closes it.
        policy = await close_if_healthy(tx, policy, now)
    await progress.after_health(tx, policy, watch, member, about, now)
    return policy


async def close_if_healthy(tx: Transaction[Repositories], policy: Policy, now: datetime) -> Policy:
    """Close an open breaker once no live member of the target is unhealthy."""
    watched_now = await tx.repos.watches.of_policy(policy.id)
    if any(w.health == "unhealthy" and m.state not in GONE for w, m in watched_now):
        return policy
    policy = tx.changed(
        replace(policy, breaker_open=False, breaker_reason="", updated_at=now),
        BreakerClosed(policy_id=policy.id, by="healthy"),
    )
    await tx.repos.policies.save(policy)
    return policy


async def start_watching(tx: Transaction[Repositories], policy: Policy, now: datetime) -> int:
    """Watch the project's live instances the policy's target matches (a new or changed policy); how many."""
    count = 0
    for member in await tx.repos.members.of_project(policy.project_id):
        if watched(policy, member):
            await tx.repos.watches.add(_new_watch(policy, member, now))
            count += 1
    return count
