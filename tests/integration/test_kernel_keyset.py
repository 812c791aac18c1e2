"""Keyset pagination on a real PostgreSQL: every sort, both orders, ties, walks that meet inserts and deletes, and
cursors that were not issued here."""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from kernel.db import Pool
from kernel.errors import ValidationFailed
from kernel.keyset import Column, Listing, Order, PageRequest, Where, fetch_page
from kernel.pagination import encode_cursor
from tests.conftest import scratch_pool

pytestmark = pytest.mark.integration

T0 = datetime(2026, 1, 1, tzinfo=UTC)

ITEMS = Listing(
    "SELECT i.id, i.name, i.size, i.made_at, i.team FROM items i",
    {
        "made_at": Column("i.made_at", "timestamptz"),
        "name": Column("i.name", "text"),
        "size": Column("i.size", "bigint"),
    },
    Column("i.id", "uuid"),
)


@dataclass(frozen=True)
class Item:
    id: uuid.UUID
    name: str
    size: int
    made_at: datetime
    team: str


def item(row: asyncpg.Record) -> Item:
    return Item(row["id"], row["name"], row["size"], row["made_at"], row["team"])


@pytest.fixture
async def pool(module_database: str) -> AsyncIterator[Pool]:
    async with scratch_pool(
        module_database,
        """CREATE TABLE items (id uuid PRIMARY KEY, name text NOT NULL, size bigint NOT NULL,
               made_at timestamptz NOT NULL, team text NOT NULL)""",
    ) as pool:
        yield pool


async def insert(pool: Pool, count: int, *, team: str = "a", seed: int = 1) -> list[Item]:
    """`count` items whose names, sizes and times repeat, so that every sort meets ties."""
    rng = random.Random(seed)
    made = [
        Item(
            uuid.uuid4(),
            rng.choice(["web", "db", "cache", "Web", "étoile", "queue"]),
            rng.randint(1, 4),
            T0 + timedelta(seconds=rng.randint(0, 5)),
            team,
        )
        for _ in range(count)
    ]
    await pool.executemany(
        "INSERT INTO items (id, name, size, made_at, team) VALUES ($1, $2, $3, $4, $5)",
        [(i.id, i.name, i.size, i.made_at, i.team) for i in made],
    )
    return made


async def walk(pool: Pool, where: Where, *, limit: int, sort: str | None = None, order: Order = "asc") -> list[Item]:
    seen: list[Item] = []
    page, cursor = await fetch_page(pool, ITEMS, where, PageRequest(limit, sort=sort, order=order), item)
    seen += page
    while cursor is not None:
        assert len(page) == limit
        # The cursor alone carries the walk on: sort and order are not repeated.
        page, cursor = await fetch_page(pool, ITEMS, where, PageRequest(limit, cursor), item)
        seen += page
    return seen


async def ordered(pool: Pool, sort_sql: str, order: Order, team: str = "a") -> list[uuid.UUID]:
    """The ids of the items as PostgreSQL orders them itself, ties broken by id."""
    direction = order.upper()
    rows = await pool.fetch(
        f"SELECT id FROM items WHERE team = $1 ORDER BY {sort_sql} {direction}, id {direction}", team
    )
    return [r["id"] for r in rows]


@pytest.mark.parametrize("order", ["asc", "desc"])
@pytest.mark.parametrize(("sort", "sort_sql"), [(None, "made_at"), ("name", "name"), ("size", "size")])
async def test_every_sort_walks_every_row_once_in_order(
    pool: Pool, sort: str | None, sort_sql: str, order: Order
) -> None:
    await insert(pool, 47)
    await insert(pool, 5, team="b")
    for limit in (1, 7, 47, 100):
        got = await walk(pool, Where().add("team = {}", "a"), limit=limit, sort=sort, order=order)
        assert [i.id for i in got] == await ordered(pool, sort_sql, order)


async def test_filters_join_with_and_and_skip_what_was_not_given(pool: Pool) -> None:
    made = await insert(pool, 30)
    where = Where().add("team = {}", "a").given("size = ANY({}::bigint[])", (1, 2)).given("name = {}", None)
    got = await walk(pool, where, limit=4)
    assert {i.id for i in got} == {i.id for i in made if i.size in (1, 2)}
    nothing = Where().add("team = {}", "a").given("name = {}", "")
    assert await walk(pool, nothing, limit=4) == []  # an empty string is a value, unlike None


async def test_a_walk_meets_rows_inserted_and_deleted_meanwhile_without_repeats(pool: Pool) -> None:
    await insert(pool, 20)
    where = Where().add("team = {}", "a")
    first, cursor = await fetch_page(pool, ITEMS, where, PageRequest(8, sort="name"), item)
    assert cursor is not None
    await insert(pool, 10, seed=2)
    await pool.execute("DELETE FROM items WHERE id = ANY($1::uuid[])", [i.id for i in first[:3]])
    rest: list[Item] = []
    while cursor is not None:
        page, cursor = await fetch_page(pool, ITEMS, where, PageRequest(8, cursor), item)
        rest += page
    ids = [i.id for i in first + rest]
    assert len(ids) == len(set(ids))
    # The rest of the walk is exactly what sorts after the first page's last row now, whenever it was made.
    now = await ordered(pool, "name", "asc")
    assert [i.id for i in rest] == now[now.index(first[-1].id) + 1 :]


async def test_an_unknown_sort_is_a_validation_failure(pool: Pool) -> None:
    with pytest.raises(ValidationFailed) as caught:
        await fetch_page(pool, ITEMS, Where(), PageRequest(5, sort="team"), item)
    assert caught.value.extensions["errors"][0]["location"] == "query.sort"


# An id in a cursor: the same in every collection of the tests (each test process collects them all).
ANY_ID = "6f1c2b3a-4d5e-4f60-8a71-92b3c4d5e6f7"


@pytest.mark.parametrize(
    "cursor",
    [
        "not a cursor",
        encode_cursor("made_at", "asc", T0.isoformat()),  # too short
        encode_cursor("team", "asc", "a", ANY_ID),  # a sort the listing does not offer
        encode_cursor("name", "up", "web", ANY_ID),
        encode_cursor("made_at", "asc", "yesterday", ANY_ID),
        encode_cursor("made_at", "asc", "2026-01-01T00:00:00", ANY_ID),  # no offset
        encode_cursor("made_at", "asc", T0.isoformat(), "not-a-uuid"),
        encode_cursor("size", "asc", "3", ANY_ID),  # a number written as text
        encode_cursor("size", "asc", True, ANY_ID),
        encode_cursor("size", "asc", 2**70, ANY_ID),  # beyond bigint: the database refuses it
        encode_cursor("name", "asc", 5, ANY_ID),
        encode_cursor("name", "asc", "a\x00b", ANY_ID),
        encode_cursor("made_at", "asc", "0001-01-01T00:00:00+14:00", ANY_ID),
    ],
)
async def test_cursors_not_issued_here_are_validation_failures(pool: Pool, cursor: Any) -> None:
    await insert(pool, 3)
    with pytest.raises(ValidationFailed) as caught:
        await fetch_page(pool, ITEMS, Where(), PageRequest(5, cursor), item)
    assert caught.value.http_status == 422
    assert caught.value.extensions == {"errors": [{"location": "query.cursor"}]}
