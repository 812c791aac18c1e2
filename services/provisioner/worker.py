"""The provisioner's background work: carry out requested actions in the clouds (instances, and resources whose
request did not finish its own call), and follow transitions of every kind."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from kernel.db import Pool
from kernel.notify import Wakeup
from services.provisioner import handlers, repository, resources_handlers
from services.provisioner import resources_repository as resource_store
from services.provisioner.clouds import CloudDirectory
from services.provisioner.domain import RetryPolicy
from services.provisioner.pacing import Pacer

log = logging.getLogger(__name__)


class Worker:
    def __init__(
        self,
        pool: Pool,
        clouds: CloudDirectory,
        *,
        dsn: str,
        interval: float,
        concurrency: int,
        policy: RetryPolicy,
        pacer: Pacer | None = None,
    ) -> None:
        self._pool = pool
        self._clouds = clouds
        self._interval = interval
        self._policy = policy
        self._pacer = pacer or Pacer()
        self._slots = asyncio.Semaphore(concurrency)
        self._concurrency = concurrency
        self._in_flight: set[str] = set()
        self.wakeup = Wakeup(dsn, repository.WORK_CHANNEL)

    async def _dispatch_one(self, key: str, run: Callable[[], Awaitable[bool]]) -> None:
        try:
            async with self._slots:
                await run()
        except Exception:
            log.exception("dispatching %s failed; it will be retried", key)
        finally:
            self._in_flight.discard(key)
            self.wakeup.set()

    def _instance_step(self, instance_id: str) -> Callable[[], Awaitable[bool]]:
        return lambda: handlers.dispatch(self._pool, self._clouds, instance_id, policy=self._policy, pacer=self._pacer)

    def _resource_step(self, resource_id: str) -> Callable[[], Awaitable[bool]]:
        return lambda: resources_handlers.dispatch(
            self._pool, self._clouds, resource_id, policy=self._policy, pacer=self._pacer
        )

    async def run_actions(self) -> None:
        tasks: set[asyncio.Task[None]] = set()
        while True:
            try:
                due = [
                    (f"instance {i}", self._instance_step(i))
                    for i in await repository.due_actions(self._pool, self._concurrency * 4)
                ] + [
                    (f"resource {i}", self._resource_step(i))
                    for i in await resource_store.due_actions(self._pool, self._concurrency * 4)
                ]
                for key, step in due:
                    if key not in self._in_flight:
                        self._in_flight.add(key)
                        task = asyncio.create_task(self._dispatch_one(key, step))
                        tasks.add(task)
                        task.add_done_callback(tasks.discard)
            except Exception:
                log.exception("looking for due actions failed")
            await self.wakeup.wait(self._interval)

    async def run_follow(self) -> None:
        while True:
            for name, step in (("instances", handlers.follow), ("resources", resources_handlers.follow)):
                try:
                    await step(self._pool, self._clouds, self._pacer)
                except Exception:
                    log.exception("following %s failed", name)
            await asyncio.sleep(self._interval)
