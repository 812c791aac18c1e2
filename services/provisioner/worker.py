"""The provisioner's background work: carry out requested actions in the clouds, and follow transitions."""

from __future__ import annotations

import asyncio
import logging

from kernel.db import Pool
from kernel.notify import Wakeup
from services.provisioner import handlers, repository
from services.provisioner.clouds import CloudDirectory

log = logging.getLogger(__name__)


class Worker:
    def __init__(
        self, pool: Pool, clouds: CloudDirectory, *, dsn: str, interval: float, concurrency: int, max_attempts: int
    ) -> None:
        self._pool = pool
        self._clouds = clouds
        self._interval = interval
        self._max_attempts = max_attempts
        self._slots = asyncio.Semaphore(concurrency)
        self._concurrency = concurrency
        self._in_flight: set[str] = set()
        self.wakeup = Wakeup(dsn, repository.WORK_CHANNEL)

    async def _dispatch_one(self, instance_id: str) -> None:
        try:
            async with self._slots:
                await handlers.dispatch(self._pool, self._clouds, instance_id, max_attempts=self._max_attempts)
        except Exception:
            log.exception("dispatching instance %s failed; it will be retried", instance_id)
        finally:
            self._in_flight.discard(instance_id)
            self.wakeup.set()

    async def run_actions(self) -> None:
        tasks: set[asyncio.Task[None]] = set()
        while True:
            try:
                for instance_id in await repository.due_actions(self._pool, self._concurrency * 4):
                    if instance_id not in self._in_flight:
                        self._in_flight.add(instance_id)
                        task = asyncio.create_task(self._dispatch_one(instance_id))
                        tasks.add(task)
                        task.add_done_callback(tasks.discard)
            except Exception:
                log.exception("looking for due actions failed")
            await self.wakeup.wait(self._interval)

    async def run_follow(self) -> None:
        while True:
            try:
                await handlers.follow(self._pool, self._clouds)
            except Exception:
                log.exception("following transitions failed")
            await asyncio.sleep(self._interval)
