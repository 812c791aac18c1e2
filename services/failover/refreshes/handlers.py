"""Use cases of instance refreshes: start one, read them, let one past its checkpoint, cancel one."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime

from kernel.errors import Conflict, InvalidState, ValidationFailed
from kernel.events.failover import InstanceRefreshStarted
from kernel.keyset import PageRequest
from services.failover.errors import policy_not_found, refresh_not_found
from services.failover.health.domain import GONE
from services.failover.refreshes import progress
from services.failover.refreshes.domain import Refresh
from services.failover.refreshes.repository import RefreshFilter
from services.failover.unit_of_work import FailoverUnitOfWork


def _now() -> datetime:
    return datetime.now(UTC)


async def start(
    uow: FailoverUnitOfWork,
    *,
    project_id: str,
    policy_id: str,
    template_version: int,
    min_healthy_percent: int,
    checkpoint_percent: int | None,
    correlation_id: str,
) -> Refresh:
    now = _now()
    async with uow.transaction() as tx:
        policy = await tx.repos.policies.get(project_id, policy_id, lock=True)
        if policy is None:
            raise ValidationFailed(
                f"No health policy {policy_id} in this project.",
                errors=[{"location": "body.policy_id", "message": "no such health policy"}],
            )
        live = [m for _, m in await tx.repos.watches.of_policy(policy.id) if m.state not in GONE]
        if any(m.template_id is None for m in live):
            raise ValidationFailed(
                "Some of the policy's servers were not launched from a template: a refresh moves a template's servers "
                "to another of its versions.",
                errors=[{"location": "body.policy_id", "message": "servers not launched from a template"}],
            )
        templates = sorted({m.template_id for m in live if m.template_id is not None})
        if len(templates) > 1:
            raise ValidationFailed(
                "The policy's target runs several templates; a refresh moves one template's members.",
                errors=[{"location": "body.policy_id", "message": "members of several templates"}],
            )
        refresh = Refresh(
            id=str(uuid.uuid4()),
            project_id=project_id,
            policy_id=policy.id,
            template_id=templates[0] if templates else None,
            template_version=template_version,
            min_healthy_percent=min_healthy_percent,
            checkpoint_percent=checkpoint_percent,
            state="running",
            correlation_id=correlation_id,
            created_at=now,
            updated_at=now,
        )
        refresh = tx.changed(
            refresh,
            InstanceRefreshStarted(
                refresh_id=refresh.id,
                policy_id=policy.id,
                scaling_group_id=progress.scaling_group_of(policy),
                template_id=refresh.template_id,
                template_version=template_version,
                members=len(live),
                min_healthy_percent=min_healthy_percent,
            ),
        )
        if not await tx.repos.refreshes.add(refresh):
            raise Conflict("The policy's target is being refreshed already; continue or cancel that refresh first.")
        refresh = await progress.step(tx, policy, refresh, now)
    return refresh


async def get(uow: FailoverUnitOfWork, project_id: str, refresh_id: str) -> Refresh:
    async with uow.reading() as repos:
        refresh = await repos.refreshes.get(project_id, refresh_id)
    if refresh is None:
        raise refresh_not_found(refresh_id)
    return refresh


async def page(uow: FailoverUnitOfWork, flt: RefreshFilter, request: PageRequest) -> tuple[list[Refresh], str | None]:
    async with uow.reading() as repos:
        return await repos.refreshes.page(flt, request)


async def resume(uow: FailoverUnitOfWork, project_id: str, refresh_id: str, correlation_id: str) -> Refresh:
    """Let a refresh paused at its checkpoint go on to the end (the checkpoint is passed once)."""
    now = _now()
    async with uow.transaction() as tx:
        refresh = await tx.repos.refreshes.get(project_id, refresh_id, lock=True)
        if refresh is None:
            raise refresh_not_found(refresh_id)
        if refresh.state != "paused":
            raise InvalidState(f"The refresh is {refresh.state}; only a paused refresh continues.")
        policy = await tx.repos.policies.get(project_id, refresh.policy_id, lock=True)
        if policy is None:
            raise policy_not_found(refresh.policy_id)
        refresh = replace(
            refresh, state="running", checkpoint_percent=None, reason="", correlation_id=correlation_id, updated_at=now
        )
        refresh = await progress.step(tx, policy, refresh, now)
    return refresh


async def cancel(uow: FailoverUnitOfWork, project_id: str, refresh_id: str, correlation_id: str) -> Refresh:
    """Stop a refresh where it is: no more replacements; those launched go on."""
    async with uow.transaction() as tx:
        refresh = await tx.repos.refreshes.get(project_id, refresh_id, lock=True)
        if refresh is None:
            raise refresh_not_found(refresh_id)
        if not refresh.active:
            raise InvalidState(f"The refresh is {refresh.state} already.")
        refresh = replace(
            refresh, state="cancelled", reason="cancelled", correlation_id=correlation_id, updated_at=_now()
        )
        await tx.repos.refreshes.save(refresh)
    return refresh
