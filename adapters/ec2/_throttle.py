"""Client-side rate limiting: token buckets shaped like EC2's own, so an account stays under its request limits.

EC2 evaluates request limits per API action (each action has its own bucket, sized by its category) and charges
some actions per resource as well (RunInstances: one token per instance). The adapter mirrors that with one of the
kernel's `TokenBucket`s per action and per resource-charged action, reserving ahead: a request waits off its share of
the debt rather than being refused, unless the wait would exceed `max_wait_seconds`. Buckets take an injectable
clock; `Throttle.acquire` is the only place that waits.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from tenacity import wait_random_exponential

from adapters.base import Throttled
from adapters.ec2.config import BucketConfig, ThrottleConfig
from kernel.token_bucket import Clock, TokenBucket

Sleep = Callable[[float], Awaitable[None]]

NON_MUTATING_PREFIXES = ("Describe", "Get", "List", "Search")


def is_non_mutating(action: str) -> bool:
    return action.startswith(NON_MUTATING_PREFIXES)


def backoff(config: ThrottleConfig) -> wait_random_exponential:
    """The pause before a throttled call's next attempt: exponential with full jitter, a delay drawn from
    [0, min(cap, base * 2**(n - 1))] after the nth failure, so that the clients EC2 throttled together do not all come
    back together."""
    return wait_random_exponential(multiplier=config.backoff_base_seconds, max=config.backoff_cap_seconds)


class Throttle:
    """The buckets of one adapter (one account in one region)."""

    def __init__(self, config: ThrottleConfig, clock: Clock = time.monotonic, sleep: Sleep = asyncio.sleep) -> None:
        self._config = config
        self._clock = clock
        self._sleep = sleep
        self._requests: dict[str, TokenBucket] = {}
        self._resources: dict[str, TokenBucket] = {}

    def _bucket_config(self, service: str, action: str) -> BucketConfig:
        if action in self._config.actions:
            return self._config.actions[action]
        if service == "cloudwatch":
            return self._config.cloudwatch
        return self._config.non_mutating if is_non_mutating(action) else self._config.mutating

    def request_bucket(self, service: str, action: str) -> TokenBucket:
        key = f"{service}:{action}"
        bucket = self._requests.get(key)
        if bucket is None:
            shape = self._bucket_config(service, action)
            bucket = self._requests[key] = TokenBucket(shape.capacity, shape.refill_per_second, self._clock)
        return bucket

    def resource_bucket(self, action: str) -> TokenBucket | None:
        shape = self._config.resources.get(action)
        if shape is None:
            return None
        bucket = self._resources.get(action)
        if bucket is None:
            bucket = self._resources[action] = TokenBucket(shape.capacity, shape.refill_per_second, self._clock)
        return bucket

    def reserve(self, service: str, action: str, resources: int = 0) -> float:
        """Take the tokens one request needs; the seconds to wait before sending it.

        Raises `Throttled` (taking nothing) when the wait would exceed `max_wait_seconds`.
        """
        if not self._config.enabled:
            return 0.0
        request = self.request_bucket(service, action)
        resource = self.resource_bucket(action) if resources > 0 else None
        wait = request.reserve(1)
        if resource is not None:
            wait = max(wait, resource.reserve(resources))
        if wait > self._config.max_wait_seconds:
            self.refund(service, action, resources)
            raise Throttled(
                f"{action} would wait {wait:.0f}s for EC2 request tokens (limit {self._config.max_wait_seconds:.0f}s)"
            )
        return wait

    def refund(self, service: str, action: str, resources: int = 0) -> None:
        if not self._config.enabled:
            return
        self.request_bucket(service, action).refund(1)
        resource = self.resource_bucket(action) if resources > 0 else None
        if resource is not None:
            resource.refund(resources)

    async def acquire(self, service: str, action: str, resources: int = 0) -> None:
        """Wait until one request of `action` (charging `resources` resource tokens) is within the limits."""
        wait = self.reserve(service, action, resources)
        if wait <= 0:
            return
        try:
            await self._sleep(wait)
        except asyncio.CancelledError:
            self.refund(service, action, resources)
            raise


__all__ = ["Sleep", "Throttle", "backoff", "is_non_mutating"]
