"""The reference servers of `bench.gateway`, each served by `kernel.http.serve` exactly as the services are.

The anchor is the simplest service a user could write for the instance routes: one FastAPI app with one asyncpg pool
and no authentication. It answers the platform's own answer models (`InstanceOut`, the page model) from the
platform's own rows, so the gateway's figures can be read against what the same job costs without a platform:

- `GET /v1/instances?limit=50`: one project's rows of the provisioner's `instances` table, ordered by
  (created_at, id), as a page with a cursor;
- `GET /v1/instances/{id}`: one of those rows;
- `POST /v1/instances`: validates `InstanceCreate`, inserts one row into a table of its own (schema `anchor`, which
  `create_schema` makes) and answers 202 with the new record.

`python -m bench.anchor anchor PORT` serves it, reading the database URL and the project from the environment
(`CLANAVI_BENCH_ANCHOR_DATABASE_URL`, `CLANAVI_BENCH_ANCHOR_PROJECT`), so no password shows in a process listing.

`python -m bench.anchor hello PORT` serves the floor of the HTTP stack: a bare FastAPI app answering `GET /hello`
with a small JSON object. Both live apart from the benchmark so that their memory is theirs alone.
"""

from __future__ import annotations

import base64
import json
import os
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Annotated, Any

import asyncpg
from fastapi import FastAPI, HTTPException, Query

from kernel.db import Connection, Pool
from services.provisioner.schemas import InstanceCreate, InstanceOut, Page

DATABASE_ENV = "CLANAVI_BENCH_ANCHOR_DATABASE_URL"
PROJECT_ENV = "CLANAVI_BENCH_ANCHOR_PROJECT"
SCHEMA = "anchor"
APPLICATION_NAME = "bench-anchor"

# The columns are the answer model's own fields, so a field added to InstanceOut is read here too (or the anchor
# fails loudly at start instead of answering less than the platform does).
_FIELDS = tuple(InstanceOut.model_fields)
_COLUMNS = ", ".join(
    f"{name}::text AS {name}" if name in ("id", "template_id", "cluster_id") else name for name in _FIELDS
)

# The same rows, in the same order, through the same index (project_id, created_at, id) as the provisioner's list.
# One statement per shape, as the provisioner's listing builds them: `$2 IS NULL OR ...` in one prepared statement
# would leave PostgreSQL a generic plan that serves both shapes worse.
_LIST = f"""SELECT {_COLUMNS} FROM provisioner.instances WHERE project_id = $1
            ORDER BY created_at, id LIMIT $2"""
_LIST_AFTER = f"""SELECT {_COLUMNS} FROM provisioner.instances WHERE project_id = $1 AND (created_at, id) > ($3, $4)
                  ORDER BY created_at, id LIMIT $2"""
_GET = f"SELECT {_COLUMNS} FROM provisioner.instances WHERE id = $1 AND project_id = $2"
_INSERT = f"""INSERT INTO {SCHEMA}.instances
                  (project_id, cloud_id, name, image_id, flavor_id, state, pending_action, key_name,
                   security_group_ids, user_data, zone, tags)
              VALUES ($1, $2, $3, $4, $5, 'requested', 'launch', $6, $7, $8, $9, $10)
              RETURNING {_COLUMNS}"""

# What a service that accepts launches would keep of one: the record the answer shows, what it launches with, and
# when to look at it next, with a primary key and the index its own listing would use.
_DDL = f"""
DROP SCHEMA IF EXISTS {SCHEMA} CASCADE;
CREATE SCHEMA {SCHEMA};
CREATE TABLE {SCHEMA}.instances (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    project_id text NOT NULL,
    cloud_id text NOT NULL,
    name text NOT NULL,
    image_id text NOT NULL,
    flavor_id text NOT NULL,
    provider_id text,
    state text NOT NULL,
    pending_action text,
    reason text,
    private_ips text[] NOT NULL DEFAULT '{{}}',
    key_name text,
    security_group_ids text[] NOT NULL DEFAULT '{{}}',
    user_data text,
    zone text,
    tags jsonb NOT NULL DEFAULT '{{}}',
    discovered boolean NOT NULL DEFAULT false,
    template_id uuid,
    template_version integer,
    inputs jsonb NOT NULL DEFAULT '{{}}',
    boot jsonb,
    cluster_id uuid,
    cluster_role text,
    expires_at timestamptz,
    expiry_action text,
    placement jsonb,
    requested_by text,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX instances_listing ON {SCHEMA}.instances (project_id, created_at, id);
"""


