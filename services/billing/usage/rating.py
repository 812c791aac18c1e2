"""Rating resources: what their facts are due, against what was rated, written as the difference. Runs inside the
caller's transaction, a batch of resources at once: their rows locked, their facts and what they were rated read
with one statement each, rated in memory, and their lines written with one INSERT, however many resources the batch
holds (a delivery of events, a page of the hourly pass, of a re-rating, of a new price version)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from kernel.unit_of_work import Transaction
from services.billing.catalogs.domain import PriceBook
from services.billing.unit_of_work import Repositories
from services.billing.usage.domain import (
    MINIMUM_SECONDS,
    Correction,
    Line,
    Resource,
    differences,
    due,
    intervals,
)

# How many resources one `rate` takes when a pass goes over many (the hourly pass, a re-rating, a new price version):
# the statements are the same however many, so a larger page costs little more, but holds their rows locked longer.
PAGE = 500


@dataclass
class Prices:
    """The price books and minimums of the accounts a transaction rated for, read once in it however many of their
    resources it rates (a batch of events, a re-rating)."""

    known: dict[str, tuple[PriceBook, int]] = field(default_factory=dict)

    async def of(self, repos: Repositories, cloud_id: str) -> tuple[PriceBook, int]:
        if cloud_id not in self.known:
            driver = await repos.catalogs.driver(cloud_id)
            self.known[cloud_id] = (await repos.catalogs.book(cloud_id), MINIMUM_SECONDS.get(driver or "", 0))
        return self.known[cloud_id]


async def rate(
    tx: Transaction[Repositories],
    resources: Mapping[str, uuid.UUID | None],
    now: datetime,
    *,
    period: tuple[datetime, datetime] | None = None,
    prices: Prices | None = None,
) -> int:
    """Write the lines that bring each resource's rated cost to what is due by `now` (only for parts starting within
    `period`, when given), each line naming the event it was rated for (`resources`: resource id -> event id, None
    for none); how many were written. Resources not known are left alone."""
    repos = tx.repos
    prices = prices or Prices()
    locked = await repos.usage.lock(list(resources))
    ids = [r.id for r in locked]
    facts = await repos.usage.facts(ids)
    rated = await repos.costs.rated(ids)
    rated_now: list[tuple[Resource, uuid.UUID | None, list[Line | Correction]]] = []
    billed_now: dict[str, bool] = {}
    for resource in locked:
        book, minimum = await prices.of(repos, resource.cloud_id)
        known = facts.get(resource.id, [])
        lines = differences(due(resource, known, book, until=now, minimum_seconds=minimum), rated.get(resource.id, {}))
        if period is not None:
            lines = [line for line in lines if period[0] <= line.key_start < period[1]]
        rated_now.append((resource, resources[resource.id], lines))
        spans = intervals(known)
        billed_now[resource.id] = bool(spans) and spans[-1].end is None
    written = await repos.costs.add(rated_now, now)
    if billed_now:
        await repos.usage.rated(billed_now, now)
    return written


__all__ = ["PAGE", "Prices", "rate"]
