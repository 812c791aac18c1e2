"""The metrics sampler: every round it reads the latest samples of the running instances from their clouds and
publishes them as `metrics.sampled` (source `cloud`), one event per project per round (more when a project has more
than `MAX_BATCH` samples), only samples newer than the last it published for each instance.

The same round asks each cloud once for the state of those instances (`get_instances`, the call the follow makes,
under the same pacing): one its cloud now shows in error, stopped or suspended is recorded so (`instance.failed`,
...) within a round, not at the next inventory sync. One the cloud no longer has is left to the sync, which tells a
vanished instance from a failed one. Samples are read one instance at a time (all the adapter protocol offers), at
most `concurrency` calls in flight, from clouds that declare metrics; a cloud that throttles them is paced as the
follow paces it (its samples wait for a later round).
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta

from adapters.base import CloudError, Feature, Throttled
from adapters.base import Instance as CloudInstance
from adapters.base import InstanceState as S
from kernel.errors import ClanaviError
from kernel.events.metrics import MAX_BATCH, MetricPoint, MetricsSampled
from kernel.unit_of_work import UnitOfWork
from services.provisioner import errors
from services.provisioner.clouds.directory import CloudDirectory
from services.provisioner.instances import domain
from services.provisioner.instances.cloud import INSTANCES
from services.provisioner.instances.domain import InstanceRecord
from services.provisioner.unit_of_work import Repositories
from services.provisioner.work.engine import Engine

log = logging.getLogger(__name__)

# The most instances one round samples (the oldest first).
MAX_INSTANCES = 10_000
# How far back the first round of an instance looks.
FIRST_LOOK = timedelta(minutes=2)
# What a cloud may now show of an instance recorded running that the round records at once.
_NOTICED = frozenset({S.ERROR, S.STOPPED, S.SUSPENDED})


def batches(points: Sequence[MetricPoint]) -> Iterator[list[MetricPoint]]:
    for start in range(0, len(points), MAX_BATCH):
        yield list(points[start : start + MAX_BATCH])


class MetricsSampler:
    def __init__(
        self,
        uow: UnitOfWork[Repositories],
        clouds: CloudDirectory,
        engine: Engine,
        *,
        interval: float,
        concurrency: int,
    ) -> None:
        self.uow = uow
        self.clouds = clouds
        self.engine = engine
        self.interval = interval
        self._slots = asyncio.Semaphore(concurrency)
        # The time of the newest sample published of each instance (kept by this process; after a restart an
        # instance's last FIRST_LOOK is published again).
        self.last: dict[str, datetime] = {}

    async def run(self) -> None:
        while True:
            try:
                await self.round()
            except Exception:
                log.exception("a round of metric sampling failed; trying again")
            await asyncio.sleep(self.interval)

    async def round(self) -> int:
        """One round; how many samples it published."""
        async with self.uow.reading() as repos:
            running = await repos.instances.running(MAX_INSTANCES)
        by_cloud: dict[str, list[InstanceRecord]] = defaultdict(list)
        for record in running:
            by_cloud[record.cloud_id].append(record)
        read = await asyncio.gather(*(self._cloud(cloud_id, records) for cloud_id, records in by_cloud.items()))
        points: dict[str, list[MetricPoint]] = defaultdict(list)
        for found in read:
            for project_id, samples in found:
                points[project_id].extend(samples)
        published = sum(len(p) for p in points.values())
        if published:
            async with self.uow.transaction() as tx:
                for project_id, samples in points.items():
                    for batch in batches(samples):
                        tx.emit_new(project_id, MetricsSampled(source="cloud", samples=batch))
            # Only once they are in the outbox: a round whose transaction failed is published again by the next.
            for samples in points.values():
                for point in samples:
                    if point.instance_id is not None:
                        self.last[point.instance_id] = max(point.at, self.last.get(point.instance_id, point.at))
        live = {r.id for r in running}
        for gone in set(self.last) - live:
            del self.last[gone]
        return published

    async def _cloud(self, cloud_id: str, records: list[InstanceRecord]) -> list[tuple[str, list[MetricPoint]]]:
        seen = await self.engine.current(INSTANCES, records)
        if seen is None:
            return []
        await self._notice(records, seen)
        try:
            cloud = await self.clouds.cloud(cloud_id)
            if Feature.METRICS not in await self.clouds.features(cloud):
                return []
            adapter = await self.clouds.adapter(cloud_id)
        except (CloudError, ClanaviError):
            return []
        up = [r for r in records if (found := seen.get(r.provider_id or "")) is not None and found.state == S.RUNNING]

        async def sample(record: InstanceRecord) -> tuple[str, list[MetricPoint]]:
            now = datetime.now(UTC)
            since = self.last.get(record.id, now - FIRST_LOOK)
            async with self._slots:
                if self.engine.pacer.wait(cloud_id) > 0:
                    return record.project_id, []  # throttled: its samples wait for the next round
                try:
                    got = await adapter.get_metrics(record.provider_id or "", since)
                except Throttled as exc:
                    self.engine.pacer.throttled(cloud_id, errors.retry_after(exc))
                    return record.project_id, []
                except CloudError as exc:
                    log.info("no metrics of instance %s this round: %s", record.id, type(exc).__name__)
                    return record.project_id, []
            fresh = sorted((s for s in got if s.timestamp > since), key=lambda s: (s.timestamp, s.name))
            labels = {"cloud_id": record.cloud_id}
            return record.project_id, [
                MetricPoint(
                    name=s.name, value=s.value, unit=s.unit, at=s.timestamp, instance_id=record.id, labels=labels
                )
                for s in fresh
            ]

        return list(await asyncio.gather(*(sample(r) for r in up)))

    async def _notice(self, records: list[InstanceRecord], seen: Mapping[str, CloudInstance]) -> None:
        """Record the instances their cloud now shows stopped or in error."""
        changed = [
            r.id for r in records if (found := seen.get(r.provider_id or "")) is not None and found.state in _NOTICED
        ]
        if not changed:
            return
        async with self.uow.transaction() as tx:
            for record in await tx.repos.instances.lock_running(changed):
                after, events = domain.observe(record, seen[record.provider_id or ""])
                if events or after != record:
                    await tx.repos.instances.save(tx.changed(after, *events))


__all__ = ["MetricsSampler", "batches"]
