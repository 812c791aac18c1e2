"""Keeping a lease while a long step runs (an engine's claim during its cloud call, an inventory run while it lists
and writes): renewed every third of its length, each time in a short transaction of its own, so the database holds
nothing across the step and a process that dies simply stops renewing."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

log = logging.getLogger(__name__)


@contextlib.asynccontextmanager
async def renewed(lease: float, renew: Callable[[], Awaitable[bool]], what: str) -> AsyncIterator[None]:
    """Renew a lease of `lease` seconds while the block runs, until `renew` answers that it no longer holds it."""

    async def renewing() -> None:
        while True:
            await asyncio.sleep(lease / 3)
            try:
                if not await renew():
                    return
            except Exception:  # noqa: BLE001 - tried again at the next turn; whoever settles checks the lease anyway
                log.warning("renewing the lease of %s failed", what, exc_info=True)

    task = asyncio.create_task(renewing(), name=f"lease-{what}")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


__all__ = ["renewed"]
