"""Use cases of a project's guard-rails: read and change them, judge a launch against them (`check_launch`, in the
launch's own transaction), decide the approvals of launches that cost more than the project's threshold, and move
the end of an instance's lifetime. No FastAPI and no aio-pika here.

A launch's vCPUs and price are read before its transaction (the flavor from the cached catalogue, the price from the
catalog in force); what the project already holds is counted inside it, under the lock of the project's guard-rails
row, so two launches at once cannot both fit under a quota that has room for one.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Protocol

from adapters.base import CloudError
from kernel.errors import ClanaviError, InvalidState, ValidationFailed
from kernel.events import (
    ApprovalApproved,
    ApprovalRejected,
    ApprovalRequested,
    GuardrailsChanged,
    InstanceLifetimeExtended,
)
from kernel.keyset import PageRequest
from kernel.unit_of_work import Transaction, UnitOfWork
from services.provisioner.blocks import handlers as blocks
from services.provisioner.blocks.handlers import BlockStore
from services.provisioner.clouds.directory import CloudDirectory
from services.provisioner.clouds.domain import Cloud
from services.provisioner.clouds.repository import CloudRepository
from services.provisioner.errors import ProjectQuotaExceeded
from services.provisioner.guardrails import domain
from services.provisioner.guardrails.domain import Approval, Demand, Guardrails, Usage, Verdict
from services.provisioner.guardrails.repository import ApprovalFilter, GuardrailRepository
from services.provisioner.instances.domain import AWAITING_APPROVAL, ENDED, REJECTED, REQUESTED, InstanceRecord
from services.provisioner.instances.repository import InstanceRepository, owned_instance
from services.provisioner.owned import owned
from services.provisioner.prices import handlers as prices
from services.provisioner.prices.domain import HOURS_A_MONTH
from services.provisioner.prices.repository import PriceRepository
from services.provisioner.work.engine import WORK_CHANNEL


class GuardrailStore(BlockStore, Protocol):
    @property
    def clouds(self) -> CloudRepository: ...
    @property
    def prices(self) -> PriceRepository: ...
    @property
    def instances(self) -> InstanceRepository: ...
    @property
    def guardrails(self) -> GuardrailRepository: ...


@dataclass(frozen=True)
class Asked:
    """What a launch asks of the guard-rails beyond the machine: who asks (an approval names them), and a lifetime
    of its own (hours from now, or an end), never beyond the project's cap."""

    requested_by: str = ""
    lifetime_hours: float | None = None
    expires_at: datetime | None = None


# --- the guard-rails themselves ---------------------------------------------------------------------------------


async def get(uow: UnitOfWork[GuardrailStore], project_id: str) -> Guardrails:
    """The project's guard-rails (version 0, nothing limited, when they were never set)."""
    async with uow.reading() as repos:
        return await repos.guardrails.get(project_id) or Guardrails(project_id)


async def change(
    uow: UnitOfWork[GuardrailStore],
    wanted: Guardrails,
    *,
    changed_by: str,
    correlation_id: str,
    now: datetime | None = None,
) -> Guardrails:
    """Replace the project's guard-rails with `wanted`'s settings: a new version and a `guardrails.changed` event
    naming each setting changed, from and to; the same guard-rails again change nothing."""
    now = now or datetime.now(UTC)
    async with uow.transaction() as tx:
        before = await tx.repos.guardrails.lock(wanted.project_id) or Guardrails(wanted.project_id)
        after = domain.checked(
            replace(
                wanted,
                version=before.version + 1,
                changed_by=changed_by,
                changed_at=now,
                correlation_id=correlation_id,
                last_event_id=before.last_event_id,
            )
        )
        changed = domain.changes(before, after)
        if not changed:
            return before
        after = tx.changed(after, GuardrailsChanged(version=after.version, changed_by=changed_by, changes=changed))
        await tx.repos.guardrails.save(after)
    return after


# --- judging a launch -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CostOf:
    """What a launch's monthly cost is read from: its account's catalog in force, the flavor's price with the
    image's. It is read in the transaction that judges the launch, and only when the project's guard-rails limit or
    approve cost: a launch in a project without them reads no price."""

    cloud: Cloud
    flavor_id: str
    image_id: str | None = None


