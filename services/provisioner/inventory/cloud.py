"""What an inventory sync asks the cloud: everything it lists, page by page, each list call tried again while the
cloud throttles it or does not answer."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any

from tenacity import RetryCallState, stop_after_attempt

from adapters.base import CloudAdapter, CloudError, Throttled
from adapters.base import Instance as CloudInstance
from adapters.base import Volume as CloudVolume
from kernel.retry import Sleep, retrying
from services.provisioner import errors

log = logging.getLogger(__name__)

# Instances asked for per list call (the most SimCloud and EC2 answer at once).
PAGE_SIZE = 1000
# Tries of one list call the cloud throttles or does not answer, before the run fails.
LIST_ATTEMPTS = 5


def _list_pause(state: RetryCallState) -> float:
    """What the cloud asked for when it throttled, else 0.5 s doubling; spread over its upper half."""
    exc = state.outcome.exception() if state.outcome is not None else None
    base = errors.retry_after(exc) if isinstance(exc, Throttled) else 0.5 * 2 ** (state.attempt_number - 1)
    return base * (0.5 + random.random() / 2)  # noqa: S311 - jitter, not a secret


async def _listed(call: Callable[[], Awaitable[Any]], attempts: int, sleep: Sleep) -> tuple[Any, int]:
    """A list call, tried again while the cloud throttles it or does not answer; its answer and the tries made."""
    tries = 0
    async for attempt in retrying(
        lambda exc: isinstance(exc, CloudError) and exc.retryable,
        wait=_list_pause,
        stop=stop_after_attempt(attempts),
        log=log,
        what="listing a cloud",
        sleep=sleep,
    ):
        with attempt:
            tries += 1
            return await call(), tries
    raise AssertionError("retrying ends with an answer or an error")


async def list_all(
    adapter: CloudAdapter,
    *,
    page_size: int = PAGE_SIZE,
    attempts: int = LIST_ATTEMPTS,
    sleep: Sleep = asyncio.sleep,
) -> tuple[list[CloudInstance], int]:
    """Every instance the cloud lists, following its cursor page by page, and the number of list calls made."""
    items: list[CloudInstance] = []
    cursor: str | None = None
    calls = 0
    while True:
        page, tries = await _listed(
            lambda: adapter.list_instances(cursor=cursor, limit=page_size),  # noqa: B023 - awaited at once
            attempts,
            sleep,
        )
        calls += tries
        items.extend(page.items)
        cursor = page.next_cursor
        if cursor is None:
            return items, calls


async def list_volumes(
    adapter: CloudAdapter, *, attempts: int = LIST_ATTEMPTS, sleep: Sleep = asyncio.sleep
) -> tuple[list[CloudVolume], int]:
    """Every volume the cloud lists (the adapter follows the cloud's own pages), and the number of list calls."""
    volumes, calls = await _listed(adapter.list_volumes, attempts, sleep)
    return list(volumes), calls


__all__ = ["LIST_ATTEMPTS", "PAGE_SIZE", "list_all", "list_volumes"]
