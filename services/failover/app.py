"""The failover service's FastAPI app: its lifespan migrates the schema, starts the outbox relay (its events and its
commands to the provisioner), the consumer of the provisioner's facts and the watcher of health that changes with
time; the routes, the consumer and the watcher share one unit of work."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI

from kernel.runtime import ServiceRuntime
from kernel.service_app import create_service_app
from kernel.unit_of_work import PostgresUnitOfWork
from services.failover import consumers
from services.failover.health.probes import Prober
from services.failover.health.watcher import watch_forever
from services.failover.routes import ROUTERS
from services.failover.settings import FailoverSettings
from services.failover.unit_of_work import Repositories, repositories

__all__ = ["MIGRATIONS", "SCHEMA", "create_app"]

MIGRATIONS = Path(__file__).parent / "migrations"
SCHEMA = "failover"


def create_app(settings: FailoverSettings | None = None) -> FastAPI:
    settings = settings or FailoverSettings()
    runtime = ServiceRuntime("failover", settings.kernel, schema=SCHEMA, migrations=MIGRATIONS)
    uow = PostgresUnitOfWork[Repositories](lambda: runtime.pool, repositories, wrote_events=runtime.wake_relay)
    prober = Prober()
    runtime.closing(prober.close)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with runtime.running():
            await runtime.start_consumer(consumers.BINDINGS, uow, consumers.on_event)
            runtime.spawn(watch_forever(uow, prober, settings.watch_interval_seconds), name="health-watcher")
            yield

    return create_service_app(
        "Clanavi failover",
        runtime,
        internal_key=settings.kernel.internal_key_bytes(),
        lifespan=lifespan,
        routers=ROUTERS,
        uow=uow,
    )
