"""The authenticator's cache: values kept for a while, one load per key at a time, and a clear that wins."""

from __future__ import annotations

import asyncio

import pytest

from kernel.errors import Unauthenticated
from services.gateway.identity.authenticator import TtlCache, bearer_token


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Source:
    """Counts loads; each returns the current value, after `gate` opens when one is set."""

    def __init__(self) -> None:
        self.loads = 0
        self.value = "v1"
        self.gate: asyncio.Event | None = None

    async def load(self) -> str:
        self.loads += 1
        if self.gate is not None:
            await self.gate.wait()
        return self.value


async def test_a_value_is_kept_for_the_ttl() -> None:
    clock, source = Clock(), Source()
    cache: TtlCache[str, str] = TtlCache(0.5, clock=clock)

    assert await cache.get("k", source.load) == "v1"
    source.value = "v2"
    clock.now += 0.4
    assert await cache.get("k", source.load) == "v1"
    clock.now += 0.2
    assert await cache.get("k", source.load) == "v2"
    assert source.loads == 2


async def test_a_zero_ttl_keeps_nothing() -> None:
    source = Source()
    cache: TtlCache[str, str] = TtlCache(0)
    await cache.get("k", source.load)
    await cache.get("k", source.load)
    assert source.loads == 2


async def test_concurrent_misses_share_one_load() -> None:
    source = Source()
    source.gate = asyncio.Event()
    cache: TtlCache[str, str] = TtlCache(0.5)

    waiting = [asyncio.create_task(cache.get("k", source.load)) for _ in range(64)]
    await asyncio.sleep(0)
    source.gate.set()

    assert await asyncio.gather(*waiting) == ["v1"] * 64
    assert source.loads == 1


async def test_a_caller_that_goes_away_does_not_cancel_the_others() -> None:
    source = Source()
    source.gate = asyncio.Event()
    cache: TtlCache[str, str] = TtlCache(0.5)
    first = asyncio.create_task(cache.get("k", source.load))
    second = asyncio.create_task(cache.get("k", source.load))
    await asyncio.sleep(0)

    first.cancel()
    source.gate.set()

    assert await second == "v1"
    with pytest.raises(asyncio.CancelledError):
        await first


async def test_a_failed_load_is_not_kept() -> None:
    cache: TtlCache[str, str] = TtlCache(0.5)

    async def broken() -> str:
        raise OSError("database away")

    with pytest.raises(OSError):
        await cache.get("k", broken)
    assert await cache.get("k", Source().load) == "v1"


async def test_a_load_that_began_before_a_clear_is_not_kept() -> None:
    source = Source()
    source.gate = asyncio.Event()
    cache: TtlCache[str, str] = TtlCache(5)
    stale = asyncio.create_task(cache.get("k", source.load))
    await asyncio.sleep(0)

    cache.clear()
    source.value = "v2"
    source.gate.set()

    assert await stale == "v2"  # answered with what the load read...
    source.value = "v3"
    assert await cache.get("k", source.load) == "v3"  # ...but not kept


@pytest.mark.parametrize("header", ["Bearer abc", "bearer abc", "BEARER  abc "])
def test_bearer_token(header: str) -> None:
    assert bearer_token(header) == "abc"


@pytest.mark.parametrize("header", [None, "", "Basic abc", "abc", "Bearer", "Bearer   "])
def test_no_bearer_token(header: str | None) -> None:
    with pytest.raises(Unauthenticated):
        bearer_token(header)
