"""Judging rules as their inputs arrive (metric samples, events, budget thresholds) and as time passes (the
evaluator's pass): each judgement moves one alert per rule and label set, records the event of a change, and makes
the rule's notification groups due."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from kernel.events import Envelope, MetricPoint
from kernel.events.budgets import BudgetThresholdCrossed
from kernel.keyset import PageRequest
from kernel.unit_of_work import Chained, Transaction
from services.alerts.errors import alert_not_found
from services.alerts.firing.domain import Alert, Outcome, inhibited, new_alert, observe, settle
from services.alerts.firing.repository import AlertFilter
from services.alerts.rules.domain import Rule, fingerprint
from services.alerts.silences.domain import Silence
from services.alerts.unit_of_work import NOTIFY_CHANNEL, AlertsUnitOfWork, Repositories


def _now() -> datetime:
    return datetime.now(UTC)


async def _record(tx: Transaction[Repositories], rule: Rule, before: Alert | None, outcome: Outcome) -> None:
    after = outcome.alert
    if after is None:
        if before is not None:
            await tx.repos.alerts.drop(before.id)
        return
    if outcome.event is not None:
        after = tx.changed(after, outcome.event)
        if rule.channel_ids:
            await tx.repos.groups.changed(
                rule.project_id,
                rule.id,
                after.group_key,
                rule.channel_ids,
                after.updated_at,
                rule.routing.group_wait_seconds,
                rule.routing.group_interval_seconds,
            )
            tx.notify(NOTIFY_CHANNEL)
    await tx.repos.alerts.put(after)


async def judge(
    tx: Transaction[Repositories],
    rule: Rule,
    series: dict[str, str],
    holds: bool,
    value: float | None,
    summary: str,
    now: datetime,
    origin: Chained,
    observed_at: datetime | None = None,
) -> None:
    """The rule's condition for one label set was judged: `holds` or not, on an input taken at `observed_at` (None:
    now, as the evaluator's pass judges). An input older than one the alert was already judged on, delivered late or
    again, changes nothing: a breaching sample taken before the one that resolved an alert does not fire it anew."""
    key = fingerprint(rule.labels_for(series))
    alert = await tx.repos.alerts.live(rule.id, key)
    if alert is None:
        if not holds:
            return
        newest = await tx.repos.alerts.last_observed(rule.id, key) if observed_at is not None else None
        if newest is not None and observed_at is not None and observed_at <= newest:
            return
        fresh = new_alert(str(uuid.uuid4()), rule, series, value, summary, now, origin.correlation_id)
        fresh = replace(fresh, last_event_id=origin.last_event_id, observed_at=observed_at)
        await _record(tx, rule, None, settle(rule, fresh, now))
        return
    if observed_at is not None and alert.observed_at is not None and observed_at < alert.observed_at:
        return
    outcome = observe(rule, alert, holds, value, summary, now)
    if outcome.alert is not None and observed_at is not None:
        outcome = Outcome(replace(outcome.alert, observed_at=observed_at), outcome.event)
    await _record(tx, rule, alert, outcome)


def _series(point: MetricPoint) -> tuple[str, dict[str, str]]:
    labels = {"instance_id": point.instance_id} if point.instance_id else dict(point.labels)
    return fingerprint(labels), labels


async def on_samples(
    tx: Transaction[Repositories], project_id: str, samples: Sequence[MetricPoint], origin: Chained
) -> None:
    now = _now()
    names = {p.name for p in samples}
    await tx.repos.knowledge.saw_metrics(project_id, names, now)
    rules = await tx.repos.rules.of_metrics(project_id, names)
    if not rules:
        return
    instances = await tx.repos.knowledge.instances(project_id, {p.instance_id for p in samples if p.instance_id})
    # The newest sample of each series decides (a batch may hold several of one).
    newest: dict[tuple[str, str], MetricPoint] = {}
    for p in samples:
        key = (p.name, _series(p)[0])
        if key not in newest or newest[key].at <= p.at:
            newest[key] = p
    for rule in rules:
        cond = rule.condition
        for (metric, series_key), p in newest.items():
            if metric != cond.metric:
                continue
            _, labels = _series(p)
            if rule.kind == "no_data":
                # Every series is kept, whatever the scope: the scope is judged when one goes quiet (an instance's
                # launch may be handled after its first sample).
                await tx.repos.knowledge.saw_series(project_id, metric, series_key, p.instance_id, labels, p.at)
                await judge(tx, rule, labels, False, p.value, "", now, origin, p.at)
                continue
            if not cond.scope.covers(p.instance_id, instances.get(p.instance_id or "")):
                continue
            holds = cond.breached(p.value)
            summary = f"{metric} is {p.value:g} ({cond.operator} {cond.value:g})"
            await judge(tx, rule, labels, holds, p.value, summary, now, origin, p.at)


async def on_event(tx: Transaction[Repositories], envelope: Envelope, instance_id: str | None, origin: Chained) -> None:
    """An event an event-rate rule may count."""
    rules = await tx.repos.rules.of_event(envelope.project_id, envelope.type)
    if not rules:
        return
    now = _now()
    instances = await tx.repos.knowledge.instances(envelope.project_id, [instance_id] if instance_id else [])
    for rule in rules:
        cond = rule.condition
        if not cond.scope.covers(instance_id, instances.get(instance_id or "")):
            continue
        assert cond.window_seconds is not None and cond.count is not None
        await tx.repos.knowledge.hit(rule.id, str(envelope.id), envelope.occurred_at)
        count = await tx.repos.knowledge.hits_since(rule.id, now - timedelta(seconds=cond.window_seconds))
        summary = f"{count} {envelope.type} in {cond.window_seconds:g} s (at least {cond.count})"
        # A count does not depend on the order its events arrive in: judged without their times.
        await judge(tx, rule, {"event_type": envelope.type}, count >= cond.count, float(count), summary, now, origin)


async def on_budget(
    tx: Transaction[Repositories], project_id: str, crossed: BudgetThresholdCrossed, origin: Chained
) -> None:
    now = _now()
    for rule in await tx.repos.rules.of_kind(project_id, "budget"):
        cond = rule.condition
        if cond.budget_id is not None and cond.budget_id != crossed.budget_id:
            continue
        if cond.basis is not None and cond.basis != crossed.basis:
            continue
        if cond.min_percent is not None and crossed.percent < cond.min_percent:
            continue
        labels = {"budget_id": crossed.budget_id, "budget": crossed.name, "period": crossed.period}
        summary = (
            f"budget {crossed.name} reached {crossed.percent}% ({crossed.basis}): "
            f"{crossed.spent} of {crossed.amount} {crossed.currency}"
        )
        await judge(tx, rule, labels, True, float(crossed.percent), summary, now, origin)


async def evaluate(uow: AlertsUnitOfWork, now: datetime | None = None) -> None:
    """The evaluator's pass over what time alone changes, every project's at once: a few statements a pass whatever
    the number of rules (the quiet series of every no-data rule, the live alerts of every event-rate and budget rule,
    each read with one), then one judgement for each series or alert found."""
    now = now or _now()
    async with uow.transaction() as tx:
        alerts = await tx.repos.alerts.unsettled()
        rules = await tx.repos.rules.by_ids({a.rule_id for a in alerts})
        for alert in alerts:
            rule = rules.get(alert.rule_id)
            if rule is not None:
                await _record(tx, rule, alert, settle(rule, alert, now))
    async with uow.transaction() as tx:
        await _quiet(tx, await tx.repos.rules.of_kind(None, "no_data"), now)
        timed = [*await tx.repos.rules.of_kind(None, "event_rate"), *await tx.repos.rules.of_kind(None, "budget")]
        live = await tx.repos.alerts.live_of_rules([r.id for r in timed])
        for rule in timed:
            if rule.id not in live:
                continue
            if rule.kind == "event_rate":
                await _rate(tx, rule, live[rule.id], now)
            else:
                await _budget_period(tx, rule, live[rule.id], now)
        await tx.repos.groups.repeat_due(now)


def _origin(rule: Rule) -> Chained:
    return rule


async def _quiet(tx: Transaction[Repositories], rules: Sequence[Rule], now: datetime) -> None:
    """Every no-data rule's series that went quiet, judged as holding (those in its scope)."""
    watched = []
    for rule in rules:
        cond = rule.condition
        assert cond.metric is not None and cond.quiet_seconds is not None
        watched.append((rule.project_id, cond.metric, now - timedelta(seconds=cond.quiet_seconds)))
    quiet = await tx.repos.knowledge.quiet_series(watched)
    instances = await tx.repos.knowledge.instances_of((rules[n].project_id, i) for n, i, _, _ in quiet if i)
    for n, instance_id, labels, last_at in quiet:
        rule = rules[n]
        instance = instances.get((rule.project_id, instance_id or ""))
        if not rule.condition.scope.covers(instance_id, instance):
            continue
        summary = f"no {rule.condition.metric} since {last_at.isoformat()}"
        await judge(tx, rule, labels, True, None, summary, now, _origin(rule))


