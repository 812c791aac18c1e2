"""Retry loops built by kernel.retry on tenacity: what is retried, how long it pauses, what it raises at the end, and
that a cancellation is never retried, in an attempt or in a pause."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest
from tenacity import stop_after_attempt, stop_after_delay, wait_exponential, wait_fixed

from kernel.retry import pause_after, retrying

log = logging.getLogger("test_kernel_retry")


class Pauses:
    """Stands in for asyncio.sleep: records each pause, sleeps not."""

    def __init__(self) -> None:
        self.seconds: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.seconds.append(seconds)


class Flaky:
    """Fails with each of `errors` in turn, then answers "ok"."""

    def __init__(self, *errors: BaseException) -> None:
        self.errors = list(errors)
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


async def run(call: Flaky, pauses: Pauses, **policy: object) -> str:
    options: dict[str, object] = {"on": OSError, "wait": wait_exponential(multiplier=0.2, max=1.0), "what": "test"}
    options.update(policy)
    async for attempt in retrying(log=log, sleep=pauses, **options):  # type: ignore[arg-type]
        with attempt:
            answer = await call()
    return answer


async def test_accepted_errors_are_retried_with_the_waits_pauses() -> None:
    pauses, call = Pauses(), Flaky(*[ConnectionError("away")] * 4)
    assert await run(call, pauses) == "ok"
    assert call.calls == 5
    assert pauses.seconds == pytest.approx([0.2, 0.4, 0.8, 1.0])


async def test_other_errors_are_raised_at_once() -> None:
    pauses, call = Pauses(), Flaky(ValueError("bad"))
    with pytest.raises(ValueError, match="bad"):
        await run(call, pauses)
    assert call.calls == 1 and pauses.seconds == []


async def test_a_test_of_each_error_decides_too() -> None:
    pauses, call = Pauses(), Flaky(ValueError("again"), ValueError("again"), ValueError("stop"))
    with pytest.raises(ValueError, match="stop"):
        await run(call, pauses, on=lambda error: str(error) == "again")
    assert call.calls == 3 and len(pauses.seconds) == 2


async def test_the_last_failure_is_raised_as_it_is_once_the_attempts_are_spent() -> None:
    cause = KeyError("sdk")
    last = ConnectionError("third")
    last.__cause__ = cause
    pauses, call = Pauses(), Flaky(ConnectionError("first"), ConnectionError("second"), last, ConnectionError("4th"))
    with pytest.raises(ConnectionError) as raised:
        await run(call, pauses, stop=stop_after_attempt(3))
    assert raised.value is last and raised.value.__cause__ is cause
    assert call.calls == 3 and len(pauses.seconds) == 2


async def test_a_time_limit_stops_retrying() -> None:
    async def away() -> None:
        raise ConnectionError("away")

    started = time.monotonic()
    with pytest.raises(ConnectionError):
        async for attempt in retrying(OSError, wait=wait_fixed(0.01), stop=stop_after_delay(0.1), log=log, what="t"):
            with attempt:
                await away()
    assert 0.1 <= time.monotonic() - started < 2


async def test_what_fails_outside_the_attempt_is_not_retried() -> None:
    pauses, call, refused = Pauses(), Flaky(ConnectionError("away")), 0
    with pytest.raises(ConnectionError, match="refused"):
        async for attempt in retrying(OSError, wait=wait_fixed(1), log=log, what="test", sleep=pauses):
            if call.calls:
                refused += 1
                raise ConnectionError("refused")
            with attempt:
                await call()
    assert refused == 1 and pauses.seconds == [1]


async def test_a_cancellation_in_an_attempt_is_never_retried() -> None:
    pauses = Pauses()
    for on in (Exception, lambda error: True):
        call = Flaky(asyncio.CancelledError())
        with pytest.raises(asyncio.CancelledError):
            await run(call, pauses, on=on)
        assert call.calls == 1
    assert pauses.seconds == []


async def test_a_loop_cancelled_in_its_pause_stops_at_once() -> None:
    async def forever() -> None:
        async for attempt in retrying(Exception, wait=wait_fixed(3600), log=log, what="test"):
            with attempt:
                raise ConnectionError("away")

    task = asyncio.create_task(forever())
    await asyncio.sleep(0.01)
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=1)
    assert done and task.cancelled()


async def test_each_failure_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger=log.name):
        await run(
            Flaky(ConnectionError("away"), TimeoutError()), Pauses(), on=OSError, what="dialling", level=logging.INFO
        )
    assert [r.getMessage() for r in caplog.records] == [
        "dialling failed (attempt 1), trying again in 0.20s: away",
        "dialling failed (attempt 2), trying again in 0.40s: TimeoutError",
    ]


def test_pause_after_reads_a_wait_outside_a_loop() -> None:
    doubling = wait_exponential(multiplier=0.5, max=10.0)
    assert [pause_after(doubling, n) for n in range(1, 8)] == [0.5, 1, 2, 4, 8, 10, 10]
    assert pause_after(doubling, 100_000) == 10.0  # no overflow
