"""Waking a background loop when work is committed for it: by this process (a Signal) or by any (PostgreSQL
LISTEN/NOTIFY, a Wakeup).

A notification is an optimisation, never the only signal: loops also poll, so a lost connection costs latency only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import asyncpg
from tenacity import wait_fixed

from kernel.retry import retrying

log = logging.getLogger(__name__)


class Signal:
    """Wakes a loop of this process that waits for work, from the code that made the work."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def set(self) -> None:
        self._event.set()

    async def wait(self, at_most: float) -> None:
        """Return when notified or after `at_most` seconds, whichever comes first."""
        # asyncio.timeout, not wait_for: on Python 3.11 wait_for swallows a cancellation that arrives just as the
        # event is set, and a loop waiting here would then never stop.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(at_most):
                await self._event.wait()
        self._event.clear()


class Wakeup(Signal):
    """A signal that another process sets too, with a NOTIFY on `channel` its transaction sends at commit."""

    def __init__(self, dsn: str, channel: str) -> None:
        super().__init__()
        self._dsn = dsn
        self.channel = channel

    async def listen(self) -> None:
        """Run until cancelled, listening again at once when the connection closes, and a second after it fails."""
        while True:
            async for attempt in retrying(
                (OSError, asyncpg.PostgresError), wait=wait_fixed(1.0), log=log, what=f"listener on {self.channel}"
            ):
                with attempt:
                    await self._listen_once()

    async def _listen_once(self) -> None:
        conn = await asyncpg.connect(self._dsn)
        try:
            await conn.add_listener(self.channel, lambda *_: self._event.set())
            closed = asyncio.Event()
            conn.add_termination_listener(lambda *_, done=closed: done.set())
            self._event.set()  # work may have been committed while nobody listened
            await closed.wait()
        finally:
            with contextlib.suppress(Exception):
                await conn.close(timeout=2)
