"""The scaler's decisions as use cases: on each batch of metric samples, on what came of its commands, on the
reconcile loop's pass, and on a lifecycle hook's answer. Each runs in one transaction that changes the group, records
the members it launches (with the ids it chose) and emits the commands and `scaling.*` events: a decision is kept
whole or not at all, so a crash mid-decision neither loses one nor launches twice."""

from __future__ import annotations

import dataclasses
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from kernel.commands import SCALING_GROUP_TAG, LaunchInstance, TerminateInstance
from kernel.events import EventPayload
from kernel.events.metrics import MetricPoint, MetricsSampled
from kernel.events.scaling import (
    ScalingBackedOff,
    ScalingDecided,
    ScalingHookCompleted,
    ScalingHookWaiting,
    ScalingLaunched,
    ScalingLaunchFailed,
    ScalingTerminated,
)
from services.scaler.decisions.domain import Sample, backoff_seconds, decide, plan, reading_of
from services.scaler.decisions.repository import Activity, HistoryPoint
from services.scaler.groups.domain import Group, HookResult, Member
from services.scaler.policies.domain import Policy
from services.scaler.unit_of_work import ScalerTransaction

__all__ = [
    "KnownNames",
    "Outcome",
    "Tuning",
    "act",
    "backed_off",
    "finish_hook",
    "latest",
    "on_metrics",
    "requested_by",
    "wait_in_hook",
    "write",
]

# The sample label that names the group a sample is about, when it is about the group rather than one member.
GROUP_LABEL = "scaling_group"


@dataclass(frozen=True, slots=True)
class Tuning:
    backoff_base_seconds: float = 10.0
    backoff_max_seconds: float = 600.0
    # A group's history gets a point at most this often, and whenever its desired or actual capacity changes.
    history_seconds: float = 10.0


def requested_by(group: Group) -> str:
    return f"scaler:{group.id}"


@dataclass
class Outcome:
    """What one group's use case changed: the group (with its new last event), its members, and its activities."""

    group: Group
    members: list[Member] = dataclasses.field(default_factory=list)
    activities: list[Activity] = dataclasses.field(default_factory=list)
    payloads: list[EventPayload] = dataclasses.field(default_factory=list)

    def note(self, kind: str, description: str, instance_id: str | None = None, **details: Any) -> None:
        self.activities.append(Activity(self.group.id, kind, description, instance_id, details or None))

    def commit(self, tx: ScalerTransaction) -> Group:
        self.group = tx.changed(self.group, *self.payloads)
        self.payloads = []
        return self.group


async def write(tx: ScalerTransaction, outcomes: Sequence[Outcome], *, settings: bool = False) -> None:
    """Save what `outcomes` changed, a statement per table for all of them (`settings`: the groups' settings changed
    too, not only what decisions change)."""
    groups = [o.commit(tx) for o in outcomes]
    if settings:
        await tx.repos.groups.save_many(groups)
    else:
        await tx.repos.groups.save_state(groups)
    await tx.repos.members.save_many([m for o in outcomes for m in o.members])
    by_project: dict[str, list[Activity]] = defaultdict(list)
    for o in outcomes:
        by_project[o.group.project_id].extend(o.activities)
    for project_id, activities in by_project.items():
        await tx.repos.activities.add_many(project_id, activities)


def _launch(out: Outcome, now: datetime, why: str) -> None:
    group = out.group
    instance_id = str(uuid.uuid4())
    out.members.append(
        Member(instance_id, group.id, group.project_id, "requested", now, template_version=group.template_version)
    )
    out.payloads.append(
        LaunchInstance(
            requested_by=requested_by(group),
            reason=why[:500],
            instance_id=instance_id,
            template_id=group.template_id,
            template_version=group.template_version,
            inputs=dict(group.inputs),
            allowed_clouds=list(group.allowed_clouds),
            allowed_zones=list(group.allowed_zones),
            strategy=group.strategy,
            placement_group=group.id,
            tags={**group.tags, SCALING_GROUP_TAG: group.id},
            name=f"{group.name}-{instance_id[:8]}",
            cluster_id=group.cluster_id,
            cluster_role=group.cluster_role,
        )
    )
    out.payloads.append(ScalingLaunched(group_id=group.id, instance_id=instance_id, reason=why[:500]))
    out.note("launch", f"launching {instance_id}: {why}", instance_id)


def _terminate(out: Outcome, member: Member, why: str) -> Member:
    group = out.group
    out.payloads.append(
        TerminateInstance(requested_by=requested_by(group), reason=why[:500], instance_id=member.instance_id)
    )
    out.payloads.append(ScalingTerminated(group_id=group.id, instance_id=member.instance_id, reason=why[:500]))
    out.note("terminate", f"terminating {member.instance_id}: {why}", member.instance_id)
    return replace(member, state="terminating", hook=None, hook_deadline=None)


