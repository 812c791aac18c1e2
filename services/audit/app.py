"""The audit service's FastAPI app: its lifespan migrates the schema and subscribes to every event; the routes and the
consumer share one unit of work."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

from fastapi import FastAPI

from kernel.audit_trail import generate_private_key, load_private_key
from kernel.runtime import ServiceRuntime
from kernel.service_app import create_service_app
from kernel.unit_of_work import PostgresUnitOfWork
from services.audit import consumers, jobs
from services.audit.handlers import AuditRepositories
from services.audit.repository import Repositories
from services.audit.routes import ROUTERS
from services.audit.settings import AuditSettings

__all__ = ["MIGRATIONS", "SCHEMA", "create_app"]

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"
SCHEMA = "audit"


def create_app(settings: AuditSettings | None = None) -> FastAPI:
    settings = settings or AuditSettings()
    runtime = ServiceRuntime("audit", settings.kernel, schema=SCHEMA, migrations=MIGRATIONS)
    uow = PostgresUnitOfWork[AuditRepositories](lambda: runtime.pool, Repositories, wrote_events=runtime.wake_relay)
    if settings.signing_key is None:
        log.warning("no CLANAVI_AUDIT_SIGNING_KEY: the digests are signed with a key that lives until the next start")
    key = load_private_key(
        settings.signing_key.get_secret_value() if settings.signing_key is not None else generate_private_key()
    )

    def now() -> datetime:
        return datetime.now(UTC)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with runtime.running(publishes=False):
            # Appends serialise on the chain's lock: two transactions at once (one committing while the next gathers
            # its batch) keep it busy, and more would only make each batch smaller.
            await runtime.start_consumer(
                consumers.BINDINGS,
                uow,
                consumers.on_event,
                handle_many=consumers.on_events,
                batch_size=256,
                concurrency=2,
            )
            runtime.spawn(jobs.digest_forever(uow, key, settings.digest_interval_seconds, now), name="digests")
            if settings.retention_days is not None:
                runtime.spawn(
                    jobs.retention_forever(uow, settings.retention_days, settings.retention_interval_seconds, now),
                    name="retention",
                )
            yield

    app = create_service_app(
        "Clanavi audit",
        runtime,
        internal_key=settings.kernel.internal_key_bytes(),
        lifespan=lifespan,
        routers=ROUTERS,
        uow=uow,
    )
    app.state.signing_key = key
    return app
