"""Backing off from a cloud that throttles: after a `Throttled` answer the worker leaves that cloud alone for a
while (doubling with each further throttle, with jitter) instead of spending its rate limit on retries."""

from __future__ import annotations

import random
import time
from collections.abc import Callable

from services.provisioner.domain import jittered_delay


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