def finish_hook(out: Outcome, member: Member, result: HookResult, *, timed_out: bool) -> Member:
    """End the member's wait in its lifecycle hook with `result`: a launching member enters service (CONTINUE) or is
    terminated (ABANDON); a terminating member is terminated either way."""
    assert member.hook is not None
    group = out.group
    out.payloads.append(
        ScalingHookCompleted(
            group_id=group.id, instance_id=member.instance_id, hook=member.hook, result=result, timed_out=timed_out
        )
    )
    how = "timed out, default result" if timed_out else "completed with"
    out.note("hook", f"hook {member.hook} of {member.instance_id} {how} {result}", member.instance_id)
    if member.state == "running" and result == "CONTINUE":
        return replace(member, hook=None, hook_deadline=None)
    why = f"lifecycle hook {member.hook} ended with {result}"
    return _terminate(out, member, why)


def wait_in_hook(out: Outcome, member: Member, now: datetime, transition: str) -> Member:
    hook = out.group.hook_for("launching" if transition == "launching" else "terminating")
    assert hook is not None
    deadline = now + timedelta(seconds=hook.timeout_seconds)
    out.payloads.append(
        ScalingHookWaiting(
            group_id=out.group.id,
            instance_id=member.instance_id,
            hook=hook.name,
            transition=hook.transition,
            deadline=deadline,
            default_result=hook.default_result,
        )
    )
    out.note("hook", f"{member.instance_id} waits in hook {hook.name} until {deadline:%H:%M:%S}", member.instance_id)
    return replace(member, hook=hook.name, hook_deadline=deadline)


def act(out: Outcome, members: Sequence[Member], now: datetime, why: str = "") -> None:
    """Bring the group toward its desired capacity: end the hooks that timed out, then launch, remove and clear what
    the plan says. The members it changes are added to `out.members`."""
    current = {m.instance_id: m for m in members}
    for member in list(current.values()):
        if member.hook is not None and member.hook_deadline is not None and member.hook_deadline <= now:
            hook = next((h for h in out.group.hooks if h.name == member.hook), None)
            result: HookResult = hook.default_result if hook is not None else "CONTINUE"
            current[member.instance_id] = finish_hook(out, member, result, timed_out=True)
    group = out.group
    wanted = plan(group, list(current.values()), now)
    live = sum(1 for m in current.values() if m.live)
    for _ in range(wanted.launch):
        _launch(out, now, why or f"desired {group.desired}, {live} live")
    for member in wanted.remove:
        reason = why or f"desired {group.desired}, {live} live"
        if group.hook_for("terminating") is not None:
            current[member.instance_id] = wait_in_hook(out, replace(member, state="terminating"), now, "terminating")
        else:
            current[member.instance_id] = _terminate(out, member, f"scale-in: {reason}")
    for member in wanted.clear:
        current[member.instance_id] = _terminate(out, member, "the instance is in error")
    changed = {m.instance_id for m in out.members}
    out.members.extend(m for k, m in current.items() if m != _original(members, k) and k not in changed)


def _original(members: Sequence[Member], instance_id: str) -> Member | None:
    return next((m for m in members if m.instance_id == instance_id), None)


def backed_off(out: Outcome, instance_id: str, why: str, now: datetime, tuning: Tuning) -> None:
    """A launch failed: count it, and launch nothing more for a while that doubles with each failure in a row."""
    group = out.group
    failures = group.failures + 1
    until = now + timedelta(seconds=backoff_seconds(failures, tuning.backoff_base_seconds, tuning.backoff_max_seconds))
    out.group = replace(group, failures=failures, backoff_until=until)
    out.payloads.append(ScalingLaunchFailed(group_id=group.id, instance_id=instance_id, reason=why, failures=failures))
    out.payloads.append(ScalingBackedOff(group_id=group.id, failures=failures, until=until))
    out.note("launch_failed", f"launch of {instance_id} failed: {why}; no launch before {until:%H:%M:%S}", instance_id)


class KnownNames:
    """The metric names each project's agents are known to publish, as far as this process has seen: names are only
    ever added, so one seen needs no statement again."""

    def __init__(self) -> None:
        self._seen: set[tuple[str, str]] = set()

    def new(self, project_id: str, names: set[str]) -> set[str]:
        fresh = {n for n in names if (project_id, n) not in self._seen}
        self._seen.update((project_id, n) for n in fresh)
        return fresh


def latest(batches: Sequence[MetricsSampled]) -> list[MetricPoint]:
    """The samples of several batches (in the order they arrived), the latest of each metric of each member or group
    only: a decision reads what its groups look like now."""
    kept: dict[tuple[str, str | None, str | None], MetricPoint] = {}
    for batch in batches:
        for point in batch.samples:
            key = (point.name, point.instance_id, None if point.instance_id else point.labels.get(GROUP_LABEL))
            kept[key] = point
    return list(kept.values())


