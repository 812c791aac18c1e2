"""Use cases of usage: learn a lifecycle event and rate what it changed at once; rate the hours of resources still
billed as the hours end; re-rate a period on request."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

from kernel.events import Envelope, EventPayload
from kernel.unit_of_work import Transaction
from services.billing.budgets import handlers as budgets
from services.billing.unit_of_work import BillingUnitOfWork, Repositories
from services.billing.usage.domain import Fact
from services.billing.usage.facts import Learned, learned
from services.billing.usage.rating import PAGE, rate

log = logging.getLogger(__name__)


def told(events: Sequence[tuple[Envelope, EventPayload]]) -> list[tuple[Envelope, Learned]]:
    """What each lifecycle event tells billing (the events that concern it), by resource, each resource's in the
    order they happened."""
    found = []
    for envelope, payload in sorted(events, key=lambda e: (e[1].subject or "", e[0].occurred_at)):
        learnt = learned(payload, envelope.occurred_at)
        if learnt is not None:
            found.append((envelope, learnt))
    return found


def accounts(tellings: Sequence[tuple[Envelope, Learned]]) -> set[str]:
    """The accounts whose usage the events tell of (`told`'s; whose prices rating them reads)."""
    return {learnt.cloud_id for _, learnt in tellings}


async def learn_all(tx: Transaction[Repositories], tellings: Sequence[tuple[Envelope, Learned]]) -> None:
    """Learn what a batch of lifecycle events told (`told`'s), then rate each resource they changed (told a fact not
    known before) once, at once: what they told of each resource and the facts they added are written with one
    statement each, whatever the batch holds."""
    # Each fact once, as its first telling told it: a second telling in the same batch is a replay.
    facts: dict[tuple[str, datetime, str], tuple[Learned, Fact, Envelope]] = {}
    for envelope, found in tellings:
        if found.fact is not None:
            key = (found.resource_id, found.fact.at, found.fact.change.value)
            facts.setdefault(key, (found, found.fact, envelope))
    described = await tx.repos.usage.learn([(envelope.project_id, found) for envelope, found in tellings])
    if described:
        # Lines written before a resource was described (its start handled before its launch) are shown under it.
        await tx.repos.costs.show_under(await tx.repos.usage.lock(described))
    new = await tx.repos.usage.add_facts([(f.resource_id, fact, e.id) for f, fact, e in facts.values()])
    # Each changed resource's lines name the last event that told it a new fact.
    changed: dict[str, uuid.UUID | None] = {}
    for key, (found, _, envelope) in facts.items():
        if key in new:
            changed[found.resource_id] = envelope.id
    if not changed and not described:
        return
    now = datetime.now(UTC)
    if changed:
        await rate(tx, changed, now)
    # What was rated (or is now shown under a tag or cluster) may cross a budget's threshold: judged in the same
    # transaction, within seconds of the event.
    judged = set(changed).union(described)
    for project_id in sorted({e.project_id for e, found in tellings if found.resource_id in judged}):
        await budgets.judge_project(tx, project_id, now)


async def rate_ended_hours(uow: BillingUnitOfWork, now: datetime) -> int:
    """Rate the hours that ended of every resource billed with no end yet; how many resources were rated."""
    horizon = now.replace(minute=0, second=0, microsecond=0)
    done = 0
    while True:
        async with uow.transaction() as tx:
            ids = await tx.repos.usage.open_before(horizon, PAGE)
            await rate(tx, dict.fromkeys(ids), now)
        done += len(ids)
        if len(ids) < PAGE:
            return done


async def rate_hours_forever(uow: BillingUnitOfWork, interval_seconds: float) -> None:
    while True:
        try:
            await rate_ended_hours(uow, datetime.now(UTC))
            await budgets.judge_all(uow, datetime.now(UTC))
        except Exception:  # the next pass tries again; one failure must not stop rating for good
            log.exception("the hourly rating pass failed")
        await asyncio.sleep(interval_seconds)


async def rerate(uow: BillingUnitOfWork, project_id: str, start: datetime, end: datetime) -> int:
    """Rate the project's usage in [start, end) again with the prices known now; how many lines that wrote (the
    differences, as Correction lines)."""
    async with uow.reading() as repos:
        ids = await repos.usage.of_project_before(project_id, end)
    written = 0
    now = datetime.now(UTC)
    for n in range(0, len(ids), PAGE):
        async with uow.transaction() as tx:
            written += await rate(tx, dict.fromkeys(ids[n : n + PAGE]), now, period=(start, end))
    return written


__all__ = ["accounts", "learn_all", "rate_ended_hours", "rate_hours_forever", "rerate", "told"]
