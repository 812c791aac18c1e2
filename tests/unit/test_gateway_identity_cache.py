"""The authenticator's cache (the kernel's LoadingCache): values kept for a while, one load per key at a time, a clear
that wins, and a bound that forgets the least recently used."""

from __future__ import annotations

import asyncio

import pytest

from kernel.caching import LoadingCache
from kernel.errors import Unauthenticated
from services.gateway.identity.authenticator import bearer_token
from tests.clock import FakeClock


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
    clock, source = FakeClock(), Source()
    cache: LoadingCache[str, str] = LoadingCache(0.5, clock=clock)

    assert await cache.get("k", source.load) == "v1"
    source.value = "v2"
    clock.now += 0.4
    assert await cache.get("k", source.load) == "v1"
    clock.now += 0.2
    assert await cache.get("k", source.load) == "v2"
    assert source.loads == 2


async def test_a_zero_ttl_keeps_nothing() -> None:
    source = Source()
    cache: LoadingCache[str, str] = LoadingCache(0)
    await cache.get("k", source.load)
    await cache.get("k", source.load)
    assert source.loads == 2


async def test_concurrent_misses_share_one_load() -> None:
    source = Source()
    source.gate = asyncio.Event()
    cache: LoadingCache[str, str] = LoadingCache(0.5)

    waiting = [asyncio.create_task(cache.get("k", source.load)) for _ in range(64)]
    await asyncio.sleep(0)
    source.gate.set()

    assert await asyncio.gather(*waiting) == ["v1"] * 64
    assert source.loads == 1


async def test_a_caller_that_goes_away_does_not_cancel_the_others() -> None:
    source = Source()
    source.gate = asyncio.Event()
    cache: LoadingCache[str, str] = LoadingCache(0.5)
    first = asyncio.create_task(cache.get("k", source.load))
    second = asyncio.create_task(cache.get("k", source.load))
    await asyncio.sleep(0)

    first.cancel()
    source.gate.set()

    assert await second == "v1"
    with pytest.raises(asyncio.CancelledError):
        await first


async def test_a_failed_load_is_not_kept() -> None:
    cache: LoadingCache[str, str] = LoadingCache(0.5)

    async def broken() -> str:
        raise OSError("database away")

    with pytest.raises(OSError):
        await cache.get("k", broken)
    assert await cache.get("k", Source().load) == "v1"


async def test_a_load_that_began_before_a_clear_is_not_kept() -> None:
    source = Source()
    source.gate = asyncio.Event()
    cache: LoadingCache[str, str] = LoadingCache(5)
    stale = asyncio.create_task(cache.get("k", source.load))
    await asyncio.sleep(0)

    cache.clear()
    source.value = "v2"
    source.gate.set()

    assert await stale == "v2"  # answered with what the load read...
    source.value = "v3"
    assert await cache.get("k", source.load) == "v3"  # ...but not kept


async def test_a_discarded_key_is_loaded_again_and_the_others_are_kept() -> None:
    source = Source()
    cache: LoadingCache[str, str] = LoadingCache(5)
    await cache.get("a", source.load)
    await cache.get("b", source.load)

    cache.discard("a")
    cache.discard("never-loaded")
    source.value = "v2"

    assert await cache.get("a", source.load) == "v2"
    assert await cache.get("b", source.load) == "v1"
    assert source.loads == 3


async def test_a_load_that_began_before_its_key_was_discarded_is_not_kept() -> None:
    source, gate = Source(), asyncio.Event()
    source.gate = gate
    cache: LoadingCache[str, str] = LoadingCache(5)
    stale = asyncio.create_task(cache.get("k", source.load))
    while source.loads == 0:  # the load is under way
        await asyncio.sleep(0)

    cache.discard("k")
    source.gate = None
    source.value = "v2"
    assert await cache.get("k", source.load) == "v2"  # a load of its own, not the stale one's
    source.value = "v3"
    gate.set()

    assert await stale == "v3"
    assert await cache.get("k", source.load) == "v2"
    assert source.loads == 2


async def test_a_stale_load_ending_late_leaves_the_newer_one_alone() -> None:
    stale_gate, fresh_gate = asyncio.Event(), asyncio.Event()
    loads = 0

    async def load() -> str:
        nonlocal loads
        loads += 1
        await (stale_gate if loads == 1 else fresh_gate).wait()
        return f"load {loads}"

    cache: LoadingCache[str, str] = LoadingCache(5)
    stale = asyncio.create_task(cache.get("k", load))
    await asyncio.sleep(0)
    cache.clear()
    fresh = [asyncio.create_task(cache.get("k", load)) for _ in range(3)]
    await asyncio.sleep(0)

    stale_gate.set()
    await stale
    late = asyncio.create_task(cache.get("k", load))  # joins the fresh load still under way
    await asyncio.sleep(0)
    fresh_gate.set()

    assert await asyncio.gather(*fresh, late) == ["load 2"] * 4
    assert await cache.get("k", load) == "load 2" and loads == 2


async def test_beyond_its_bound_the_least_recently_used_is_forgotten() -> None:
    clock, source = FakeClock(), Source()
    cache: LoadingCache[str, str] = LoadingCache(60, maxsize=2, clock=clock)
    await cache.get("a", source.load)
    await cache.get("b", source.load)
    await cache.get("a", source.load)  # "b" is now the least recently used
    await cache.get("c", source.load)

    assert len(cache) == 2
    assert source.loads == 3
    await cache.get("a", source.load)
    assert source.loads == 3, "a recently used value was evicted"
    await cache.get("b", source.load)
    assert source.loads == 4, "the least recently used value was kept"


async def test_expired_values_make_room_and_are_loaded_again() -> None:
    clock, source = FakeClock(), Source()
    cache: LoadingCache[str, str] = LoadingCache(1, maxsize=2, clock=clock)
    await cache.get("a", source.load)
    await cache.get("b", source.load)
    clock.now += 1
    assert len(cache) == 0
    await cache.get("a", source.load)
    assert source.loads == 3


async def test_a_none_value_is_kept_like_any_other() -> None:
    calls = 0

    async def unknown() -> str | None:
        nonlocal calls
        calls += 1
        return None

    cache: LoadingCache[str, str | None] = LoadingCache(5)
    assert await cache.get("k", unknown) is None
    assert await cache.get("k", unknown) is None
    assert calls == 1


@pytest.mark.parametrize("header", ["Bearer abc", "bearer abc", "BEARER  abc "])
def test_bearer_token(header: str) -> None:
    assert bearer_token(header) == "abc"


@pytest.mark.parametrize("header", [None, "", "Basic abc", "abc", "Bearer", "Bearer   "])
def test_no_bearer_token(header: str | None) -> None:
    with pytest.raises(Unauthenticated):
        bearer_token(header)
