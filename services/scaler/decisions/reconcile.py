"""The reconcile loop: every few seconds it fires the scheduled actions that are due, ends the lifecycle hooks that
timed out, and brings every group's members back to its desired capacity (launches held back by a backoff, members
that failed or left, changes made through the API), then forgets old history. The metric path decides; this repairs."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from kernel.events.scaling import ScalingDecided
from services.scaler.decisions.handlers import Outcome, act, write
from services.scaler.groups.domain import Group, Member
from services.scaler.policies.domain import Policy
from services.scaler.unit_of_work import ScalerTransaction, ScalerUnitOfWork

log = logging.getLogger(__name__)

__all__ = ["reconcile_forever", "reconcile_once"]

# Groups reconciled per transaction.
CHUNK = 100


def _now() -> datetime:
    return datetime.now(UTC)


def apply_schedule(out: Outcome, policy: Policy, now: datetime) -> None:
    """A scheduled action fires: the bounds and desired capacity it names replace the group's."""
    group = out.group
    low = policy.min_size if policy.min_size is not None else group.min_size
    high = policy.max_size if policy.max_size is not None else group.max_size
    if low > high:
        out.note("scheduled", f"scheduled action {policy.name} skipped: min {low} > max {high}")
        return
    desired = max(low, min(high, policy.desired if policy.desired is not None else group.desired))
    reason = (
        f"scheduled action {policy.name} ({policy.cron}, {policy.time_zone}): min {low}, max {high}, desired {desired}"
    )
    out.group = replace(group, min_size=low, max_size=high, desired=desired, last_scaled_at=now)
    if desired != group.desired or (low, high) != (group.min_size, group.max_size):
        out.payloads.append(
            ScalingDecided(
                group_id=group.id,
                previous=group.desired,
                desired=desired,
                reason=reason,
                inputs={"policy_id": policy.id, "cron": policy.cron, "time_zone": policy.time_zone},
            )
        )
        out.note("decided", reason, previous=group.desired, desired=desired)


async def _reconcile_chunk(tx: ScalerTransaction, ids: list[str], now: datetime) -> None:
    # A group a decision holds is left to the next pass: repairs never hold up the metric path.
    groups: list[Group] = await tx.repos.groups.lock_many(ids, skip_locked=True)
    ids = [g.id for g in groups]
    members: dict[str, list[Member]] = defaultdict(list)
    for member in await tx.repos.members.of_groups(ids):
        members[member.group_id].append(member)
    due: dict[str, list[Policy]] = defaultdict(list)
    for policy in await tx.repos.policies.of_groups(ids):
        if policy.kind == "scheduled" and policy.next_run_at is not None and policy.next_run_at <= now:
            due[policy.group_id].append(policy)
    outcomes = []
    for group in groups:
        out = Outcome(group)
        for policy in due[group.id]:
            apply_schedule(out, policy, now)
            await tx.repos.policies.set_next_run(policy.id, policy.next_run(now))
        act(out, members[group.id], now)
        if out.payloads or out.members or out.activities or out.group != group:
            outcomes.append(out)
    await write(tx, outcomes)


async def reconcile_once(uow: ScalerUnitOfWork, now: datetime | None = None, *, history_hours: float = 24.0) -> None:
    now = now or _now()
    async with uow.reading() as repos:
        ids = await repos.groups.needing_repair(now)
    for start in range(0, len(ids), CHUNK):
        async with uow.transaction() as tx:
            await _reconcile_chunk(tx, ids[start : start + CHUNK], now)
    async with uow.transaction() as tx:
        await tx.repos.history.prune(now - timedelta(hours=history_hours))


async def reconcile_forever(
    uow: ScalerUnitOfWork, every: float, *, history_hours: float, clock: Callable[[], datetime] = _now
) -> None:
    while True:
        try:
            await reconcile_once(uow, clock(), history_hours=history_hours)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("a reconcile pass failed; the next one tries again")
        await asyncio.sleep(every)
