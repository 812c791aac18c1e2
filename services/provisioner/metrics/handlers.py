"""Samples pushed by agents and applications (`POST /v1/metrics`): checked against the caller's project, then
published as `metrics.sampled` (source `agent`) in one transaction. No FastAPI, no aio-pika."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from kernel.errors import ClanaviError, ValidationFailed
from kernel.events.metrics import MetricPoint, MetricsSampled
from kernel.token_bucket import Clock, TokenBucket
from kernel.unit_of_work import UnitOfWork
from services.provisioner.instances.repository import InstanceStore
from services.provisioner.metrics.sampler import batches

# How far from now a pushed sample's time may be.
AHEAD = timedelta(minutes=5)
BEHIND = timedelta(hours=1)
# The most projects whose buckets are kept (the least recently used forgotten beyond).
MAX_PROJECTS = 10_000


class RateLimited(ClanaviError, code="rate_limited", status=429, title="Too many requests"):
    def __init__(self, detail: str, *, retry_after: float) -> None:
        super().__init__(detail)
        self.retry_after = max(1, math.ceil(retry_after))


@dataclass
class PushLimit:
    """One token bucket per project: `rate` pushes a second, `burst` at once."""

    rate: float
    burst: int
    clock: Clock = time.monotonic

    def __post_init__(self) -> None:
        self._buckets: dict[str, TokenBucket] = {}

    def take(self, project_id: str) -> None:
        """Spend a push of the project's; RateLimited (429) when its bucket is empty."""
        if self.rate <= 0:
            return
        bucket = self._buckets.pop(project_id, None) or TokenBucket(self.burst, self.rate, self.clock)
        # Re-inserted: the dict's order is the order of use, the least recently used first.
        self._buckets[project_id] = bucket
        while len(self._buckets) > MAX_PROJECTS:
            del self._buckets[next(iter(self._buckets))]
        if not bucket.take():
            raise RateLimited(
                f"Project {project_id} pushes metrics faster than {self.rate:g} a second.",
                retry_after=bucket.wait_seconds(),
            )


@dataclass(frozen=True)
class Pushed:
    name: str
    value: float
    unit: str
    at: datetime | None
    instance_id: str | None
    labels: dict[str, str]


async def push(
    uow: UnitOfWork[InstanceStore], *, project_id: str, samples: Sequence[Pushed], now: datetime | None = None
) -> int:
    """Publish the samples (each of the project's instances, or of nothing); 422 naming each sample whose instance
    is not the project's or whose time is too far from now. How many were accepted."""
    now = now or datetime.now(UTC)
    problems = []
    for n, s in enumerate(samples):
        if s.at is not None and not now - BEHIND <= s.at <= now + AHEAD:
            problems.append({"location": f"body.samples.{n}.at", "message": "more than 5 minutes ahead or 1 hour old"})
    named = {s.instance_id for s in samples if s.instance_id is not None}
    async with uow.reading() as repos:
        owned = await repos.instances.owned_ids(project_id, sorted(named)) if named else set()
    for n, s in enumerate(samples):
        if s.instance_id is not None and s.instance_id not in owned:
            problems.append({"location": f"body.samples.{n}.instance_id", "message": f"no instance {s.instance_id}"})
    if problems:
        problems.sort(key=lambda p: (int(p["location"].split(".")[2]), p["location"]))
        raise ValidationFailed("Some samples cannot be accepted.", errors=problems)
    points = [
        MetricPoint(
            name=s.name, value=s.value, unit=s.unit, at=s.at or now, instance_id=s.instance_id, labels=dict(s.labels)
        )
        for s in samples
    ]
    async with uow.transaction() as tx:
        for batch in batches(points):
            tx.emit_new(project_id, MetricsSampled(source="agent", samples=batch))
    return len(points)


__all__ = ["PushLimit", "Pushed", "RateLimited", "push"]
