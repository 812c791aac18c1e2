"""The API rate limit of a SimCloud account: a token bucket over every call, kept in this process."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

Monotonic = Callable[[], float]


class TokenBucket:
    """`rate` tokens a second up to a burst of max(1, rate); a call takes one token or is refused."""

    def __init__(self, rate: float, monotonic: Monotonic = time.monotonic) -> None:
        self.rate = rate
        self.burst = max(1.0, rate)
        self._monotonic = monotonic
        self._tokens = self.burst
        self._at = monotonic()

    def take(self) -> bool:
        now = self._monotonic()
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True

    def wait_seconds(self) -> float:
        """How long until a call would be admitted, as of the last `take`."""
        return max(0.0, (1 - self._tokens) / self.rate)


_buckets: dict[tuple[str, float], TokenBucket] = {}
_lock = threading.Lock()


def bucket_for(account_id: str, rate: float) -> TokenBucket:
    """The account's bucket, shared by every adapter of the account in this process, as a provider's would be."""
    with _lock:
        bucket = _buckets.get((account_id, rate))
        if bucket is None:
            bucket = _buckets[(account_id, rate)] = TokenBucket(rate)
        return bucket
