"""What came of the scaler's commands, and of anything else that changed a group's members: the provisioner's
instance events, `command.refused`, `instance.quarantined`, and the failover service's instance refreshes. Each keeps
the members' states, backs off after failed launches, and then brings the group back toward its desired capacity."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from kernel.commands import SCALING_GROUP_TAG, LaunchInstance
from kernel.events import (
    CommandRefused,
    EventPayload,
    InstanceFailed,
    InstanceLaunched,
    InstanceQuarantined,
    InstanceRequested,
    InstanceRunning,
    InstanceStopped,
    InstanceTerminated,
)
from kernel.events.failover import InstanceRefreshCompleted, InstanceRefreshRolledBack
from kernel.events.scaling import ScalingVersionMoved
from services.scaler.decisions.handlers import Outcome, Tuning, act, backed_off, wait_in_hook, write
from services.scaler.groups.domain import Member
from services.scaler.unit_of_work import ScalerTransaction

__all__ = ["on_instance_event", "on_refresh_ended"]


async def _locked(tx: ScalerTransaction, group_id: str, project_id: str) -> tuple[Outcome, list[Member]] | None:
    group = await tx.repos.groups.lock(group_id, project_id)
    if group is None:
        return None
    return Outcome(group), await tx.repos.members.of_groups([group.id])


async def on_instance_event(
    tx: ScalerTransaction, project_id: str, event: EventPayload, occurred_at: datetime, now: datetime, tuning: Tuning
) -> None:
    """Follow a member through its lifecycle (a new member is learnt from its group tag in `instance.requested`);
    `occurred_at` is when the event happened, `now` when it is handled."""
    if isinstance(event, CommandRefused):
        instance_id = event.subject_id
        if not event.requested_by.startswith("scaler:") or instance_id is None:
            return
    else:
        instance_id = getattr(event, "instance_id", None)
        if instance_id is None:
            return
    member = await tx.repos.members.get(instance_id)
    if member is None:
        if not isinstance(event, InstanceRequested) or SCALING_GROUP_TAG not in event.tags:
            return
        group_id = event.tags[SCALING_GROUP_TAG]
    elif member.project_id != project_id:
        return
    else:
        group_id = member.group_id
    locked = await _locked(tx, group_id, project_id)
    if locked is None:
        return
    out, members = locked
    # Read under the group's lock: the group's times follow the order its changes are made in.
    now = max(now, datetime.now(UTC))
    # The member as the group's lock found it (the event may race the group's own change of it).
    member = next((m for m in members if m.instance_id == instance_id), None)
    if member is not None and _overtaken(member, event, occurred_at):
        return
    after = _follow(out, member, event, now, tuning)
    if after is not None and after is not member and isinstance(event, _STATE_EVENTS):
        after = replace(after, state_at=occurred_at)
    if after is not member:
        members = [m for m in members if m.instance_id != instance_id]
        if after is None:
            await tx.repos.members.remove(instance_id)
        else:
            members.append(after)
            out.members.append(after)
    act(out, members, now)
    await write(tx, [out])


# The events that move a member between launching, running and error; they may overtake one another on the bus (two
# relays, a redelivery), and only the newest tells the member's state. Requested, terminated, quarantined and refused
# are each the first or last word on a member and are never out of date.
_STATE_EVENTS = (InstanceLaunched, InstanceRunning, InstanceFailed, InstanceStopped)


def _overtaken(member: Member, event: EventPayload, occurred_at: datetime) -> bool:
    """True when `event` happened before the event that told the member's current state."""
    return isinstance(event, _STATE_EVENTS) and member.state_at is not None and occurred_at < member.state_at


def _follow(out: Outcome, member: Member | None, event: EventPayload, now: datetime, tuning: Tuning) -> Member | None:
    """The member after `event` (None: it left the group)."""
    group = out.group
    if isinstance(event, InstanceRequested):
        if member is None:
            out.note("joined", f"{event.instance_id} joined the group", event.instance_id)
            return Member(
                event.instance_id,
                group.id,
                group.project_id,
                "requested",
                now,
                zone=event.zone,
                template_version=event.template_version,
            )
        return replace(member, zone=event.zone, template_version=event.template_version or member.template_version)
    if member is None:
        return None
    if isinstance(event, InstanceLaunched):
        return replace(member, state="pending") if member.state == "requested" else member
    if isinstance(event, InstanceRunning):
        if member.state == "terminating":
            return member
        first = member.running_since is None
        running = replace(member, state="running", running_since=member.running_since or now)
        if first:
            out.group = replace(out.group, failures=0, backoff_until=None)
            out.note("running", f"{member.instance_id} is running", member.instance_id)
            if group.hook_for("launching") is not None:
                return wait_in_hook(out, running, now, "launching")
        return running
    if isinstance(event, InstanceFailed):
        if member.running_since is None and member.state != "terminating":
            backed_off(out, member.instance_id, event.reason, now, tuning)
        return replace(member, state="error") if member.state != "terminating" else member
    if isinstance(event, InstanceStopped):
        # A stopped member serves nothing: it is cleared, and replaced, like one in error.
        return replace(member, state="error") if member.state != "terminating" else member
    if isinstance(event, InstanceTerminated | InstanceQuarantined):
        out.note("left", f"{member.instance_id} left the group ({event.TYPE})", member.instance_id)
        return None
    if isinstance(event, CommandRefused):
        if event.command == LaunchInstance.TYPE:
            backed_off(out, member.instance_id, f"the launch was refused ({event.code})", now, tuning)
        else:
            out.note(
                "refused", f"{event.command} of {member.instance_id} was refused ({event.code})", member.instance_id
            )
        # Nothing exists for a refused launch; a refused terminate means the instance is gone or not ours to end.
        return None
    return member


async def on_refresh_ended(
    tx: ScalerTransaction, project_id: str, ended: InstanceRefreshCompleted | InstanceRefreshRolledBack
) -> None:
    """An instance refresh of a group finished (or rolled back): the group launches from its version from now on."""
    group_id, version = ended.scaling_group_id, ended.template_version
    if group_id is None:
        return
    group = await tx.repos.groups.lock(group_id, project_id)
    # A group over a cluster role launches the role's version, which only the cluster changes.
    if group is None or group.cluster_id is not None or group.template_version == version:
        return
    out = Outcome(replace(group, template_version=version))
    out.payloads.append(
        ScalingVersionMoved(
            group_id=group.id,
            template_id=group.template_id,
            previous_version=group.template_version,
            template_version=version,
        )
    )
    out.note("version", f"launches from template version {version} (was {group.template_version})")
    await write(tx, [out])
