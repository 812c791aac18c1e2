"""The billing service's FastAPI app: its lifespan migrates the schema, starts the outbox relay, the consumer of the
provisioner's accounts, prices and lifecycle events, and the pass that rates the hours of resources still billed;
the routes, the consumer and the pass share one unit of work."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI

from kernel.runtime import ServiceRuntime
from kernel.service_app import create_service_app
from kernel.unit_of_work import PostgresUnitOfWork
from services.billing import consumers
from services.billing.routes import ROUTERS
from services.billing.settings import BillingSettings
from services.billing.unit_of_work import Repositories, repositories
from services.billing.usage.handlers import rate_hours_forever

__all__ = ["MIGRATIONS", "SCHEMA", "create_app"]

MIGRATIONS = Path(__file__).parent / "migrations"
SCHEMA = "billing"


def create_app(settings: BillingSettings | None = None) -> FastAPI:
    settings = settings or BillingSettings()
    runtime = ServiceRuntime("billing", settings.kernel, schema=SCHEMA, migrations=MIGRATIONS)
    uow = PostgresUnitOfWork[Repositories](lambda: runtime.pool, repositories, wrote_events=runtime.wake_relay)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with runtime.running():
            await runtime.start_consumer(
                consumers.BINDINGS,
                uow,
                consumers.on_event,
                handle_many=consumers.on_events,
                concurrency=settings.consumer_transactions,
                batch_size=settings.consumer_batch,
                prefetch=settings.consumer_prefetch,
            )
            runtime.spawn(rate_hours_forever(uow, settings.rating_interval_seconds), name="hourly-rating")
            yield

    return create_service_app(
        "Clanavi billing",
        runtime,
        internal_key=settings.kernel.internal_key_bytes(),
        lifespan=lifespan,
        routers=ROUTERS,
        uow=uow,
    )
