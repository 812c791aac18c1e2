"""When a failed cloud call is tried again, and backing off from a cloud that throttles.

A pending action whose cloud call failed is tried again later with backoff and jitter: `max_attempts` tries when the
cloud fails or is away; while it only throttles, tries do not count, but the action gives up `throttle_budget`
seconds after it was requested. After a `Throttled` answer the worker also leaves that cloud alone for a while
(doubling with each further throttle, with jitter) instead of spending its rate limit on retries.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from tenacity import wait_exponential

from adapters.base import CloudError, Throttled
from kernel.retry import pause_after
from services.provisioner import errors

# The full backoff after `n` failures: 0.5 s doubling, at most 30 s.
_BACKOFF = wait_exponential(multiplier=0.5, max=30.0)
# The longest a throttling cloud is left alone at once.
_LONGEST_PAUSE = 10.0


def retry_delay(failures: int) -> float:
    """Seconds before the next try of a cloud call that failed `failures` times (exponential, capped)."""
    return pause_after(_BACKOFF, max(failures, 1))


def jittered_delay(failures: int, rand: float) -> float:
    """`retry_delay` spread over its upper half ("equal jitter"), so retries of many records do not move in step;
    `rand` is uniform in [0, 1)."""
    return retry_delay(failures) * (0.5 + rand / 2)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 5
    throttle_budget: float = 600.0


@dataclass(frozen=True, slots=True)
class Retry:
    delay: float
    attempts: int
    throttled: int


def plan_retry(
    policy: RetryPolicy,
    *,
    retryable: bool,
    throttled: bool,
    attempts: int,
    throttles: int,
    age: float,
    rand: float,
    at_least: float = 0.0,
) -> Retry | None:
    """When to try a failed cloud call again, or None to give up. `attempts` and `throttles` count the failures so
    far, `age` is the seconds since the action was requested, `at_least` what the cloud asked us to wait."""
    if throttled:
        if age >= policy.throttle_budget:
            return None
        delay = max(jittered_delay(throttles + 1, rand), at_least)
        return Retry(min(delay, max(policy.throttle_budget - age, 0.0) + 0.01), attempts, throttles + 1)
    if not retryable or attempts + 1 >= policy.max_attempts:
        return None
    return Retry(max(jittered_delay(attempts + 1, rand), at_least), attempts + 1, 0)


class Pacer:
    """Per cloud: how long the worker leaves it alone after it throttled."""

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        rand: Callable[[], float] = random.random,  # noqa: S311 - jitter, not secrecy
    ) -> None:
        self._clock = clock
        self._rand = rand
        self._until: dict[str, float] = {}
        self._streak: dict[str, int] = {}

    def rand(self) -> float:
        return self._rand()

    def wait(self, cloud_id: str) -> float:
        """Seconds before the worker may call this cloud again (0: now)."""
        return max(0.0, self._until.get(cloud_id, 0.0) - self._clock())

    def throttled(self, cloud_id: str, at_least: float = 0.0) -> float:
        """The cloud throttled a call: how long it is now left alone."""
        streak = self._streak.get(cloud_id, 0) + 1
        self._streak[cloud_id] = streak
        pause = min(max(jittered_delay(streak, self._rand()), at_least), _LONGEST_PAUSE)
        self._until[cloud_id] = max(self._until.get(cloud_id, 0.0), self._clock() + pause)
        return pause

    def succeeded(self, cloud_id: str) -> None:
        self._streak.pop(cloud_id, None)


class Retrying(Protocol):
    """What planning a retry reads of a record whose cloud call failed (an instance's or another resource's)."""

    @property
    def cloud_id(self) -> str: ...
    @property
    def attempts(self) -> int: ...
    @property
    def throttled(self) -> int: ...
    @property
    def pending_since(self) -> datetime | None: ...
    @property
    def created_at(self) -> datetime: ...


def plan_after_failure(record: Retrying, exc: CloudError, policy: RetryPolicy, pacer: Pacer) -> Retry | None:
    """A cloud call for `record` failed: leave a throttling cloud alone for a while, then plan when to try again
    (None: give up)."""
    throttled = isinstance(exc, Throttled)
    if throttled:
        pacer.throttled(record.cloud_id, errors.retry_after(exc))
    started = record.pending_since or record.created_at
    return plan_retry(
        policy,
        retryable=exc.retryable,
        throttled=throttled,
        attempts=record.attempts,
        throttles=record.throttled,
        age=(datetime.now(UTC) - started).total_seconds(),
        rand=pacer.rand(),
        at_least=pacer.wait(record.cloud_id),
    )


def give_up_reason(exc: CloudError, policy: RetryPolicy) -> str:
    """Why an action failed for good after `plan_after_failure` gave up."""
    if isinstance(exc, Throttled):
        return f"The cloud kept throttling requests for {policy.throttle_budget:.0f} s: {errors.describe(exc)}"
    return errors.reason(exc)


__all__ = [
    "Pacer",
    "Retry",
    "RetryPolicy",
    "Retrying",
    "give_up_reason",
    "jittered_delay",
    "plan_after_failure",
    "plan_retry",
    "retry_delay",
]