async def demand_of(
    clouds: CloudDirectory, cloud: Cloud, *, flavor_id: str, tags: dict[str, str], asked: Asked
) -> Demand:
    """What a launch of `flavor_id` on `cloud` asks for but its cost (see `CostOf`): its vCPUs, from the cached
    catalogue, its tags and the lifetime it asks for."""
    try:
        vcpus: int | None = (await clouds.flavor(cloud.id, flavor_id)).vcpus
    except (CloudError, ClanaviError):  # the launch's own check names the flavor; here it only counts 0
        vcpus = None
    return Demand(
        vcpus=vcpus,
        monthly=None,
        currency=None,
        tags=tags,
        lifetime_hours=asked.lifetime_hours,
        expires_at=asked.expires_at,
    )


async def _costed(
    repos: GuardrailStore, clouds: CloudDirectory, rails: Guardrails, demand: Demand, cost: CostOf | None, now: datetime
) -> Demand:
    """The demand with its monthly cost, when `cost` says where to read it and the guard-rails need it."""
    if cost is None or (rails.max_monthly_cost is None and rails.approval_threshold is None):
        return demand
    catalog = await prices.in_force_on(repos.prices, cost.cloud, at=now)
    region = prices.region_of(clouds, cost.cloud)
    price = prices.server_hourly(catalog.prices, region, cost.flavor_id, cost.image_id) if catalog else None
    if catalog is None or price is None:
        return demand
    return replace(demand, monthly=price * HOURS_A_MONTH, currency=catalog.currency)


async def usage(repos: GuardrailStore, clouds: CloudDirectory, rails: Guardrails, now: datetime) -> Usage:
    """What the project holds against its quotas: nothing is counted when it has none, monthly costs only when it
    limits them."""
    if rails.max_instances is None and rails.max_vcpus is None and rails.max_monthly_cost is None:
        return Usage()
    held = await repos.guardrails.held(rails.project_id)
    monthly = Decimal(0)
    unpriced = 0
    if rails.max_monthly_cost is not None:
        by_cloud: dict[str, prices.InForce | None] = {}
        for h in held:
            if h.cloud_id not in by_cloud:
                cloud = await repos.clouds.get(rails.project_id, h.cloud_id)
                by_cloud[h.cloud_id] = await prices.in_force_on(repos.prices, cloud, at=now) if cloud else None
            catalog = by_cloud[h.cloud_id]
            price = (
                prices.server_hourly(catalog.prices, prices.region_of(clouds, catalog.cloud), h.flavor_id, h.image_id)
                if catalog
                else None
            )
            if price is None or catalog is None or catalog.currency != rails.currency:
                unpriced += h.count
            else:
                monthly += price * HOURS_A_MONTH * h.count
    return Usage(
        instances=sum(h.count for h in held),
        vcpus=sum(h.vcpus for h in held),
        monthly=monthly,
        unpriced=unpriced,
        vcpus_unknown=sum(h.vcpus_unknown for h in held),
    )


def refuse(verdict: Verdict) -> None:
    """Raise what the verdict refuses: 422 naming each tag or lifetime problem, else 409 `quota_exceeded` naming
    each quota exceeded with its limit, what is used and what the launch adds."""
    if verdict.problems:
        raise ValidationFailed(
            "The launch does not meet the project's guard-rails.", errors=[dict(p) for p in verdict.problems]
        )
    if verdict.exceeded:
        named = "; ".join(f"{q.quota}: {q.used} used + {q.adds} > {q.limit}" for q in verdict.exceeded)
        raise ProjectQuotaExceeded(
            f"The launch would exceed the project's quotas ({named}).",
            quotas=[
                {"quota": q.quota, "limit": str(q.limit), "used": str(q.used), "adds": str(q.adds)}
                for q in verdict.exceeded
            ],
            notes=list(verdict.notes),
        )


async def check_launch(
    tx: Transaction[GuardrailStore],
    clouds: CloudDirectory,
    *,
    project_id: str,
    demand: Demand,
    cost: CostOf | None = None,
    now: datetime,
) -> tuple[Guardrails, Verdict, Demand]:
    """Judge a launch in its own transaction, holding the project's guard-rails row until it commits; raises what
    they refuse (see `refuse`). The guard-rails, the verdict (whether it waits for approval, when it expires) and the
    demand as judged, with its cost where it was read."""
    rails = await tx.repos.guardrails.lock(project_id) or Guardrails(project_id)
    demand = await _costed(tx.repos, clouds, rails, demand, cost, now)
    held = await usage(tx.repos, clouds, rails, now)
    verdict = domain.judge(rails, held, demand, now=now)
    refuse(verdict)
    return rails, verdict, demand


