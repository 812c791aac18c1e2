"""Waking a background loop of this process when work is committed for it.

A wake-up is an optimisation, never the only signal: loops also poll, so work another process committed (or a wake-up
that came while nobody waited) costs latency only.
"""

from __future__ import annotations

import asyncio
import contextlib


class Signal:
    """Wakes a loop of this process that waits for work, from the code that made the work."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def set(self) -> None:
        self._event.set()

    async def wait(self, at_most: float) -> None:
        """Return when set or after `at_most` seconds, whichever comes first."""
        # asyncio.timeout, not wait_for: on Python 3.11 wait_for swallows a cancellation that arrives just as the
        # event is set, and a loop waiting here would then never stop.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(at_most):
                await self._event.wait()
        self._event.clear()
