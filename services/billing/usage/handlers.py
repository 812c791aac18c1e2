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
from services.billing.usage.facts import learned
from services.billing.usage.rating import Prices, rate

log = logging.getLogger(__name__)

# How many resources still billed one transaction of the hourly pass rates.
_BATCH = 200


async def learn(tx: Transaction[Repositories], envelope: Envelope, payload: EventPayload) -> bool:
    """Keep what a lifecycle event tells of its resource; True when that changed what the resource is due (a fact
    not known before, or what a line is shown under), so that it is to be rated."""
    found = learned(payload, envelope.occurred_at)
    if found is None:
        return False
    await tx.repos.usage.learn(found.kind, found.resource_id, envelope.project_id, found.cloud_id, found.attributes)
    if found.fact is None:
        return False
    return await tx.repos.usage.add_fact(found.resource_id, found.fact, envelope.id)


async def learn_all(tx: Transaction[Repositories], events: Sequence[tuple[Envelope, EventPayload]]) -> None:
    """Learn a batch of lifecycle events, then rate each resource they changed once, at once. Resources are taken
    in the order of their ids, so that two batches never wait on each other's locks in turn."""
    changed: dict[str, uuid.UUID] = {}
    for envelope, payload in sorted(events, key=lambda e: (_subject(e[1]), e[0].occurred_at)):
        if await learn(tx, envelope, payload):
            changed[_subject(payload)] = envelope.id
    now = datetime.now(UTC)
    prices = Prices()
    for resource_id in sorted(changed):
        await rate(tx, resource_id, now, changed[resource_id], prices=prices)
    # What was rated may cross a budget's threshold: judged in the same transaction, within seconds of the event.
    for project_id in sorted({e.project_id for e, p in events if _subject(p) in changed}):
        await budgets.judge_project(tx, project_id, now)


def _subject(payload: EventPayload) -> str:
    return payload.subject or ""


async def rate_ended_hours(uow: BillingUnitOfWork, now: datetime) -> int:
    """Rate the hours that ended of every resource billed with no end yet; how many resources were rated."""
    horizon = now.replace(minute=0, second=0, microsecond=0)
    done = 0
    while True:
        async with uow.transaction() as tx:
            ids = await tx.repos.usage.open_before(horizon, _BATCH)
            prices = Prices()
            # Locked in the order of their ids, as the consumer locks them: the two never wait on each other in turn.
            for resource_id in sorted(ids):
                await rate(tx, resource_id, now, None, prices=prices)
        done += len(ids)
        if len(ids) < _BATCH:
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
    for n in range(0, len(ids), _BATCH):
        async with uow.transaction() as tx:
            prices = Prices()
            for resource_id in ids[n : n + _BATCH]:
                written += await rate(tx, resource_id, now, None, period=(start, end), prices=prices)
    return written


__all__ = ["learn", "learn_all", "rate_ended_hours", "rate_hours_forever", "rerate"]
