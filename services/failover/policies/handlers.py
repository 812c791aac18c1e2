"""Use cases of health policies: create, read, change, delete, and reset the breaker."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime

from kernel.events.failover import BreakerClosed, HealthPolicyChanged, HealthPolicyCreated, HealthPolicyDeleted
from kernel.keyset import PageRequest
from services.failover.errors import name_taken, policy_not_found
from services.failover.health.domain import GONE
from services.failover.health.handlers import start_watching
from services.failover.health.remediation import remediate
from services.failover.policies.domain import Policy, PolicySpec
from services.failover.policies.repository import PolicyFilter
from services.failover.unit_of_work import FailoverUnitOfWork


def _now() -> datetime:
    return datetime.now(UTC)


async def create(
    uow: FailoverUnitOfWork,
    *,
    project_id: str,
    spec: PolicySpec,
    correlation_id: str,
) -> Policy:
    now = _now()
    policy = Policy(
        id=str(uuid.uuid4()),
        project_id=project_id,
        name=spec.name,
        target=spec.target,
        signals=spec.signals,
        grace_seconds=spec.grace_seconds,
        action=spec.action,
        breaker=spec.breaker,
        correlation_id=correlation_id,
        created_at=now,
        updated_at=now,
        address_id=spec.address_id,
    )
    async with uow.transaction() as tx:
        policy = tx.changed(
            policy,
            HealthPolicyCreated(policy_id=policy.id, name=spec.name, target=spec.target.as_json(), action=spec.action),
        )
        if not await tx.repos.policies.add(policy):
            raise name_taken(spec.name)
        await start_watching(tx, policy, now)
    return policy


async def update(
    uow: FailoverUnitOfWork,
    *,
    project_id: str,
    policy_id: str,
    spec: PolicySpec,
    correlation_id: str,
) -> Policy:
    now = _now()
    async with uow.transaction() as tx:
        policy = await tx.repos.policies.get(project_id, policy_id, lock=True)
        if policy is None:
            raise policy_not_found(policy_id)
        if spec.name != policy.name and await tx.repos.policies.name_taken(project_id, spec.name, policy.id):
            raise name_taken(spec.name)
        policy = replace(
            policy,
            name=spec.name,
            target=spec.target,
            signals=spec.signals,
            grace_seconds=spec.grace_seconds,
            action=spec.action,
            address_id=spec.address_id,
            breaker=spec.breaker,
            correlation_id=correlation_id,
            updated_at=now,
        )
        policy = tx.changed(
            policy,
            HealthPolicyChanged(policy_id=policy.id, name=spec.name, target=spec.target.as_json(), action=spec.action),
        )
        await tx.repos.policies.save(policy)
        # A new target adds the instances it matches; those it no longer matches keep their record until gone.
        await start_watching(tx, policy, now)
    return policy


async def get(uow: FailoverUnitOfWork, project_id: str, policy_id: str) -> Policy:
    async with uow.reading() as repos:
        policy = await repos.policies.get(project_id, policy_id)
    if policy is None:
        raise policy_not_found(policy_id)
    return policy


async def page(uow: FailoverUnitOfWork, flt: PolicyFilter, request: PageRequest) -> tuple[list[Policy], str | None]:
    async with uow.reading() as repos:
        return await repos.policies.page(flt, request)


async def delete(uow: FailoverUnitOfWork, project_id: str, policy_id: str, correlation_id: str) -> None:
    async with uow.transaction() as tx:
        policy = await tx.repos.policies.get(project_id, policy_id, lock=True)
        if policy is None:
            raise policy_not_found(policy_id)
        tx.emit(replace(policy, correlation_id=correlation_id), HealthPolicyDeleted(policy_id=policy.id))
        await tx.repos.policies.delete(project_id, policy.id)


async def reset_breaker(uow: FailoverUnitOfWork, project_id: str, policy_id: str, correlation_id: str) -> Policy:
    """Close the breaker by hand: the window starts afresh (what became unhealthy before no longer counts), and the
    members still unhealthy and left as they were are remediated now, one by one through the breaker again."""
    now = _now()
    async with uow.transaction() as tx:
        policy = await tx.repos.policies.get(project_id, policy_id, lock=True)
        if policy is None:
            raise policy_not_found(policy_id)
        if not policy.breaker_open:
            return policy
        policy = replace(policy, breaker_open=False, breaker_reason="", correlation_id=correlation_id, updated_at=now)
        policy = tx.changed(policy, BreakerClosed(policy_id=policy.id, by="reset"))
        await tx.repos.policies.save(policy)
        held = []
        for watch, member in await tx.repos.watches.of_policy(policy.id):
            if watch.unhealthy_since is not None:
                await tx.repos.watches.save(replace(watch, unhealthy_since=None))
            if watch.health == "unhealthy" and watch.remediation is None and member.state not in GONE:
                held.append((replace(watch, unhealthy_since=now), member))
        for watch, member in held:
            await tx.repos.watches.save(watch)
            policy, watch = await remediate(tx, policy, watch, member, policy, now)
            await tx.repos.watches.save(watch)
    return policy
