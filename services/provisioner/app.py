"""The provisioner app: its lifespan migrates and connects everything, then starts the outbox relay and the worker.

It does not start without CLANAVI_SECRET_KEY (cloud credentials are encrypted with it), nor with a worker that could
take every pooled connection. At start the configured clouds are brought up to date with their secrets sealed,
secrets still stored in the clear are sealed, and credentials sealed with a previous key are rewrapped with the
current one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.middleware import Middleware

import adapters.simcloud as simcloud
from adapters.base import CloudError
from adapters.registry import AdapterContext
from kernel import correlation
from kernel.errors import problem_from_error
from kernel.http import create_base_app, problem_response
from kernel.identity import IdentityVerifier, InternalAuth
from kernel.migrations import migrate
from kernel.runtime import ServiceRuntime
from services.provisioner import consumers, errors
from services.provisioner.boot.follow import BootFollower
from services.provisioner.clouds.configured import configure, rewrap_all, seal_plaintext
from services.provisioner.clouds.directory import CloudDirectory
from services.provisioner.clusters.handlers import Clusters
from services.provisioner.commands import consumers as commands
from services.provisioner.commands.handlers import Carrier
from services.provisioner.commands.worker import CommandWorker
from services.provisioner.errors import RetryLater
from services.provisioner.guardrails.expiry import ExpiryFollower
from services.provisioner.instances.cloud import InstanceKind
from services.provisioner.inventory.handlers import Inventory
from services.provisioner.inventory.schedule import Schedule
from services.provisioner.metrics.handlers import PushLimit, RateLimited
from services.provisioner.metrics.sampler import MetricsSampler
from services.provisioner.modules.handlers import disabled_modules
from services.provisioner.resources.cloud import RESOURCES
from services.provisioner.resources.flow import Ports
from services.provisioner.routes import ROUTERS
from services.provisioner.runs.cloud import RunKind
from services.provisioner.settings import SIM_CLOUD_ID, ProvisionerSettings
from services.provisioner.unit_of_work import on_postgres
from services.provisioner.work.engine import WORK_CHANNEL, Engine
from services.provisioner.work.pacing import RetryPolicy
from services.provisioner.work.worker import Worker

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"
SCHEMA = "provisioner"


def create_app(settings: ProvisionerSettings | None = None) -> FastAPI:
    settings = settings or ProvisionerSettings()
    keyring = settings.keyring()
    settings.check_concurrency()
    runtime = ServiceRuntime("provisioner", settings.kernel, schema=SCHEMA, migrations=MIGRATIONS)
    uow = on_postgres(lambda: runtime.pool, wrote_events=runtime.wake_relay)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # SimCloud keeps its simulated provider state in a schema of its own.
        await _migrate_simcloud(runtime.dsn)
        async with runtime.running():
            await configure(uow, keyring, settings.configured_clouds())
            await seal_plaintext(uow, keyring)
            rewrapped = await rewrap_all(uow, keyring)
            if rewrapped.unreadable:
                log.error(
                    "no key opens the credentials of clouds %s: they answer 409 cloud_credentials_unreadable "
                    "until their credentials are set again (or the key they were sealed with is added to "
                    "CLANAVI_SECRET_KEY_PREVIOUS)",
                    ", ".join(rewrapped.unreadable),
                )
            clouds = CloudDirectory(
                uow,
                disabled_modules=await disabled_modules(uow),
                context=AdapterContext(pool=runtime.pool),
                keyring=keyring,
                endpoint_deny=settings.endpoint_deny_networks(),
            )
            runtime.closing(clouds.close)
            if clouds.module_enabled("simcloud"):
                # Connecting SimCloud checks its settings (SIM_OPTIONS among them): a mistake stops the start here.
                await clouds.adapter(SIM_CLOUD_ID)
            policy = RetryPolicy(max_attempts=settings.max_attempts, throttle_budget=settings.throttle_budget_seconds)
            engine = Engine(uow, clouds, policy=policy)
            # The table of kinds the one pending-action engine serves.
            kinds = (InstanceKind(keyring), RESOURCES)
            boots = BootFollower(uow, clouds, read_every=settings.boot_read_seconds, bound=settings.boot_follow_seconds)
            # Clusters move on right after their members' instances are followed.
            clusters = Clusters(uow, clouds)
            approval_wait = timedelta(hours=settings.approval_wait_hours)
            expiry = ExpiryFollower(uow, clouds, approval_wait=approval_wait)
            worker = Worker(
                engine,
                kinds,
                interval=settings.follow_interval,
                concurrency=settings.concurrency,
                followers=(clusters.follow, boots.follow, expiry.follow),
            )
            runtime.spawn(worker.run_actions(), name="actions")
            runtime.spawn(worker.run_follow(), name="follow")
            # Script runs hold a slot for as long as a script lasts: a worker of their own, so they never keep the
            # cloud actions waiting.
            runs = Worker(
                engine, (RunKind(keyring),), interval=settings.follow_interval, concurrency=settings.run_concurrency
            )

            def wake() -> None:
                worker.wakeup.set()
                runs.wakeup.set()

            uow.wake_in_process(WORK_CHANNEL, wake)
            runtime.spawn(runs.run_actions(), name="runs")
            runtime.spawn(clouds.follow_changes(runtime.dsn, lambda: disabled_modules(uow)), name="cloud-changes")
            # Commands from the scaler and failover: recorded by the consumer, carried out by their worker.
            carrier = Carrier(uow, clouds, Ports(uow, clouds, engine))
            command_worker = CommandWorker(
                carrier,
                interval=settings.command_poll_seconds,
                # Beside the actions' worker on the same pool: half as many at once.
                concurrency=max(1, settings.concurrency // 2),
                lease=settings.command_lease_seconds,
            )
            uow.wake_in_process(commands.COMMAND_CHANNEL, command_worker.wakeup.set)
            runtime.spawn(command_worker.run(), name="commands")
            await runtime.start_consumer(consumers.BINDINGS, uow, consumers.on_message)
            if settings.metrics_interval > 0:
                sampler = MetricsSampler(
                    uow, clouds, engine, interval=settings.metrics_interval, concurrency=settings.concurrency
                )
                runtime.spawn(sampler.run(), name="metrics")
            inventory = Inventory(uow, clouds)
            runtime.closing(inventory.close)
            runtime.spawn(Schedule(inventory, interval=settings.sync_interval_seconds).run(), name="inventory")
            app.state.uow = uow
            app.state.engine = engine
            app.state.approval_wait = approval_wait
            app.state.inventory = inventory
            app.state.runtime = runtime
            app.state.clouds = clouds
            app.state.connection_test_seconds = settings.connection_test_seconds
            yield

    app = create_base_app(
        "Clanavi provisioner",
        runtime.readiness,
        lifespan=lifespan,
        middleware=[Middleware(InternalAuth, verifier=IdentityVerifier(settings.kernel.internal_key_bytes()))],
    )
    for router in ROUTERS:
        app.include_router(router)
    app.state.push_limit = PushLimit(settings.metrics_push_rate, settings.metrics_push_burst)
    app.add_exception_handler(RetryLater, _retry_later)
    app.add_exception_handler(RateLimited, _retry_later)
    app.add_exception_handler(CloudError, _cloud_error)
    return app


async def _cloud_error(request: Request, exc: Exception) -> Response:
    """A cloud error no route translated (connecting an adapter, say): still the one mapping, never a 500."""
    assert isinstance(exc, CloudError)
    error = errors.from_cloud(exc, cloud_id=request.path_params.get("cloud_id"))
    if isinstance(error, RetryLater):
        return await _retry_later(request, error)
    return problem_response(
        problem_from_error(error, instance=request.url.path, correlation_id=correlation.current.get())
    )


async def _retry_later(request: Request, exc: Exception) -> Response:
    """A busy or absent cloud, or a caller beyond its rate: the problem, and a Retry-After header saying when to try
    again."""
    assert isinstance(exc, (RetryLater, RateLimited))
    body = problem_from_error(exc, instance=request.url.path, correlation_id=correlation.current.get())
    return problem_response(body, headers={"Retry-After": str(exc.retry_after)})


async def _migrate_simcloud(dsn: str) -> None:
    await asyncio.to_thread(migrate, dsn, schema=simcloud.SCHEMA, location=simcloud.MIGRATIONS)
