"""Use cases of cost lines: their sums by what a caller groups them by, one page at a time; every line under a
filter, in batches, for an export; re-rating a period."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from kernel.errors import ValidationFailed
from kernel.pagination import decode_cursor, encode_cursor
from services.billing.costs.focus import focus
from services.billing.costs.query import Grouping
from services.billing.costs.repository import CostFilter
from services.billing.unit_of_work import BillingUnitOfWork


def _offset(cursor: str | None) -> int:
    if cursor is None:
        return 0
    (offset,) = decode_cursor(cursor, 1)
    if not isinstance(offset, int) or offset < 0:
        raise ValidationFailed("The cursor is not one this API issued.", errors=[{"location": "query.cursor"}])
    return offset


async def grouped(
    uow: BillingUnitOfWork, flt: CostFilter, grouping: Grouping, cursor: str | None, limit: int
) -> tuple[list[dict[str, Any]], str | None]:
    """A page of sums; the cursor of the next (groups are ordered by their values, so pages never overlap)."""
    offset = _offset(cursor)
    async with uow.reading() as repos:
        found = await repos.costs.grouped(flt, grouping.groups, grouping.tag_keys, offset, limit + 1)
    more = len(found) > limit
    return found[:limit], encode_cursor(offset + limit) if more else None


async def lines(uow: BillingUnitOfWork, flt: CostFilter) -> AsyncIterator[list[dict[str, Any]]]:
    """Every line under `flt` as FOCUS columns, a batch at a time, each batch read in a short read of its own."""
    after = 0
    while True:
        async with uow.reading() as repos:
            rows = await repos.costs.batch(flt, after)
        if not rows:
            return
        yield [focus(r) for r in rows]
        after = rows[-1]["id"]


__all__ = ["grouped", "lines"]