async def preview(
    uow: UnitOfWork[GuardrailStore],
    clouds: CloudDirectory,
    *,
    project_id: str,
    demand: Demand,
    cost: CostOf | None = None,
    now: datetime,
) -> Verdict:
    """What `check_launch` would say now, without refusing (a dry run's answer)."""
    async with uow.reading() as repos:
        rails = await repos.guardrails.get(project_id) or Guardrails(project_id)
        demand = await _costed(repos, clouds, rails, demand, cost, now)
        return domain.judge(rails, await usage(repos, clouds, rails, now), demand, now=now)


def approval_for(
    record: InstanceRecord, rails: Guardrails, demand: Demand, *, requested_by: str, now: datetime
) -> tuple[Approval, ApprovalRequested]:
    """The approval a launch that costs more than the project's threshold waits for, and its event."""
    monthly = demand.monthly or Decimal(0)
    approval = Approval(
        id=str(uuid.uuid4()),
        project_id=record.project_id,
        instance_id=record.id,
        state="pending",
        monthly=monthly,
        currency=rails.currency or "",
        threshold=rails.approval_threshold or Decimal(0),
        requested_by=requested_by,
        created_at=now,
        updated_at=now,
        correlation_id=record.correlation_id,
    )
    event = ApprovalRequested(
        approval_id=approval.id,
        instance_id=record.id,
        requested_by=requested_by,
        monthly=approval.monthly,
        currency=approval.currency,
        threshold=approval.threshold,
    )
    return approval, event


# --- approvals ------------------------------------------------------------------------------------------------


async def approval(uow: UnitOfWork[GuardrailStore], project_id: str, approval_id: str) -> Approval:
    async with uow.reading() as repos:
        return owned(await repos.guardrails.approval(project_id, approval_id), "approval", approval_id)


async def approval_of(uow: UnitOfWork[GuardrailStore], project_id: str, instance_id: str) -> Approval | None:
    """The approval a launch waits for (or was given), if it needed one."""
    async with uow.reading() as repos:
        found, _ = await repos.guardrails.approvals(
            ApprovalFilter(project_id, instance_id=instance_id), PageRequest(limit=1, order="desc")
        )
    return found[0] if found else None


async def approvals(
    uow: UnitOfWork[GuardrailStore], flt: ApprovalFilter, request: PageRequest
) -> tuple[list[Approval], str | None]:
    async with uow.reading() as repos:
        return await repos.guardrails.approvals(flt, request)


async def _decided(
    tx: Transaction[GuardrailStore], project_id: str, approval_id: str, wanted: domain.ApprovalState
) -> tuple[Approval, InstanceRecord | None]:
    """The approval to decide, locked, and its launch when it still waits (None: a replay of the same decision)."""
    found = owned(await tx.repos.guardrails.lock_approval(project_id, approval_id), "approval", approval_id)
    if found.state == wanted:
        return found, None
    if found.state != "pending":
        raise InvalidState(f"Approval {approval_id} is {found.state} already.", state=found.state)
    record = await tx.repos.instances.lock(project_id, found.instance_id)
    if record is None or record.state != AWAITING_APPROVAL:
        state = record.state if record else "gone"
        raise InvalidState(f"The launch of approval {approval_id} is {state}: there is nothing to decide.", state=state)
    return found, record


async def approve(
    uow: UnitOfWork[GuardrailStore],
    *,
    project_id: str,
    approval_id: str,
    decided_by: str,
    correlation_id: str,
    now: datetime | None = None,
) -> Approval:
    """Approve a waiting launch: the engine launches it. Approving it again answers the same; approving a rejected
    one is 409, and so is approving one a budget's launch block covers (`budget_exceeded`)."""
    now = now or datetime.now(UTC)
    async with uow.transaction() as tx:
        found, record = await _decided(tx, project_id, approval_id, "approved")
        if record is None:
            return found
        # Approving is what launches it: a budget's block refuses it as any launch (it stays pending).
        await blocks.check_launch(tx.repos, project_id, tags=record.tags, cluster_id=record.cluster_id)
        decided = replace(
            found,
            state="approved",
            decided_by=decided_by,
            decided_at=now,
            updated_at=now,
            correlation_id=correlation_id,
        )
        decided = tx.changed(
            decided, ApprovalApproved(approval_id=found.id, instance_id=found.instance_id, decided_by=decided_by)
        )
        await tx.repos.guardrails.save_approval(decided)
        await tx.repos.instances.save(
            replace(record, state=REQUESTED, pending_action="launch", pending_since=now, correlation_id=correlation_id)
        )
        tx.notify(WORK_CHANNEL)
    return decided


