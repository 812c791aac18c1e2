"""Moving a refresh on: each time the health of a member of its target changes, when it starts, and when an operator
lets it past its checkpoint. Its commands are emitted in the transaction that decided them, the replacements' ids
chosen and recorded there."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import datetime

from kernel.commands import ReplaceInstance, TerminateInstance
from kernel.events.failover import (
    InstanceRefreshCheckpointReached,
    InstanceRefreshCompleted,
    InstanceRefreshRolledBack,
)
from kernel.unit_of_work import Chained, Transaction
from services.failover.health.domain import GONE, Member, Watch
from services.failover.policies.domain import Policy
from services.failover.refreshes.domain import Refresh, next_step
from services.failover.unit_of_work import Repositories


def requested_by(refresh: Refresh) -> str:
    return f"failover:{refresh.policy_id}"


def scaling_group_of(policy: Policy) -> str | None:
    return policy.target.scaling_group_id if policy.target.kind == "scaling_group" else None


async def owns(tx: Transaction[Repositories], policy: Policy, instance_id: str) -> bool:
    """Whether a running refresh launched this instance and has not yet found it healthy: its failure is the
    refresh's to answer (a rollback), not a replacement's."""
    refresh = await tx.repos.refreshes.active_of(policy.id)
    return refresh is not None and instance_id in refresh.pending.values()


async def after_health(
    tx: Transaction[Repositories], policy: Policy, watch: Watch, member: Member, about: Chained, now: datetime
) -> None:
    refresh = await tx.repos.refreshes.active_of(policy.id)
    if refresh is None or refresh.state != "running":
        return
    await step(tx, policy, refresh, now)


async def step(tx: Transaction[Repositories], policy: Policy, refresh: Refresh, now: datetime) -> Refresh:
    """Take the refresh's next step (it is locked by the caller) and save it."""
    watched = await tx.repos.watches.of_policy(policy.id)
    wanted = len(watched) or 1
    plan = next_step(refresh, watched, policy.grace_seconds, now, [str(uuid.uuid4()) for _ in range(wanted)])
    pending = {k: v for k, v in refresh.pending.items() if k not in plan.settled}
    replaced = {**refresh.replaced, **plan.settled}
    refresh = replace(refresh, pending=pending, replaced=replaced, updated_at=now)
    fields = {
        "refresh_id": refresh.id,
        "policy_id": refresh.policy_id,
        "scaling_group_id": scaling_group_of(policy),
        "template_id": refresh.template_id,
    }
    if plan.outcome == "rollback":
        refresh = _roll_back(tx, refresh, watched, plan.reason)
        refresh = tx.changed(
            refresh,
            InstanceRefreshRolledBack(**fields, template_version=_old_version(refresh), reason=plan.reason),
        )
    elif plan.outcome == "completed":
        refresh = replace(refresh, state="completed")
        refresh = tx.changed(
            refresh,
            InstanceRefreshCompleted(**fields, template_version=refresh.template_version, replaced=len(replaced)),
        )
    elif plan.outcome == "checkpoint":
        refresh = replace(refresh, state="paused", reason="checkpoint reached: continue it to go on")
        refresh = tx.changed(
            refresh,
            InstanceRefreshCheckpointReached(
                **fields,
                template_version=refresh.template_version,
                replaced=len(replaced),
                members=len(replaced) + len(pending) + _left(refresh, watched),
            ),
        )
    else:
        by_id = {m.instance_id: m for _, m in watched}
        old_versions = dict(refresh.old_versions)
        for old, new in plan.launch.items():
            version = by_id[old].template_version
            if version is not None:
                old_versions[old] = version
            tx.emit(
                refresh,
                ReplaceInstance(
                    instance_id=old,
                    new_instance_id=new,
                    template_version=refresh.template_version,
                    requested_by=requested_by(refresh),
                    reason=f"instance refresh {refresh.id} to version {refresh.template_version}",
                ),
            )
        refresh = replace(refresh, pending={**pending, **plan.launch}, old_versions=old_versions)
    await tx.repos.refreshes.save(refresh)
    return refresh


def _left(refresh: Refresh, watched: list[tuple[Watch, Member]]) -> int:
    fresh = (
        set(refresh.pending.values()) | set(refresh.replaced.values()) | set(refresh.pending) | set(refresh.replaced)
    )
    return sum(
        1
        for _, m in watched
        if m.state not in GONE and m.instance_id not in fresh and m.template_version != refresh.template_version
    )


def _old_version(refresh: Refresh) -> int:
    versions = sorted(set(refresh.old_versions.values()))
    return versions[0] if versions else refresh.template_version


def _roll_back(
    tx: Transaction[Repositories], refresh: Refresh, watched: list[tuple[Watch, Member]], reason: str
) -> Refresh:
    """Replace every server the refresh launched that runs with one of the version its predecessor ran; terminate
    those that never ran (their predecessors were kept)."""
    state = {m.instance_id: m.state for _, m in watched}
    launched = {**refresh.replaced, **refresh.pending}
    why = f"instance refresh {refresh.id} rolled back: {reason}"[:500]
    for old, new in sorted(launched.items()):
        if state.get(new) in GONE:
            continue
        if state.get(new) != "running":
            # It never ran (failed, or not yet up), so its predecessor was kept: only the new server goes.
            tx.emit(refresh, TerminateInstance(instance_id=new, requested_by=requested_by(refresh), reason=why))
            continue
        tx.emit(
            refresh,
            ReplaceInstance(
                instance_id=new,
                new_instance_id=str(uuid.uuid4()),
                template_version=refresh.old_versions.get(old, _old_version(refresh)),
                requested_by=requested_by(refresh),
                reason=why,
            ),
        )
    return replace(refresh, state="rolled_back", reason=reason[:500])
