"""The alerts service's FastAPI app: its lifespan migrates the schema, starts the outbox relay (its alert events),
the consumer of metric samples and the other services' facts, the evaluator of what changes with time and the
notifier that sends to channels; the routes, the consumer and the loops share one unit of work."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI

from kernel.runtime import ServiceRuntime
from kernel.service_app import create_service_app
from kernel.unit_of_work import PostgresUnitOfWork
from services.alerts import consumers
from services.alerts.channels.notifier import Notifier
from services.alerts.evaluator import evaluate_forever
from services.alerts.routes import ROUTERS
from services.alerts.settings import AlertsSettings
from services.alerts.unit_of_work import NOTIFY_CHANNEL, Repositories, repositories

__all__ = ["MIGRATIONS", "SCHEMA", "create_app"]

MIGRATIONS = Path(__file__).parent / "migrations"
SCHEMA = "alerts"
# Webhook secrets are sealed under keys of their own purpose.
SECRETS_PURPOSE = "alerts-channels"


def create_app(settings: AlertsSettings | None = None) -> FastAPI:
    settings = settings or AlertsSettings()
    runtime = ServiceRuntime("alerts", settings.kernel, schema=SCHEMA, migrations=MIGRATIONS)
    uow = PostgresUnitOfWork[Repositories](lambda: runtime.pool, repositories, wrote_events=runtime.wake_relay)
    keyring = settings.kernel.keyring(purpose=SECRETS_PURPOSE)
    notifier = Notifier(uow, settings, keyring)
    uow.wake_in_process(NOTIFY_CHANNEL, notifier.wake)
    runtime.closing(notifier.close)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with runtime.running():
            await runtime.start_consumer(consumers.BINDINGS, uow, consumers.on_event)
            runtime.spawn(evaluate_forever(uow, settings.evaluate_interval_seconds), name="evaluator")
            runtime.spawn(notifier.run_forever(), name="notifier")
            yield

    app = create_service_app(
        "Clanavi alerts",
        runtime,
        internal_key=settings.kernel.internal_key_bytes(),
        lifespan=lifespan,
        routers=ROUTERS,
        uow=uow,
    )
    app.state.keyring = keyring
    app.state.webhook_deny = settings.webhook_deny_networks()
    return app
