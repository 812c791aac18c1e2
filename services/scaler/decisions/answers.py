"""What users read of a group's decisions (its activities and history) and how they answer its lifecycle hooks."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from kernel.identity import Identity
from kernel.keyset import PageRequest
from services.scaler.decisions.handlers import Outcome, act, finish_hook, write
from services.scaler.decisions.repository import Activity, HistoryPoint
from services.scaler.errors import GroupNotFound, MemberNotFound, NotWaiting
from services.scaler.groups.domain import HookResult, Member
from services.scaler.groups.handlers import locked
from services.scaler.unit_of_work import ScalerTransaction, ScalerUnitOfWork

__all__ = ["activities", "answer_hook", "heartbeat", "history"]


async def activities(
    uow: ScalerUnitOfWork, caller: Identity, group_id: str, paging: PageRequest
) -> tuple[list[Activity], str | None]:
    async with uow.reading() as repos:
        if await repos.groups.get(caller.project_id, group_id) is None:
            raise GroupNotFound(f"No scaling group {group_id} in this project.")
        return await repos.activities.page(group_id, paging)


async def history(
    uow: ScalerUnitOfWork, caller: Identity, group_id: str, minutes: int, limit: int
) -> list[HistoryPoint]:
    async with uow.reading() as repos:
        if await repos.groups.get(caller.project_id, group_id) is None:
            raise GroupNotFound(f"No scaling group {group_id} in this project.")
        return await repos.history.series(group_id, datetime.now(UTC) - timedelta(minutes=minutes), limit)


async def _waiting(tx: ScalerTransaction, group_id: str, hook: str, instance_id: str) -> list[Member]:
    members = await tx.repos.members.of_groups([group_id])
    member = next((m for m in members if m.instance_id == instance_id), None)
    if member is None:
        raise MemberNotFound(f"No member {instance_id} in this scaling group.")
    if member.hook != hook:
        raise NotWaiting(f"{instance_id} does not wait in hook {hook}.")
    return members


async def answer_hook(
    uow: ScalerUnitOfWork, caller: Identity, group_id: str, hook: str, instance_id: str, result: HookResult
) -> None:
    now = datetime.now(UTC)
    async with uow.transaction() as tx:
        group = await locked(tx, caller, group_id)
        members = await _waiting(tx, group.id, hook, instance_id)
        out = Outcome(group)
        member = next(m for m in members if m.instance_id == instance_id)
        after = finish_hook(out, member, result, timed_out=False)
        out.members.append(after)
        act(out, [after if m.instance_id == instance_id else m for m in members], now)
        await write(tx, [out])


async def heartbeat(uow: ScalerUnitOfWork, caller: Identity, group_id: str, hook: str, instance_id: str) -> datetime:
    """Hold the member in its hook for another timeout from now; the new deadline."""
    async with uow.transaction() as tx:
        group = await locked(tx, caller, group_id)
        members = await _waiting(tx, group.id, hook, instance_id)
        spec = next((h for h in group.hooks if h.name == hook), None)
        timeout = spec.timeout_seconds if spec is not None else 0
        member = next(m for m in members if m.instance_id == instance_id)
        deadline = datetime.now(UTC) + timedelta(seconds=timeout)
        await tx.repos.members.save_many([replace(member, hook_deadline=deadline)])
        return deadline