async def on_metrics(
    tx: ScalerTransaction,
    project_id: str,
    batches: Sequence[MetricsSampled],
    now: datetime,
    known: KnownNames | None = None,
    tuning: Tuning = Tuning(),
) -> None:
    """Decide for every group the batches have samples of, as they arrive. A few statements for all of them, however
    many: the members they name, the groups (locked), their policies and members; then one write per table."""
    names = {s.name for b in batches if b.source == "agent" for s in b.samples}
    fresh = known.new(project_id, names) if known is not None else names
    if fresh:
        await tx.repos.metric_names.add(project_id, fresh)
    points = latest(batches)
    instance_ids = {s.instance_id for s in points if s.instance_id is not None}
    members_by_id = (
        {m.instance_id: m for m in await tx.repos.members.by_ids(sorted(instance_ids)) if m.project_id == project_id}
        if instance_ids
        else {}
    )
    group_ids = {m.group_id for m in members_by_id.values()}
    group_ids.update(s.labels[GROUP_LABEL] for s in points if s.instance_id is None and GROUP_LABEL in s.labels)
    if not group_ids:
        return
    groups = [g for g in await tx.repos.groups.lock_many(sorted(group_ids)) if g.project_id == project_id]
    if not groups:
        return
    ids = [g.id for g in groups]
    policies: dict[str, list[Policy]] = defaultdict(list)
    for policy in await tx.repos.policies.of_groups(ids):
        policies[policy.group_id].append(policy)
    members: dict[str, list[Member]] = defaultdict(list)
    for member in await tx.repos.members.of_groups(ids):
        members[member.group_id].append(member)
    # The batch's samples by group and metric, each with when its member entered service (None: about the group).
    samples: dict[str, dict[str, list[Sample]]] = defaultdict(lambda: defaultdict(list))
    for point in points:
        if point.instance_id is None:
            group_id = point.labels.get(GROUP_LABEL)
            if group_id is not None:
                samples[group_id][point.name].append(Sample(point.value, point.unit, None))
            continue
        sampled = members_by_id.get(point.instance_id)
        if sampled is not None and sampled.in_service:
            samples[sampled.group_id][point.name].append(Sample(point.value, point.unit, sampled.running_since))
    outcomes, history = [], []
    for group in groups:
        out = _evaluate(group, policies[group.id], members[group.id], samples[group.id], now)
        if out is None:
            continue
        outcomes.append(out)
        live = sum(1 for m in members[group.id] if m.live)
        charted = _history_point(out.group, policies[group.id], live, now, tuning.history_seconds)
        if charted is not None:
            out.group = replace(out.group, charted_at=now)
            history.append((group.id, charted))
    await write(tx, outcomes)
    await tx.repos.history.add_many(history)


def _history_point(
    group: Group, policies: Sequence[Policy], live: int, now: datetime, every: float
) -> HistoryPoint | None:
    """The point the group's history gets now, if it is due one: `every` seconds after the last, or at once when the
    desired or actual capacity moved."""
    first = next((p for p in policies if p.id in group.readings), None)
    reading = group.readings.get(first.id) if first is not None else None
    due = group.charted_at is None or (now - group.charted_at).total_seconds() >= every
    moved = group.last_scaled_at == now or (reading is not None and reading.current != live)
    if not (due or moved):
        return None
    metric = first.metric if first is not None else None
    return HistoryPoint(now, group.desired, live, metric, reading.value if reading is not None else None)


def _evaluate(
    group: Group,
    policies: Sequence[Policy],
    members: Sequence[Member],
    samples: dict[str, list[Sample]],
    now: datetime,
) -> Outcome | None:
    voting = [p for p in policies if p.kind != "scheduled" and p.metric in samples]
    if not voting:
        return None
    in_service = [m.running_since for m in members if m.in_service]
    readings = dict(group.readings)
    for policy in voting:
        assert policy.metric is not None
        reading = reading_of(policy, samples[policy.metric], in_service, now)
        if reading is not None:
            readings[policy.id] = reading
    group = replace(group, readings=readings)
    longest = max((p.warmup_seconds for p in policies if p.kind == "target_tracking"), default=0)
    warming = any(
        m.live and (not m.in_service or m.running_since is None or m.running_since > now - timedelta(seconds=longest))
        for m in members
    )
    decision = decide(group, [p for p in policies if p.kind != "scheduled"], now, warming=warming)
    out = Outcome(replace(group, recent=decision.recent, streaks=decision.streaks))
    if decision.changes(group):
        out.group = replace(out.group, desired=decision.desired, last_scaled_at=now)
        out.payloads.append(
            ScalingDecided(
                group_id=group.id,
                previous=group.desired,
                desired=decision.desired,
                reason=decision.reason,
                inputs=decision.inputs,
            )
        )
        out.note("decided", decision.reason, previous=group.desired, desired=decision.desired)
        act(out, members, now, decision.reason)
    return out
