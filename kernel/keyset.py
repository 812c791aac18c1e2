"""Keyset pagination over PostgreSQL: one page of a filtered listing, sorted by one of the columns the listing offers
(ties broken by a unique key), and an opaque cursor that continues the same walk.

Keyset rather than OFFSET: a page costs the same wherever it is, and rows inserted or deleted meanwhile neither repeat
nor skip rows of a walk. The cursor carries the sort, the order and the last row's values, so a client passes only
`cursor` (with the same filters) to go on.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import asyncpg

from kernel.errors import ValidationFailed
from kernel.pagination import decode_cursor, encode_cursor

if TYPE_CHECKING:
    from kernel.db import Connection, Pool

T = TypeVar("T")

Order = Literal["asc", "desc"]
PgType = Literal["timestamptz", "text", "uuid", "bigint"]

_BAD_CURSOR = "The cursor is not one this API issued."


def _bad_cursor() -> ValidationFailed:
    return ValidationFailed(_BAD_CURSOR, errors=[{"location": "query.cursor"}])


@dataclass(frozen=True, slots=True)
class Column:
    """A column a listing is ordered by: its SQL expression, its PostgreSQL type, and its name in a fetched row
    (by default the expression after its table alias: `p.created_at` -> `created_at`). Only NOT NULL columns:
    a row comparison with NULL would drop rows from the walk."""

    sql: str
    pg_type: PgType
    field: str = ""

    @property
    def key(self) -> str:
        return self.field or self.sql.rsplit(".", 1)[-1]

    def to_cursor(self, value: Any) -> Any:
        if isinstance(value, datetime):
            return value.isoformat()
        if isinstance(value, uuid.UUID):
            return str(value)
        return value

    def from_cursor(self, value: Any) -> Any:
        """The SQL parameter for a value read from a cursor; ValueError when the cursor could not have held it."""
        if self.pg_type == "bigint":
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(value)
            return value
        if not isinstance(value, str):
            raise ValueError(value)
        if self.pg_type == "timestamptz":
            when = datetime.fromisoformat(value)
            if when.tzinfo is None:
                raise ValueError(value)
            return when
        if self.pg_type == "uuid":
            return uuid.UUID(value)
        return value


@dataclass(frozen=True)
class Listing:
    """What can be listed: the SELECT (without WHERE), the sorts a caller may choose by public name (the first is the
    default), the unique key that breaks ties, and the order used when a request names none."""

    select: str
    sorts: Mapping[str, Column]
    key: Column
    default_order: Order = "asc"

    def __post_init__(self) -> None:
        if not self.sorts:
            raise ValueError("a listing needs at least one sort")

    @property
    def default_sort(self) -> str:
        return next(iter(self.sorts))


@dataclass
class Where:
    """Conditions joined by AND, each written with `{}` where its value goes (the value travels as a parameter)."""

    conditions: list[str] = field(default_factory=list)
    args: list[Any] = field(default_factory=list)

    def add(self, condition: str, *values: Any) -> Where:
        self.conditions.append(condition.format(*(self.param(value) for value in values)))
        return self

    def param(self, value: Any) -> str:
        """The placeholder of one more parameter."""
        self.args.append(value)
        return f"${len(self.args)}"

    def given(self, condition: str, value: Any) -> Where:
        """`add` when the value was given (None means no filter; False and empty strings are values)."""
        if value is None or (isinstance(value, list | tuple) and not value):
            return self
        return self.add(condition, list(value) if isinstance(value, tuple) else value)

    def sql(self) -> str:
        return f" WHERE {' AND '.join(self.conditions)}" if self.conditions else ""


@dataclass(frozen=True, slots=True)
class PageRequest:
    """What a caller asked for: a cursor from an earlier page, or a sort (a name the listing offers) and an order
    (None: the listing's defaults); at most `limit` items."""

    limit: int
    cursor: str | None = None
    sort: str | None = None
    order: Order | None = None


async def fetch_page(
    db: Pool | Connection,
    listing: Listing,
    where: Where,
    page: PageRequest,
    to_record: Callable[[asyncpg.Record], T],
) -> tuple[list[T], str | None]:
    """One page of `listing` under `where`, and the cursor of the next page (None on the last)."""
    sort, order = page.sort or listing.default_sort, page.order or listing.default_order
    bounded = Where(list(where.conditions), list(where.args))
    if page.cursor:
        sort, order, (value, key) = _walk(listing, page.cursor)
        column = listing.sorts[sort]
        sign = ">" if order == "asc" else "<"
        bounded.add(
            f"({column.sql}, {listing.key.sql}) {sign} ({{}}::{column.pg_type}, {{}}::{listing.key.pg_type})",
            value,
            key,
        )
    elif sort in listing.sorts:
        column = listing.sorts[sort]
    else:
        raise ValidationFailed(
            f"Listings here sort by {', '.join(listing.sorts)}.",
            errors=[{"location": "query.sort", "message": f"one of {', '.join(listing.sorts)}"}],
        )
    direction = "ASC" if order == "asc" else "DESC"
    limit = bounded.param(page.limit + 1)
    text = (
        f"{listing.select}{bounded.sql()}"
        f" ORDER BY {column.sql} {direction}, {listing.key.sql} {direction} LIMIT {limit}"
    )
    try:
        rows = await db.fetch(text, *bounded.args)
    except (asyncpg.DataError, OverflowError) as exc:
        # Only a cursor carries values the database may find out of range (a time in year 1, say).
        raise _bad_cursor() from exc
    records = [to_record(row) for row in rows[: page.limit]]
    next_cursor = None
    if len(rows) > page.limit:
        last = rows[page.limit - 1]
        next_cursor = encode_cursor(
            sort, order, column.to_cursor(last[column.key]), listing.key.to_cursor(last[listing.key.key])
        )
    return records, next_cursor


def _walk(listing: Listing, cursor: str) -> tuple[str, Order, tuple[Any, Any]]:
    """The sort, order and last values a cursor carries."""
    sort, order, value, key = decode_cursor(cursor, 4)
    try:
        if sort not in listing.sorts or order not in ("asc", "desc"):
            raise ValueError(sort, order)
        return sort, order, (listing.sorts[sort].from_cursor(value), listing.key.from_cursor(key))
    except (TypeError, ValueError):
        raise _bad_cursor() from None


__all__ = ["Column", "Listing", "Order", "PageRequest", "PgType", "Where", "fetch_page"]
