"""Versioned migrations per service schema, run by Alembic.

Each service keeps its revisions in `<package>/migrations/versions/` and a two-line `env.py` that calls
`run_env()`. The version table lives in the service's own schema, and an advisory lock makes concurrent starts of
several replicas safe.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy import Connection

OUTBOX_DDL = """
CREATE TABLE outbox (
    seq bigserial PRIMARY KEY,
    id uuid NOT NULL UNIQUE,
    routing_key text NOT NULL,
    body text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
)
"""

INBOX_DDL = """
CREATE TABLE inbox (
    event_id uuid NOT NULL,
    consumer text NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (event_id, consumer)
);
CREATE INDEX inbox_processed_at ON inbox (processed_at)
"""


def _async_url(url: str) -> str:
    scheme, _, rest = url.partition("://")
    if scheme in ("postgres", "postgresql"):
        return f"postgresql+asyncpg://{rest}"
    return url


def migrate(database_url: str, *, schema: str, location: Path, revision: str = "head") -> None:
    """Bring `schema` up to `revision` (blocking: call it through `asyncio.to_thread` from async code)."""
    # Alembic and SQLAlchemy are imported by the start that migrates, not by every import of a service (each unit
    # test that builds an app would pay a second for them).
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(location))
    config.attributes["database_url"] = database_url
    config.attributes["schema"] = schema
    command.upgrade(config, revision)


def run_env() -> None:
    """The body of every service's migrations/env.py."""
    from alembic import context
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    config = context.config
    url: str = config.attributes["database_url"]
    schema: str = config.attributes["schema"]

    def run(connection: Connection) -> None:
        connection.execute(text("SELECT pg_advisory_lock(hashtext(:s))"), {"s": f"migrate:{schema}"})
        try:
            connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
            connection.execute(text(f'SET search_path TO "{schema}", public'))
            connection.commit()
            context.configure(connection=connection, version_table_schema=schema, transaction_per_migration=True)
            with context.begin_transaction():
                context.run_migrations()
            connection.commit()
        finally:
            connection.execute(text("SELECT pg_advisory_unlock(hashtext(:s))"), {"s": f"migrate:{schema}"})
            connection.commit()

    async def main() -> None:
        engine = create_async_engine(_async_url(url))
        try:
            async with engine.connect() as connection:
                await connection.run_sync(run)
        finally:
            await engine.dispose()

    asyncio.run(main())
