"""The audit service's FastAPI app: its lifespan migrates the schema and subscribes to every event; the routes and the
consumer share one unit of work."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI

from kernel.runtime import ServiceRuntime
from kernel.service_app import create_service_app
from kernel.unit_of_work import PostgresUnitOfWork
from services.audit import consumers
from services.audit.handlers import AuditRepositories
from services.audit.repository import Repositories
from services.audit.routes import ROUTERS
from services.audit.settings import AuditSettings

__all__ = ["MIGRATIONS", "SCHEMA", "create_app"]

MIGRATIONS = Path(__file__).parent / "migrations"
SCHEMA = "audit"


def create_app(settings: AuditSettings | None = None) -> FastAPI:
    settings = settings or AuditSettings()
    runtime = ServiceRuntime("audit", settings.kernel, schema=SCHEMA, migrations=MIGRATIONS)
    uow = PostgresUnitOfWork[AuditRepositories](lambda: runtime.pool, Repositories, wrote_events=runtime.wake_relay)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with runtime.running(publishes=False):
            await runtime.start_consumer(consumers.BINDINGS, uow, consumers.on_event)
            yield

    return create_service_app(
        "Clanavi audit",
        runtime,
        internal_key=settings.kernel.internal_key_bytes(),
        lifespan=lifespan,
        routers=ROUTERS,
        uow=uow,
    )
