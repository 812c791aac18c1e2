"""A service's pool on a real PostgreSQL: json and jsonb written and read as Python values through statements and COPY
alike, a document encoded already written as it is, and what PostgreSQL itself makes of what was written."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from kernel.db import Encoded, Pool
from tests.conftest import scratch_pool

pytestmark = pytest.mark.integration

DOCUMENTS: list[Any] = [
    {},
    {"team": "web", "tier": "1"},
    {"nested": {"list": [1, 2.5, None, True]}, "é": "ünïcode ☃"},
    [],
    "a string",
    42,
    None,
]


@pytest.fixture
async def pool(module_database: str) -> AsyncIterator[Pool]:
    async with scratch_pool(module_database, "CREATE TABLE docs (n integer PRIMARY KEY, b jsonb, j json)") as pool:
        yield pool


async def _as_postgres_sees_them(pool: Pool) -> list[tuple[int, str | None, str | None]]:
    async with pool.acquire() as conn:
        rows = await conn.fetch("SELECT n, b::text AS b, j::text AS j FROM docs ORDER BY n")
    return [(r["n"], r["b"], r["j"]) for r in rows]


async def test_documents_written_by_statement_and_by_copy_read_back_the_same(pool: Pool) -> None:
    async with pool.acquire() as conn:
        for n, doc in enumerate(DOCUMENTS):
            await conn.execute("INSERT INTO docs (n, b, j) VALUES ($1, $2, $3)", n, doc, doc)
        await conn.copy_records_to_table(
            "docs", records=[(100 + n, doc, doc) for n, doc in enumerate(DOCUMENTS)], columns=("n", "b", "j")
        )
        rows = await conn.fetch("SELECT n, b, j FROM docs ORDER BY n")
    by_statement = [(r["b"], r["j"]) for r in rows if r["n"] < 100]
    by_copy = [(r["b"], r["j"]) for r in rows if r["n"] >= 100]
    # A Python None is SQL NULL, not the JSON null, both ways.
    assert by_statement == by_copy == [(doc, doc) for doc in DOCUMENTS]
    seen = await _as_postgres_sees_them(pool)
    assert seen[1] == (1, '{"team": "web", "tier": "1"}', '{"team": "web", "tier": "1"}')
    assert seen[4] == (4, '"a string"', '"a string"')
    assert seen[6] == (6, None, None)


async def test_an_encoded_document_is_written_as_it_is(pool: Pool) -> None:
    shared = Encoded(b'{"team": "web"}')
    async with pool.acquire() as conn:
        await conn.copy_records_to_table(
            "docs", records=[(n, shared, shared) for n in range(3)], columns=("n", "b", "j")
        )
        await conn.execute("INSERT INTO docs (n, b, j) VALUES (3, $1, $2)", shared, shared)
        # Plain bytes are not a document: they are refused, not written as if they were one.
        with pytest.raises((TypeError, asyncpg.DataError)):
            await conn.execute("INSERT INTO docs (n, b) VALUES (4, $1)", b'{"team": "web"}')
        rows = await conn.fetch("SELECT b, j FROM docs ORDER BY n")
    assert [(r["b"], r["j"]) for r in rows] == [({"team": "web"}, {"team": "web"})] * 4
    # PostgreSQL parsed what it was given: a document that is not JSON is refused, nothing written.
    async with pool.acquire() as conn:
        with pytest.raises(asyncpg.InvalidTextRepresentationError):
            await conn.execute("INSERT INTO docs (n, b) VALUES (5, $1)", Encoded(b"{not json"))
        assert await conn.fetchval("SELECT count(*) FROM docs") == 4
