"""The one token bucket of the platform. Each user keeps its own policy on top of it: the gateway refuses a request
when its client's bucket is empty (429 with Retry-After), SimCloud refuses a call (its simulated API limit), and the
EC2 adapter reserves ahead and waits off the debt (so it stays under EC2's own limits).

Not thread-safe: a bucket belongs to one event loop.
"""

from __future__ import annotations

import time
from collections.abc import Callable

Clock = Callable[[], float]

__all__ = ["Clock", "TokenBucket"]


class TokenBucket:
    """`capacity` tokens at most, refilled continuously at `rate` a second on `clock`; it starts full.

    `take` spends tokens only when they are there (a refusal takes nothing); `reserve` always spends them, overdrawing
    the bucket if need be, and answers how long to wait: concurrent callers so queue in arrival order, each waiting off
    its own share of the debt.
    """

    # The gateway keeps one per client (up to 100,000 of them).
    __slots__ = ("_clock", "_stamp", "_tokens", "capacity", "rate")

    def __init__(self, capacity: float, rate: float, clock: Clock = time.monotonic) -> None:
        if capacity <= 0 or rate <= 0:
            raise ValueError("a token bucket needs a positive capacity and refill rate")
        self.capacity = capacity
        self.rate = rate
        self._clock = clock
        self._tokens = float(capacity)
        self._stamp = clock()

    def _refill(self) -> float:
        now = self._clock()
        self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now
        return self._tokens

    @property
    def tokens(self) -> float:
        """Tokens in the bucket now; negative while reservations are still being waited off."""
        return self._refill()

    def take(self, cost: float = 1.0) -> bool:
        """Spend `cost` tokens if the bucket holds them; False (spending nothing) if it does not."""
        if self._refill() < cost:
            return False
        self._tokens -= cost
        return True

    def wait_seconds(self, cost: float = 1.0) -> float:
        """Seconds until the bucket holds `cost` tokens (0: it does now)."""
        return max(0.0, (cost - self._refill()) / self.rate)

    def reserve(self, cost: float = 1.0) -> float:
        """Spend `cost` tokens (at most a full bucket), whether there or not; the seconds to wait before acting on
        them (0: they were there)."""
        self._refill()
        self._tokens -= min(cost, self.capacity)
        return 0.0 if self._tokens >= 0 else -self._tokens / self.rate

    def refund(self, cost: float = 1.0) -> None:
        """Give back tokens reserved for something that was never done."""
        self._refill()
        self._tokens = min(self.capacity, self._tokens + min(cost, self.capacity))
