"""The asyncpg pool of a service: its own schema on the search path, JSON decoded as Python values."""

from __future__ import annotations

import dataclasses
import functools
import json
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar

import asyncpg
import pydantic_core

if TYPE_CHECKING:
    from _typeshed import DataclassInstance
    from asyncpg.pool import PoolConnectionProxy

    Pool: TypeAlias = asyncpg.Pool[asyncpg.Record]
    # What handlers receive: a plain connection or one borrowed from a pool.
    Connection: TypeAlias = asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]
else:
    Pool = asyncpg.Pool
    Connection = asyncpg.Connection

D = TypeVar("D", bound="DataclassInstance")


async def _init_connection(conn: Connection) -> None:
    # pydantic-core's parser: 4-10x faster than json.loads on the small documents rows hold (tags, configs), which
    # a page of 50 records decodes a hundred of.
    # In the binary format, which COPY needs (a batch of many rows is written with it): jsonb is a version byte (1)
    # before the text, json the text alone.
    await conn.set_type_codec(
        "json", encoder=_json_bytes, decoder=pydantic_core.from_json, schema="pg_catalog", format="binary"
    )
    await conn.set_type_codec("jsonb", encoder=_jsonb_bytes, decoder=_from_jsonb, schema="pg_catalog", format="binary")


class Encoded(bytes):
    """A JSON document encoded already: written to a json or jsonb column as it is. For a value many rows of one
    write share (a resource's tags on each of its cost lines), encoded once."""


def _json_bytes(value: Any) -> bytes:
    return value if type(value) is Encoded else json.dumps(value).encode()


def _jsonb_bytes(value: Any) -> bytes:
    return b"\x01" + _json_bytes(value)


def _from_jsonb(data: bytes) -> Any:
    if data[:1] != b"\x01":
        raise ValueError(f"jsonb binary format version {data[:1]!r} is not known")
    return pydantic_core.from_json(data[1:])


async def _keep_session(conn: Connection) -> None:
    # What asyncpg always does on release stays (an open transaction is rolled back, listeners are dropped); its reset
    # query (UNLISTEN *, RESET ALL, unlock advisory locks, close cursors) is a round trip per request for nothing
    # here: no code changes a pooled connection's session (SET, session advisory locks, LISTEN, held cursors).
    # Listeners have connections of their own (kernel.notify), and the schema is a startup setting.
    return None


async def create_pool(url: str, *, schema: str, application: str, min_size: int = 2, max_size: int = 10) -> Pool:
    pool: Pool = await asyncpg.create_pool(
        url,
        min_size=min_size,
        max_size=max_size,
        init=_init_connection,
        reset=_keep_session,
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


def _as_held(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, list):
        return tuple(value)
    return value


@functools.cache
def _field_names(cls: type[DataclassInstance]) -> tuple[str, ...]:
    # Read once per class: listing a page of records reads rows by the hundred.
    return tuple(f.name for f in dataclasses.fields(cls))


def from_row(cls: type[D], row: asyncpg.Record | Mapping[str, Any], **given: Any) -> D:
    """The dataclass record a row holds, the row having a column of each field's name; uuids become text and arrays
    tuples, as frozen records hold them. `given` are the fields that are not one column."""
    if given:
        held = {name: _as_held(row[name]) for name in _field_names(cls) if name not in given}
        return cls(**held, **given)
    return cls(**{name: _as_held(row[name]) for name in _field_names(cls)})
