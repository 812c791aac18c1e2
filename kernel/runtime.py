"""What a service's lifespan starts and stops: its pool (after migrating its schema), its bus connection, the
outbox relay, and its event consumer. Each service builds one explicitly in its own `app.py`, and its lifespan runs
its own part inside `running()`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Coroutine, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

from kernel import db
from kernel.bus import Bus
from kernel.consumer import BatchHandler, EventConsumer, Handler, Receiving
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
        self._closers: list[Callable[[], Awaitable[None]]] = []

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

    @asynccontextmanager
    async def running(self, *, publishes: bool = True) -> AsyncIterator[None]:
        """What every service's lifespan does around its own part: migrate and connect the database, connect the
        bus and, when the service publishes events, start the outbox relay; then, however the lifespan ends (its
        start failing too), stop everything."""
        try:
            await self.start_database()
            await self.start_bus()
            if publishes:
                self.start_relay()
            yield
        finally:
            await self.stop()

    def closing(self, close: Callable[[], Awaitable[None]]) -> None:
        """Call `close` when the runtime stops: after the background tasks have stopped (nothing uses what it closes
        any more), before the bus and the pool (it may still write); the last registered first."""
        self._closers.append(close)

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

    def wake_relay(self) -> None:
        """The service's unit of work committed events: the relay sends them now (none runs before the start)."""
        if self.relay is not None:
            self.relay.wake()

    def start_relay(self) -> None:
        self.relay = OutboxRelay(self.pool, self.bus.publish_many, schema=self.schema)
        self.spawn(self.relay.run(), name="outbox-relay")

    async def start_consumer(
        self,
        bindings: Sequence[str],
        uow: Receiving[R],
        handle: Handler[R],
        *,
        handle_many: BatchHandler[R] | None = None,
        concurrency: int | None = None,
        batch_size: int = 32,
        prefetch: int | None = None,
    ) -> None:
        """Subscribe to `bindings`; each event is handled by `handle` in a transaction of `uow` (or, given
        `handle_many`, the fresh events of each batch together by it; a batch that fails goes event by event).
        At most `concurrency` transactions at once (by default the pool's size less two), each of up to `batch_size`
        deliveries, from up to `prefetch` taken from the broker at once (by default CLANAVI_CONSUMER_PREFETCH)."""
        consumer = EventConsumer(
            uow,
            name=self.service,
            handle=handle,
            concurrency=concurrency or max(1, self.settings.db_pool_max - 2),
            batch_size=batch_size,
            handle_many=handle_many,
        )
        await self.bus.subscribe(
            bindings=bindings,
            callback=consumer,
            max_deliveries=self.settings.max_deliveries,
            prefetch=prefetch or self.settings.consumer_prefetch,
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
        """Cancel the background tasks, call what `closing` registered, and close the bus and the pool, within
        `grace` seconds each: a task that does not stop, or a connection never given back, is logged and left, so
        that shutdown itself never hangs."""
        await stop_tasks(self._tasks, grace)
        while self._closers:
            close = self._closers.pop()
            await _within(grace, close(), f"{getattr(close, '__qualname__', close)} did not finish within %.0fs")
        if self._bus is not None:
            await _within(grace, self._bus.close(), "the bus connection did not close within %.0fs")
        if self._pool is not None:
            closed = await _within(
                grace, self._pool.close(), "database connections still in use after %.0fs; closing them"
            )
            if not closed:
                self._pool.terminate()


async def _within(grace: float, done: Awaitable[None], late: str) -> bool:
    """Await `done` for at most `grace` seconds; False, and `late` logged, when it takes longer."""
    try:
        async with asyncio.timeout(grace):
            await done
    except TimeoutError:
        log.error(late, grace)
        return False
    return True


async def stop_tasks(tasks: Collection[asyncio.Task[Any]], grace: float = STOP_GRACE_SECONDS) -> None:
    """Cancel `tasks` and wait for them at most `grace` seconds; a task that does not stop is logged and left."""
    for task in tasks:
        task.cancel()
    if tasks:
        _, stuck = await asyncio.wait(tasks, timeout=grace)
        for task in stuck:
            log.error("background task %s did not stop within %.0fs of being cancelled", task.get_name(), grace)
