"""Rating one resource: what its facts are due, against what was rated, written as the difference. Runs inside the
caller's transaction, with the resource's row locked so that two events about it never rate at once."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

from kernel.unit_of_work import Transaction
from services.billing.catalogs.domain import PriceBook
from services.billing.costs.repository import row_of
from services.billing.unit_of_work import Repositories
from services.billing.usage.domain import MINIMUM_SECONDS, differences, due, intervals


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
    resource_id: str,
    now: datetime,
    event_id: uuid.UUID | None,
    *,
    period: tuple[datetime, datetime] | None = None,
    prices: Prices | None = None,
) -> int:
    """Write the lines that bring the resource's rated cost to what is due by `now` (only for parts starting within
    `period`, when given); how many were written."""
    repos = tx.repos
    resource = await repos.usage.lock(resource_id)
    if resource is None:
        return 0
    facts = await repos.usage.facts(resource_id)
    book, minimum = await (prices or Prices()).of(repos, resource.cloud_id)
    lines = differences(
        due(resource, facts, book, until=now, minimum_seconds=minimum),
        await repos.costs.rated(resource_id),
    )
    if period is not None:
        lines = [line for line in lines if period[0] <= line.key_start < period[1]]
    await repos.costs.add([row_of(resource, line, now, event_id) for line in lines])
    spans = intervals(facts)
    await repos.usage.rated(resource_id, open_=bool(spans) and spans[-1].end is None, until=now)
    return len(lines)


__all__ = ["Prices", "rate"]
