"""When a refused or failed request is tried again, and after how long."""

from __future__ import annotations

import random
from dataclasses import dataclass

__all__ = ["RetryPolicy"]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """At most `attempts` tries of one request, none starting later than `budget` seconds after the first.

    Between tries the client waits what the answer's `Retry-After` says; without it, `backoff` seconds doubled on
    every try up to `max_backoff`, with jitter (half of it fixed, half random) so that clients refused together do
    not come back together. A wait that would end past the budget is not made: the error is raised at once."""

    attempts: int = 5
    budget: float = 60.0
    backoff: float = 0.5
    max_backoff: float = 8.0

    def __post_init__(self) -> None:
        if self.attempts < 1 or self.budget < 0 or self.backoff < 0 or self.max_backoff < self.backoff:
            raise ValueError("attempts >= 1, budget >= 0 and 0 <= backoff <= max_backoff")

    def wait(self, attempt: int, elapsed: float, retry_after: float | None) -> float | None:
        """Seconds to wait before try `attempt + 1`, `elapsed` seconds after the first began; None: give up."""
        if attempt >= self.attempts:
            return None
        if retry_after is not None:
            seconds = retry_after
        else:
            ceiling = min(self.max_backoff, self.backoff * 2 ** (attempt - 1))
            seconds = ceiling / 2 + random.uniform(0, ceiling / 2)  # noqa: S311 - jitter, not a secret
        return seconds if elapsed + seconds <= self.budget else None
