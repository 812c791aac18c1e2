"""The asyncpg pool of a service: its own schema on the search path, JSON decoded as Python values."""

from __future__ import annotations

import json
from typing import Any

import asyncpg

Pool = asyncpg.Pool  # type: ignore[type-arg]  # asyncpg's Pool is generic over its record type
Connection = asyncpg.Connection  # type: ignore[type-arg]


async def _init_connection(conn: Connection) -> None:
    for typename in ("json", "jsonb"):
        await conn.set_type_codec(typename, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def create_pool(
    url: str, *, schema: str, application: str, min_size: int = 2, max_size: int = 10
) -> Pool:
    pool: Pool = await asyncpg.create_pool(
        url,
        min_size=min_size,
        max_size=max_size,
        init=_init_connection,
        server_settings={"search_path": f"{schema},public", "application_name": application},
    )
    return pool


async def ping(pool: Pool) -> bool:
    try:
        async with pool.acquire(timeout=2) as conn:
            value: Any = await conn.fetchval("SELECT 1")
            return bool(value == 1)
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return False
