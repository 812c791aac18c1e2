"""The provisioner app: its lifespan migrates and connects everything, then starts the outbox relay and the worker."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI

import adapters.simcloud as simcloud
from kernel.http import create_base_app
from kernel.migrations import migrate
from kernel.runtime import ServiceRuntime
from services.provisioner import api, repository
from services.provisioner.clouds import CloudDirectory
from services.provisioner.settings import ProvisionerSettings
from services.provisioner.worker import Worker

MIGRATIONS = Path(__file__).parent / "migrations"
SCHEMA = "provisioner"


def create_app(settings: ProvisionerSettings | None = None) -> FastAPI:
    settings = settings or ProvisionerSettings()
    runtime = ServiceRuntime("provisioner", settings.kernel, schema=SCHEMA, migrations=MIGRATIONS)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # SimCloud keeps its simulated provider state in a schema of its own.
        await _migrate_simcloud(runtime.dsn)
        await runtime.start_database()
        await repository.upsert_cloud(
            runtime.pool, cloud_id="sim", name="SimCloud", driver="simcloud", config=settings.sim_config()
        )
        await runtime.start_bus()
        runtime.start_relay()
        clouds = CloudDirectory(runtime.pool)
        worker = Worker(
            runtime.pool,
            clouds,
            dsn=runtime.dsn,
            interval=settings.follow_interval,
            concurrency=settings.concurrency,
            max_attempts=settings.max_attempts,
        )
        runtime.spawn(worker.wakeup.listen(), name="work-listener")
        runtime.spawn(worker.run_actions(), name="actions")
        runtime.spawn(worker.run_follow(), name="follow")
        app.state.runtime = runtime
        app.state.clouds = clouds
        try:
            yield
        finally:
            await runtime.stop()
            await clouds.close()

    app = create_base_app("Clanavi provisioner", runtime.readiness, lifespan=lifespan)
    app.include_router(api.router)
    return app


async def _migrate_simcloud(dsn: str) -> None:
    await asyncio.to_thread(migrate, dsn, schema=simcloud.SCHEMA, location=simcloud.MIGRATIONS)
