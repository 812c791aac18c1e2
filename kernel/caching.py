"""A cache that loads what it misses: cachetools' TTLCache (bounded, the least recently used evicted first) under a
loader that coalesces concurrent misses into one load per key.

Plain caches use cachetools directly: `TTLCache` for a fixed lifetime, `TLRUCache` for a lifetime each value carries
(a token's expiry), `LRUCache` for none.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, Generic, TypeVar

from cachetools import TTLCache

__all__ = ["LoadingCache"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class LoadingCache(Generic[K, V]):
    """Values loaded on demand and kept for `ttl` seconds, `maxsize` at most; one load per key at a time, and a load
    that began before a `clear` (or a `discard` of its key) is answered but not kept: it may have read what the clear
    was for."""

    def __init__(self, ttl: float, *, maxsize: int = 50_000, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self._entries: TTLCache[K, V, float] = TTLCache(maxsize, ttl, clock)
        self._loading: dict[K, asyncio.Task[V]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    async def get(self, key: K, load: Callable[[], Awaitable[V]]) -> V:
        try:
            return self._entries[key]
        except KeyError:
            pass
        task = self._loading.get(key)
        if task is None:
            # A task of its own, so a caller that goes away does not cancel the load the others wait for.
            task = asyncio.ensure_future(self._load(key, load))
            task.add_done_callback(_retrieve)
            self._loading[key] = task
        return await asyncio.shield(task)

    async def _load(self, key: K, load: Callable[[], Awaitable[V]]) -> V:
        try:
            value = await load()
        finally:
            current = self._done_loading(key)
        if current and self.ttl > 0:
            self._entries[key] = value
        return value

    def _done_loading(self, key: K) -> bool:
        """Whether this load is still the key's: not cleared nor discarded since it began."""
        current = self._loading.get(key) is asyncio.current_task()
        if current:
            del self._loading[key]
        return current

    def discard(self, key: K) -> None:
        self._entries.pop(key, None)
        self._loading.pop(key, None)

    def clear(self) -> None:
        self._entries.clear()
        self._loading.clear()


def _retrieve(task: asyncio.Future[Any]) -> None:
    """Marks a failed load's error as seen: its waiters got it, or nobody was left to."""
    if not task.cancelled():
        task.exception()
