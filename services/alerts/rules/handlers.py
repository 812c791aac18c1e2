"""Use cases of alert rules: create, read, change, delete. A rule on a metric must name one that is published in the
project (a cloud metric, or one pushed there), and its channels must be the project's."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime

from kernel.events import CLOUD_METRICS
from kernel.keyset import PageRequest
from kernel.unit_of_work import Transaction
from services.alerts.errors import name_taken, rule_not_found, unknown_channels, unknown_metric
from services.alerts.rules.domain import Rule, RuleSpec
from services.alerts.rules.repository import RuleFilter
from services.alerts.unit_of_work import AlertsUnitOfWork, Repositories


def _now() -> datetime:
    return datetime.now(UTC)


async def _check(tx: Transaction[Repositories], project_id: str, spec: RuleSpec) -> None:
    metric = spec.condition.metric
    if (
        metric is not None
        and metric not in CLOUD_METRICS
        and not await tx.repos.knowledge.metric_known(project_id, metric)
    ):
        raise unknown_metric(metric)
    found = await tx.repos.channels.existing(project_id, spec.channel_ids)
    missing = [c for c in spec.channel_ids if c not in found]
    if missing:
        raise unknown_channels(missing)


async def create(uow: AlertsUnitOfWork, *, project_id: str, spec: RuleSpec, correlation_id: str) -> Rule:
    now = _now()
    rule = Rule(
        id=str(uuid.uuid4()),
        project_id=project_id,
        name=spec.name,
        kind=spec.kind,
        severity=spec.severity,
        condition=spec.condition,
        channel_ids=spec.channel_ids,
        routing=spec.routing,
        correlation_id=correlation_id,
        created_at=now,
        updated_at=now,
    )
    async with uow.transaction() as tx:
        await _check(tx, project_id, spec)
        if not await tx.repos.rules.add(rule):
            raise name_taken("an alert rule", spec.name)
    return rule


async def update(uow: AlertsUnitOfWork, *, project_id: str, rule_id: str, spec: RuleSpec, correlation_id: str) -> Rule:
    async with uow.transaction() as tx:
        rule = await tx.repos.rules.get(project_id, rule_id, lock=True)
        if rule is None:
            raise rule_not_found(rule_id)
        if spec.name != rule.name and await tx.repos.rules.name_taken(project_id, spec.name, rule.id):
            raise name_taken("an alert rule", spec.name)
        await _check(tx, project_id, spec)
        rule = replace(
            rule,
            name=spec.name,
            kind=spec.kind,
            severity=spec.severity,
            condition=spec.condition,
            channel_ids=spec.channel_ids,
            routing=spec.routing,
            correlation_id=correlation_id,
            updated_at=_now(),
        )
        await tx.repos.rules.save(rule)
    return rule


async def get(uow: AlertsUnitOfWork, project_id: str, rule_id: str) -> Rule:
    async with uow.reading() as repos:
        rule = await repos.rules.get(project_id, rule_id)
    if rule is None:
        raise rule_not_found(rule_id)
    return rule


async def page(uow: AlertsUnitOfWork, flt: RuleFilter, request: PageRequest) -> tuple[list[Rule], str | None]:
    async with uow.reading() as repos:
        return await repos.rules.page(flt, request)


async def delete(uow: AlertsUnitOfWork, project_id: str, rule_id: str) -> None:
    """The rule goes; its live alerts are dropped with it (they resolve nothing: no rule judges them any more)."""
    async with uow.transaction() as tx:
        rule = await tx.repos.rules.get(project_id, rule_id, lock=True)
        if rule is None:
            raise rule_not_found(rule_id)
        for alert in await tx.repos.alerts.live_of_rule(rule.id):
            await tx.repos.alerts.drop(alert.id)
        await tx.repos.rules.delete(project_id, rule.id)