async def _rate(tx: Transaction[Repositories], rule: Rule, alerts: Sequence[Alert], now: datetime) -> None:
    cond = rule.condition
    assert cond.window_seconds is not None and cond.count is not None
    count = await tx.repos.knowledge.hits_since(rule.id, now - timedelta(seconds=cond.window_seconds))
    for alert in alerts:
        if count < cond.count:
            await _record(tx, rule, alert, observe(rule, alert, False, float(count), "", now))


async def _budget_period(tx: Transaction[Repositories], rule: Rule, alerts: Sequence[Alert], now: datetime) -> None:
    """A budget alert is about one month: it resolves when the month is over."""
    month = now.strftime("%Y-%m")
    for alert in alerts:
        if alert.labels.get("period", month) != month:
            await _record(tx, rule, alert, observe(rule, alert, False, alert.value, "", now))


async def page(
    uow: AlertsUnitOfWork, flt: AlertFilter, request: PageRequest
) -> tuple[list[tuple[Alert, bool, bool]], str | None]:
    """A page of alerts, each with whether a silence in force silences it now, and whether a firing alert inhibits
    it."""
    now = _now()
    async with uow.reading() as repos:
        records, cursor = await repos.alerts.page(flt, request)
        silences = await repos.silences.in_force(flt.project_id, now)
        inhibitors = await repos.alerts.inhibitors(flt.project_id)
    return [(a, _silenced(a, silences, now), inhibited(a.labels, inhibitors)) for a in records], cursor


def _silenced(a: Alert, silences: Sequence[Silence], now: datetime) -> bool:
    return any(s.silences(a.labels, now) for s in silences)


async def get(uow: AlertsUnitOfWork, project_id: str, alert_id: str) -> tuple[Alert, bool, bool]:
    now = _now()
    async with uow.reading() as repos:
        alert = await repos.alerts.get(project_id, alert_id)
        if alert is None:
            raise alert_not_found(alert_id)
        silences = await repos.silences.in_force(project_id, now)
        inhibitors = await repos.alerts.inhibitors(project_id)
    return alert, _silenced(alert, silences, now), inhibited(alert.labels, inhibitors)
