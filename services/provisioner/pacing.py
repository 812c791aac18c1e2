"""Backing off from a cloud that throttles: after a `Throttled` answer the worker leaves that cloud alone for a
while (doubling with each further throttle, with jitter) instead of spending its rate limit on retries."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol

from adapters.base import CloudError, Throttled
from services.provisioner import errors
from services.provisioner.domain import Retry, RetryPolicy, jittered_delay, plan_retry


class Pacer:
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
        pause = min(max(jittered_delay(streak, self._rand()), at_least), 10.0)
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
        return f"The cloud kept throttling requests for {policy.throttle_budget:.0f} s: {exc}"
    return errors.reason(exc)