async def create_schema(conn: Connection) -> None:
    """The anchor's own table, which its POST writes, made afresh (the benchmark makes it before starting the
    anchor, and its row counts start from nothing)."""
    await conn.execute(_DDL)


def cursor_after(created_at: datetime, key: str) -> str:
    """The cursor of the page after the row with this (created_at, id)."""
    raw = json.dumps([created_at.isoformat(), key]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        created_at, key = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        return datetime.fromisoformat(created_at), uuid.UUID(key)
    except (ValueError, TypeError) as exc:
        raise HTTPException(422, "not a cursor this service issued") from exc


async def _init_connection(conn: Connection) -> None:
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


def create_app(database_url: str, project_id: str) -> FastAPI:
    pools: list[Pool] = []

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # The provisioner's pool bounds (kernel.db): the anchor gets no more connections than the platform has.
        pool: Pool = await asyncpg.create_pool(
            database_url,
            min_size=2,
            max_size=10,
            init=_init_connection,
            server_settings={"application_name": APPLICATION_NAME},
        )
        pools.append(pool)
        try:
            yield
        finally:
            await pool.close()

    app = FastAPI(title="bench anchor", lifespan=lifespan)

    @app.get("/v1/instances")
    async def list_instances(
        limit: Annotated[int, Query(ge=1, le=500)] = 50, cursor: str | None = None
    ) -> Page[InstanceOut]:
        if cursor is None:
            rows = await pools[0].fetch(_LIST, project_id, limit + 1)
        else:
            rows = await pools[0].fetch(_LIST_AFTER, project_id, limit + 1, *decode_cursor(cursor))
        items = [InstanceOut.model_validate(dict(row)) for row in rows[:limit]]
        last = rows[limit - 1] if len(rows) > limit else None
        return Page[InstanceOut](
            items=items, next_cursor=cursor_after(last["created_at"], last["id"]) if last is not None else None
        )

    @app.get("/v1/instances/{instance_id}")
    async def get_instance(instance_id: str) -> InstanceOut:
        try:
            key = uuid.UUID(instance_id)
        except ValueError:
            raise HTTPException(404, "no such instance") from None
        row = await pools[0].fetchrow(_GET, key, project_id)
        if row is None:
            raise HTTPException(404, "no such instance")
        return InstanceOut.model_validate(dict(row))

    @app.post("/v1/instances", status_code=202)
    async def create_instance(body: InstanceCreate) -> InstanceOut:
        row: Any = await pools[0].fetchrow(
            _INSERT,
            project_id,
            # No allocator here: a launch that names no cloud goes to the built-in one.
            body.cloud_id or "sim",
            body.name,
            body.image_id,
            body.flavor_id,
            body.key_name,
            body.security_group_ids,
            body.user_data,
            body.zone,
            body.tags,
        )
        return InstanceOut.model_validate(dict(row))

    return app


HELLO_PATH = "/hello"


def hello_app() -> FastAPI:
    app = FastAPI()

    @app.get(HELLO_PATH)
    async def hello() -> dict[str, str]:
        return {"hello": "world"}

    return app


def main(argv: list[str]) -> int:
    from kernel import http

    if len(argv) != 2 or argv[0] not in ("anchor", "hello") or not argv[1].isdigit():
        print("usage: python -m bench.anchor {anchor,hello} PORT", file=sys.stderr)
        return 2
    app = create_app(os.environ[DATABASE_ENV], os.environ[PROJECT_ENV]) if argv[0] == "anchor" else hello_app()
    http.serve(app, host="127.0.0.1", port=int(argv[1]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
