"""The wake-up a background loop waits on: it returns when notified or when its time is up, and a loop waiting on
it always stops when cancelled, even when the cancellation and a notification arrive together."""

from __future__ import annotations

import asyncio
import time

from kernel.notify import Signal


def wakeup() -> Signal:
    return Signal()


async def test_a_notification_ends_the_wait_at_once() -> None:
    w = wakeup()
    waiting = asyncio.create_task(w.wait(30))
    await asyncio.sleep(0)
    w.set()
    await asyncio.wait_for(waiting, 1)


async def test_without_a_notification_the_wait_ends_when_its_time_is_up() -> None:
    started = time.monotonic()
    await wakeup().wait(0.05)
    assert 0.04 <= time.monotonic() - started < 1


async def test_a_notification_is_used_once() -> None:
    w = wakeup()
    w.set()
    await asyncio.wait_for(w.wait(30), 1)
    started = time.monotonic()
    await w.wait(0.05)
    assert time.monotonic() - started >= 0.04


async def test_a_waiting_loop_stops_when_cancelled_as_it_is_notified() -> None:
    for _ in range(50):
        w = wakeup()

        async def loop(w: Signal = w) -> None:
            while True:
                await w.wait(30)

        task = asyncio.create_task(loop())
        await asyncio.sleep(0)
        w.set()
        await asyncio.sleep(0)  # the notification is being delivered...
        task.cancel()  # ...as the loop is told to stop
        done, _ = await asyncio.wait({task}, timeout=1)
        assert done and task.cancelled(), "the cancellation was swallowed: the loop runs on"
