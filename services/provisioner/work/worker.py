"""The provisioner's background work: take each due action of every kind to the engine (at most `concurrency` at a
time, woken when a transaction of this process records work, polling otherwise for what another replica recorded),
and follow the transitions of every kind, and whatever else is followed the same way (instances' boots)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from kernel.notify import Signal
from services.provisioner.work.engine import Engine, Kind

log = logging.getLogger(__name__)


class Worker:
    def __init__(
        self,
        engine: Engine,
        kinds: Sequence[Kind[Any, Any, Any]],
        *,
        interval: float,
        concurrency: int,
        followers: Sequence[Callable[[], Awaitable[object]]] = (),
    ) -> None:
        self._engine = engine
        self._kinds = kinds
        self._followers = followers
        self._interval = interval
        self._slots = asyncio.Semaphore(concurrency)
        self._concurrency = concurrency
        self._in_flight: set[tuple[str, str]] = set()
        # Set by the unit of work when a transaction that made work commits (wake_in_process), and by finished steps.
        self.wakeup = Signal()

    async def _step(self, kind: Kind[Any, Any, Any], record_id: str) -> None:
        try:
            async with self._slots:
                await self._engine.step(kind, record_id)
        except Exception:
            log.exception("the %s action of %s failed; it will be tried again", kind.name, record_id)
        finally:
            self._in_flight.discard((kind.name, record_id))
            self.wakeup.set()

    async def run_actions(self) -> None:
        tasks: set[asyncio.Task[None]] = set()
        while True:
            for kind in self._kinds:
                try:
                    due = await self._engine.due(kind, self._concurrency * 4)
                except Exception:
                    log.exception("looking for due %s actions failed", kind.name)
                    continue
                for record_id in due:
                    if (kind.name, record_id) not in self._in_flight:
                        self._in_flight.add((kind.name, record_id))
                        task = asyncio.create_task(self._step(kind, record_id))
                        tasks.add(task)
                        task.add_done_callback(tasks.discard)
            await self.wakeup.wait(self._interval)

    async def run_follow(self) -> None:
        while True:
            for kind in self._kinds:
                try:
                    await self._engine.follow(kind)
                except Exception:
                    log.exception("following %ss failed", kind.name)
            for follow in self._followers:
                try:
                    await follow()
                except Exception:
                    log.exception("%s failed", getattr(follow, "__qualname__", "a follower"))
            await asyncio.sleep(self._interval)


__all__ = ["Worker"]
