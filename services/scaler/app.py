"""The scaler's FastAPI app: its lifespan migrates the schema, starts the relay, subscribes to metric samples and to
what came of its commands, and runs the reconcile loop; the routes, the consumer and the loop share one unit of
work."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI

from kernel.runtime import ServiceRuntime
from kernel.service_app import create_service_app
from kernel.unit_of_work import PostgresUnitOfWork
from services.scaler import consumers
from services.scaler.decisions.handlers import Tuning
from services.scaler.decisions.reconcile import reconcile_forever
from services.scaler.routes import ROUTERS
from services.scaler.settings import ScalerSettings
from services.scaler.unit_of_work import Repositories

__all__ = ["MIGRATIONS", "SCHEMA", "create_app"]

MIGRATIONS = Path(__file__).parent / "migrations"
SCHEMA = "scaler"


def create_app(settings: ScalerSettings | None = None) -> FastAPI:
    settings = settings or ScalerSettings()
    runtime = ServiceRuntime("scaler", settings.kernel, schema=SCHEMA, migrations=MIGRATIONS)
    uow = PostgresUnitOfWork[Repositories](lambda: runtime.pool, Repositories, wrote_events=runtime.wake_relay)
    tuning = Tuning(settings.backoff_base_seconds, settings.backoff_max_seconds, settings.history_seconds)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with runtime.running():
            await runtime.start_consumer(
                consumers.BINDINGS,
                uow,
                consumers.handler(tuning),
                handle_many=consumers.batch_handler(tuning),
                concurrency=settings.consumer_transactions,
                batch_size=settings.consumer_batch,
                prefetch=settings.consumer_prefetch,
            )
            runtime.spawn(
                reconcile_forever(uow, settings.reconcile_seconds, history_hours=settings.history_hours),
                name="reconcile",
            )
            yield

    return create_service_app(
        "Clanavi scaler",
        runtime,
        internal_key=settings.kernel.internal_key_bytes(),
        lifespan=lifespan,
        routers=ROUTERS,
        uow=uow,
    )
