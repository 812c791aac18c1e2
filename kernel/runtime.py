"""What a service's lifespan starts and stops: its pool (after migrating its schema), its bus connection, the
outbox relay, and its event consumer. Each service builds one explicitly in its own `app.py`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection, Coroutine, Sequence
from pathlib import Path
from typing import Any, TypeVar

from kernel import db
from kernel.bus import Bus
from kernel.consumer import EventConsumer, Handler, Receiving
from kernel.migrations import migrate
from kernel.outbox import OutboxRelay
from kernel.settings import KernelSettings

log = logging.getLogger(__name__)

R = TypeVar("R")

# How long a stopping service waits for each of its parts (tasks, bus, pool) before it gives up on it.
STOP_GRACE_SECONDS = 10.0


class ServiceRuntime:
    def __init__(self, service: str, settings: KernelSettings, *, schema: str, migrations: Path) -> None:
        self.service = service
        self.settings = settings
        self.schema = schema
        self.migrations = migrations
        self._pool: db.Pool | None = None
        self._bus: Bus | None = None
        self.relay: OutboxRelay | None = None
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def pool(self) -> db.Pool:
        if self._pool is None:
            raise RuntimeError("runtime not started")
        return self._pool

    @property
    def bus(self) -> Bus:
        if self._bus is None:
            raise RuntimeError("runtime not started")
        return self._bus

    @property
    def dsn(self) -> str:
        return self.settings.database_url.get_secret_value()

    async def start_database(self) -> None:
        await asyncio.to_thread(migrate, self.dsn, schema=self.schema, location=self.migrations)
        self._pool = await db.create_pool(
            self.dsn,
            schema=self.schema,
            application=f"clanavi-{self.service}",
            min_size=self.settings.db_pool_min,
            max_size=self.settings.db_pool_max,
        )

    async def start_bus(self) -> None:
        self._bus = Bus(
            self.settings.amqp_url.get_secret_value(), prefix=self.settings.bus_prefix, service=self.service
        )
        await self._bus.connect()

    def start_relay(self) -> None:
        self.relay = OutboxRelay(self.pool, self.bus.publish_many, schema=self.schema, dsn=self.dsn)
        self.spawn(self.relay.run(), name="outbox-relay")

    async def start_consumer(self, bindings: Sequence[str], uow: Receiving[R], handle: Handler[R]) -> None:
        """Subscribe to `bindings`; each event is handled by `handle` in a transaction of `uow`."""
        consumer = EventConsumer(
            uow, name=self.service, handle=handle, concurrency=max(1, self.settings.db_pool_max - 2)
        )
        await self.bus.subscribe(
            bindings=bindings,
            callback=consumer,
            max_deliveries=self.settings.max_deliveries,
            prefetch=self.settings.consumer_prefetch,
        )

    def spawn(self, coro: Coroutine[Any, Any, None], *, name: str) -> None:
        task = asyncio.create_task(coro, name=f"{self.service}-{name}")
        task.add_done_callback(self._report_crash)
        self._tasks.append(task)

    @staticmethod
    def _report_crash(task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("background task %s died", task.get_name(), exc_info=task.exception())

    async def readiness(self) -> dict[str, bool]:
        checks = {"database": self._pool is not None and await db.ping(self._pool)}
        if self._bus is not None:
            checks["broker"] = self._bus.is_connected
        return checks

    async def stop(self, grace: float = STOP_GRACE_SECONDS) -> None:
        """Cancel the background tasks and close the bus and the pool, within `grace` seconds each: a task that
        does not stop, or a connection never given back, is logged and left, so that shutdown itself never hangs."""
        await stop_tasks(self._tasks, grace)
        if self._bus is not None:
            try:
                async with asyncio.timeout(grace):
                    await self._bus.close()
            except TimeoutError:
                log.error("the bus connection did not close within %.0fs", grace)
        if self._pool is not None:
            try:
                async with asyncio.timeout(grace):
                    await self._pool.close()
            except TimeoutError:
                log.error("database connections still in use after %.0fs; closing them", grace)
                self._pool.terminate()


async def stop_tasks(tasks: Collection[asyncio.Task[Any]], grace: float = STOP_GRACE_SECONDS) -> None:
    """Cancel `tasks` and wait for them at most `grace` seconds; a task that does not stop is logged and left."""
    for task in tasks:
        task.cancel()
    if tasks:
        _, stuck = await asyncio.wait(tasks, timeout=grace)
        for task in stuck:
            log.error("background task %s did not stop within %.0fs of being cancelled", task.get_name(), grace)
