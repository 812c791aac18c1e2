"""Use cases of budgets: create, read, change, delete; and judge a project's budgets against what was rated, which
publishes `budget.threshold_crossed`, `budget.launches_blocked` / `_unblocked` and, for `stop_servers`, sends
`provisioner.stop_instance` for the scope's unprotected running servers, all in the transaction that judged."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal

from kernel.commands import StopInstance
from kernel.events import (
    BudgetCreated,
    BudgetDeleted,
    BudgetLaunchesBlocked,
    BudgetLaunchesUnblocked,
    BudgetScope,
    BudgetThresholdCrossed,
    BudgetUpdated,
    EventPayload,
)
from kernel.keyset import PageRequest
from kernel.unit_of_work import Transaction
from services.billing.budgets.domain import Budget, Threshold, forecast, judge, month_bounds, period_of
from services.billing.budgets.repository import BudgetFilter
from services.billing.errors import budget_name_taken, budget_not_found
from services.billing.unit_of_work import BillingUnitOfWork, Repositories


@dataclass(frozen=True)
class BudgetSpec:
    name: str
    scope: BudgetScope
    amount: Decimal
    currency: str
    thresholds: tuple[Threshold, ...]


@dataclass(frozen=True)
class Standing:
    """A budget with what its scope spent this month and the month's forecast."""

    budget: Budget
    period: str
    spent: Decimal
    forecast: Decimal


def _now() -> datetime:
    return datetime.now(UTC)


def _about(b: Budget) -> dict[str, object]:
    return {"budget_id": b.id, "name": b.name, "scope": b.scope}


async def create(uow: BillingUnitOfWork, *, project_id: str, spec: BudgetSpec, correlation_id: str) -> Standing:
    now = _now()
    budget = Budget(
        id=str(uuid.uuid4()),
        project_id=project_id,
        name=spec.name,
        scope=spec.scope,
        amount=spec.amount,
        currency=spec.currency,
        thresholds=spec.thresholds,
        created_at=now,
        updated_at=now,
        correlation_id=correlation_id,
    )
    async with uow.transaction() as tx:
        budget = tx.changed(budget, BudgetCreated(**_about(budget), amount=str(spec.amount), currency=spec.currency))
        if not await tx.repos.budgets.add(budget):
            raise budget_name_taken(spec.name)
        return await _judged(tx, budget, now)


async def update(
    uow: BillingUnitOfWork, *, project_id: str, budget_id: str, spec: BudgetSpec, correlation_id: str
) -> Standing:
    now = _now()
    async with uow.transaction() as tx:
        budget = await tx.repos.budgets.get(project_id, budget_id, lock=True)
        if budget is None:
            raise budget_not_found(budget_id)
        if spec.name != budget.name and await tx.repos.budgets.name_taken(project_id, spec.name, budget.id):
            raise budget_name_taken(spec.name)
        budget = replace(
            budget,
            name=spec.name,
            scope=spec.scope,
            amount=spec.amount,
            currency=spec.currency,
            thresholds=spec.thresholds,
            correlation_id=correlation_id,
            updated_at=now,
        )
        budget = tx.changed(budget, BudgetUpdated(**_about(budget), amount=str(spec.amount), currency=spec.currency))
        await tx.repos.budgets.save(budget)
        # A raised amount (or a threshold removed) unblocks at once.
        return await _judged(tx, budget, now)


async def get(uow: BillingUnitOfWork, project_id: str, budget_id: str) -> Standing:
    async with uow.reading() as repos:
        budget = await repos.budgets.get(project_id, budget_id)
        if budget is None:
            raise budget_not_found(budget_id)
        return await _standing(repos, budget, _now())


async def page(uow: BillingUnitOfWork, flt: BudgetFilter, request: PageRequest) -> tuple[list[Standing], str | None]:
    now = _now()
    async with uow.reading() as repos:
        found, cursor = await repos.budgets.page(flt, request)
        return [await _standing(repos, b, now) for b in found], cursor


async def delete(uow: BillingUnitOfWork, project_id: str, budget_id: str, correlation_id: str) -> None:
    async with uow.transaction() as tx:
        budget = await tx.repos.budgets.get(project_id, budget_id, lock=True)
        if budget is None:
            raise budget_not_found(budget_id)
        budget = replace(budget, correlation_id=correlation_id)
        events: list[EventPayload] = [BudgetDeleted(**_about(budget))]
        if budget.launches_blocked:
            period = budget.period or period_of(_now())
            events.insert(0, BudgetLaunchesUnblocked(**_about(budget), period=period, reason="the budget was deleted"))
        tx.emit(budget, *events)
        await tx.repos.budgets.delete(project_id, budget.id)


async def _standing(repos: Repositories, budget: Budget, now: datetime) -> Standing:
    period = period_of(now)
    start, end = month_bounds(period)
    spent = await repos.budgets.spent(budget, start, end)
    return Standing(budget, period, spent, forecast(spent, now))


async def _judged(tx: Transaction[Repositories], budget: Budget, now: datetime) -> Standing:
    """Judge one budget (its row locked by the caller) and save what changed."""
    standing = await _standing(tx.repos, budget, now)
    verdict = judge(budget, standing.spent, standing.forecast, standing.period)
    events: list[EventPayload] = []
    about = _about(budget)
    period = standing.period
    for t in verdict.crossed:
        events.append(
            BudgetThresholdCrossed(
                **about,
                period=period,
                basis=t.basis,
                percent=t.percent,
                amount=str(budget.amount),
                spent=str(standing.spent),
                forecast=str(standing.forecast),
                currency=budget.currency,
                actions=list(t.actions),
            )
        )
    if verdict.block:
        first = next(t for t in verdict.crossed + budget.thresholds if "block_launches" in t.actions)
        reason = f"{first.basis} spend reached {first.percent} % of {budget.amount} {budget.currency} in {period}"
        events.append(BudgetLaunchesBlocked(**about, period=period, reason=reason))
    if verdict.unblock:
        reason = "a new month began" if verdict.new_period else "the spend is below the budget's blocking thresholds"
        events.append(BudgetLaunchesUnblocked(**about, period=period, reason=reason))
    changed = replace(
        budget,
        period=period,
        crossed=verdict.keys,
        launches_blocked=(budget.launches_blocked or verdict.block) and not verdict.unblock,
    )
    if events:
        changed = tx.changed(changed, *events)
    if verdict.stop:
        for instance_id in await tx.repos.budgets.running(budget):
            command = StopInstance(
                instance_id=instance_id,
                requested_by=f"billing:{budget.id}",
                reason=f"budget {budget.name}: spend over its stop_servers threshold in {period}",
            )
            tx.emit(changed, command)
    if changed != budget:
        await tx.repos.budgets.save(changed)
    return replace(standing, budget=changed)


async def judge_project(tx: Transaction[Repositories], project_id: str, now: datetime) -> None:
    """Judge every budget of a project against what is rated now (within the caller's transaction)."""
    for budget in await tx.repos.budgets.of_project(project_id, lock=True):
        await _judged(tx, budget, now)


async def judge_all(uow: BillingUnitOfWork, now: datetime) -> None:
    """Judge every project's budgets: forecasts move with time alone, and a new month unblocks."""
    async with uow.reading() as repos:
        projects = await repos.budgets.projects()
    for project_id in projects:
        async with uow.transaction() as tx:
            await judge_project(tx, project_id, now)


__all__ = ["BudgetSpec", "Standing", "create", "delete", "get", "judge_all", "judge_project", "page", "update"]
