"""A listing of the API (`Listing`: its route, filters, sort and page size) and the walk through its pages."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from pydantic import BaseModel

from clanavi.client._calls import Answer, Call, Query, query
from clanavi.client._steps import Emit, Stream, fetch
from kernel.pagination import Page

B = TypeVar("B", bound=BaseModel)

__all__ = ["Listing", "walk"]


@dataclass(frozen=True, slots=True)
class Listing(Generic[B]):
    """The first page is asked for with `filters`, `ordering` (sort, order) and `limit`; each next one with the
    filters, the limit and the cursor only, since a cursor keeps the sort and order it was issued for."""

    path: str
    answer: Answer[Page[B]]
    filters: Query = ()
    ordering: Query = ()
    limit: int | None = None

    def call(self, cursor: str | None = None) -> Call[Page[B]]:
        rest = query(cursor=cursor) if cursor else self.ordering
        return Call("GET", self.path, self.answer, (*self.filters, *query(limit=self.limit), *rest))


def walk(listing: Listing[B]) -> Stream[Page[B]]:
    """Every page, each asked for when the one before has been taken."""
    cursor: str | None = None
    while True:
        page = yield from fetch(listing.call(cursor))
        yield Emit(page)
        if not page.next_cursor:
            return
        cursor = page.next_cursor
