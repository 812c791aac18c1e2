"""A stopping service cancels its background tasks and never hangs on one that will not stop."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import pytest

from kernel.runtime import ServiceRuntime
from kernel.settings import KernelSettings


def runtime() -> ServiceRuntime:
    settings = KernelSettings(internal_key="k" * 32)
    return ServiceRuntime("test", settings, schema="test", migrations=Path("."))


async def test_stop_cancels_every_background_task() -> None:
    rt = runtime()
    stopped: list[str] = []

    async def forever(name: str) -> None:
        try:
            await asyncio.sleep(3600)
        finally:
            stopped.append(name)

    rt.spawn(forever("a"), name="a")
    rt.spawn(forever("b"), name="b")
    await asyncio.sleep(0)
    await rt.stop(grace=5)
    assert sorted(stopped) == ["a", "b"]


async def test_a_task_that_ignores_its_cancellation_is_reported_and_left(caplog: pytest.LogCaptureFixture) -> None:
    rt = runtime()
    release = asyncio.Event()

    async def stubborn() -> None:
        while not release.is_set():
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                continue  # the kind of bug stop() must survive

    rt.spawn(stubborn(), name="stubborn")
    await asyncio.sleep(0)
    started = time.monotonic()
    with caplog.at_level(logging.ERROR, logger="kernel.runtime"):
        await rt.stop(grace=0.2)
    assert time.monotonic() - started < 2
    assert "test-stubborn did not stop" in caplog.text
    release.set()
    for task in rt._tasks:  # noqa: SLF001 - end the test's own stray task
        task.cancel()
    await asyncio.wait(rt._tasks, timeout=1)  # noqa: SLF001


async def test_what_closing_registered_is_closed_after_the_tasks_stop_the_last_first() -> None:
    rt = runtime()
    happened: list[str] = []

    async def forever() -> None:
        try:
            await asyncio.sleep(3600)
        finally:
            happened.append("task stopped")

    async def close_first() -> None:
        happened.append("first closed")

    async def close_second() -> None:
        happened.append("second closed")

    rt.spawn(forever(), name="work")
    rt.closing(close_first)
    rt.closing(close_second)
    await asyncio.sleep(0)
    await rt.stop(grace=5)
    assert happened == ["task stopped", "second closed", "first closed"]


async def test_a_closer_that_hangs_is_reported_and_the_others_still_close(caplog: pytest.LogCaptureFixture) -> None:
    rt = runtime()
    closed: list[str] = []

    async def hangs() -> None:
        await asyncio.sleep(3600)

    async def closes() -> None:
        closed.append("closes")

    rt.closing(closes)
    rt.closing(hangs)
    with caplog.at_level(logging.ERROR, logger="kernel.runtime"):
        await rt.stop(grace=0.05)
    assert closed == ["closes"]
    assert "hangs did not finish" in caplog.text