async def _reject(
    tx: Transaction[GuardrailStore],
    found: Approval,
    record: InstanceRecord | None,
    *,
    decided_by: str | None,
    reason: str,
    now: datetime,
    correlation_id: str,
) -> Approval:
    decided = replace(
        found,
        state="rejected",
        decided_by=decided_by,
        reason=reason,
        decided_at=now,
        updated_at=now,
        correlation_id=correlation_id,
    )
    event = ApprovalRejected(
        approval_id=found.id,
        instance_id=found.instance_id,
        decided_by=decided_by,
        reason=reason,
        expired=decided_by is None,
    )
    decided = tx.changed(decided, event)
    await tx.repos.guardrails.save_approval(decided)
    if record is not None and record.state == AWAITING_APPROVAL:
        await tx.repos.instances.save(replace(record, state=REJECTED, reason=f"Not approved: {reason}"))
    return decided


async def reject(
    uow: UnitOfWork[GuardrailStore],
    *,
    project_id: str,
    approval_id: str,
    decided_by: str,
    reason: str,
    correlation_id: str,
    now: datetime | None = None,
) -> Approval:
    """Reject a waiting launch, with the reason: its instance ends `rejected`, never asked of its cloud. Rejecting
    it again answers the same; rejecting an approved one is 409."""
    now = now or datetime.now(UTC)
    async with uow.transaction() as tx:
        found, record = await _decided(tx, project_id, approval_id, "rejected")
        if record is None:
            return found
        return await _reject(
            tx, found, record, decided_by=decided_by, reason=reason, now=now, correlation_id=correlation_id
        )


LAPSED = "nobody approved the launch in time"


async def lapse_approvals(uow: UnitOfWork[GuardrailStore], *, wait: timedelta, now: datetime, limit: int = 100) -> int:
    """Reject the approvals that waited longer than `wait`; how many."""
    async with uow.transaction() as tx:
        lapsed = await tx.repos.guardrails.lapsed_approvals(now - wait, limit)
        for found in lapsed:
            record = await tx.repos.instances.lock(found.project_id, found.instance_id)
            # A launch withdrawn meanwhile (terminated while it waited): only its approval ends.
            await _reject(
                tx, found, record, decided_by=None, reason=LAPSED, now=now, correlation_id=found.correlation_id
            )
    return len(lapsed)


# --- lifetimes ------------------------------------------------------------------------------------------------


async def extend(
    uow: UnitOfWork[GuardrailStore],
    *,
    project_id: str,
    instance_id: str,
    until: datetime,
    extended_by: str,
    correlation_id: str,
    now: datetime | None = None,
) -> InstanceRecord:
    """Move the end of an instance's lifetime to `until`: in the future, and at most the project's cap after its
    launch (422 otherwise); 409 for an instance with no lifetime, or one that expired or ended."""
    now = now or datetime.now(UTC)
    async with uow.transaction() as tx:
        record = owned(await tx.repos.instances.lock(project_id, instance_id), "instance", instance_id)
        if record.expires_at is None or record.expired_at is not None or record.state in ENDED:
            why = "has no lifetime" if record.expires_at is None else "expired already"
            if record.state in ENDED:
                why = f"is {record.state}"
            raise InvalidState(f"Instance {instance_id} {why}: there is no end to move.", state=record.state)
        rails = await tx.repos.guardrails.get(project_id) or Guardrails(project_id)
        problems = domain.extended_until(rails, created_at=record.created_at, now=now, until=until)
        if problems:
            raise ValidationFailed("The instance's lifetime cannot end then.", errors=problems)
        sent = domain.warnings_due(until, record.expiry_warnings, now)
        await tx.repos.guardrails.set_expiry(record.id, until, sent)
        event = InstanceLifetimeExtended(
            instance_id=record.id,
            cloud_id=record.cloud_id,
            expires_at=until,
            action=record.expiry_action or "stop",
            previous_expires_at=record.expires_at,
            extended_by=extended_by,
        )
        # Not saved through the instance's own row writes: a save would end the claim of an action in flight.
        tx.emit(replace(record, correlation_id=correlation_id), event)
    return replace(record, expires_at=until, warnings_sent=sent)


async def instance(uow: UnitOfWork[GuardrailStore], project_id: str, instance_id: str) -> InstanceRecord:
    async with uow.reading() as repos:
        return await owned_instance(repos.instances, project_id, instance_id)


__all__ = [
    "LAPSED",
    "Asked",
    "GuardrailStore",
    "approval",
    "approval_for",
    "approval_of",
    "approvals",
    "approve",
    "change",
    "check_launch",
    "CostOf",
    "demand_of",
    "extend",
    "get",
    "instance",
    "lapse_approvals",
    "preview",
    "refuse",
    "reject",
    "usage",
]
