"""Retrying what failed, on tenacity. Every retry loop of the platform is built by `retrying`, so that all of them log
alike, raise their last error as it is (never tenacity's RetryError), and never retry a cancellation: a background
loop told to stop stops at once, whether it was in an attempt or in its backoff.

    async for attempt in retrying(OSError, wait=wait_fixed(1.0), log=log, what="connecting"):
        with attempt:
            conn = await connect()

What the loop body raises outside `with attempt` is not retried: it leaves the loop at once.

The waits are tenacity's own (`wait_fixed`, `wait_exponential`, `wait_random_exponential`...). `pause_after` reads one
for a retry that something else drives, such as a message the broker delivers again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_never
from tenacity.stop import StopBaseT
from tenacity.wait import WaitBaseT

__all__ = ["Retryable", "Sleep", "pause_after", "retrying"]

# The errors to retry: classes of them, or a test of each.
Retryable = type[Exception] | tuple[type[Exception], ...] | Callable[[Exception], bool]
Sleep = Callable[[float], Awaitable[None]]


def retrying(
    on: Retryable,
    *,
    wait: WaitBaseT,
    stop: StopBaseT = stop_never,
    log: logging.Logger,
    what: str,
    level: int = logging.WARNING,
    sleep: Sleep = asyncio.sleep,
) -> AsyncRetrying:
    """Attempts until one succeeds, pausing as `wait` says after each failure `on` accepts; raises any other error,
    and the last failure once `stop` says so. Each failure is logged at `level` as `what` failing.

    A fresh object for each loop: tenacity keeps the state of a loop on it."""
    return AsyncRetrying(
        retry=retry_if_exception(_accepts(on)),
        wait=wait,
        stop=stop,
        sleep=sleep,
        reraise=True,
        before_sleep=_reporter(log, level, what),
    )


def pause_after(wait: WaitBaseT, failures: int) -> float:
    """The pause `wait` makes after `failures` failed attempts (1 after the first)."""
    state = RetryCallState(AsyncRetrying(), None, (), {})
    state.attempt_number = failures
    return float(wait(state))


def _accepts(on: Retryable) -> Callable[[BaseException], bool]:
    # Only Exceptions ever: CancelledError, KeyboardInterrupt and SystemExit always end the loop.
    if isinstance(on, type | tuple):
        kinds = on
        return lambda error: isinstance(error, Exception) and isinstance(error, kinds)
    test = on
    return lambda error: isinstance(error, Exception) and test(error)


def _reporter(log: logging.Logger, level: int, what: str) -> Callable[[RetryCallState], None]:
    def report(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome is not None else None
        pause = state.next_action.sleep if state.next_action is not None else 0.0
        log.log(
            level,
            "%s failed (attempt %d), trying again in %.2fs: %s",
            what,
            state.attempt_number,
            pause,
            str(error) or type(error).__name__,
        )

    return report
