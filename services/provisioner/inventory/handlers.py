"""Inventory sync: reconcile a cloud's records with what the cloud has, on demand and on a schedule.

One run of a cloud: record the run, held by a lease that the run renews (so no two runs of a cloud ever overlap, in
this process or another replica, and a run whose provisioner stopped is closed by the next), then for each kind it
reconciles (instances, then volumes when the adapter has them): read every record's version, list everything the
cloud has page by page, read the records again, compare them in memory (`domain.plan`), and write the changes in
chunks, each chunk's rows and events in one transaction. The run closes with `cloud.synced` (or `cloud.sync_failed`).
No database connection is held while the cloud is listed.

No FastAPI and no aio-pika here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import KW_ONLY, asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Generic

from adapters.base import CloudError, Feature, Operation
from adapters.base import Instance as CloudInstance
from adapters.base import Volume as CloudVolume
from kernel.errors import ClanaviError, NotFound
from kernel.events import CloudSynced, CloudSyncFailed, EventPayload
from kernel.keyset import PageRequest
from kernel.retry import Sleep
from kernel.runtime import stop_tasks
from kernel.unit_of_work import UnitOfWork, chain
from services.provisioner import errors
from services.provisioner.clouds.directory import CloudDirectory
from services.provisioner.clouds.domain import Cloud
from services.provisioner.clouds.repository import owned_cloud
from services.provisioner.inventory.cloud import PAGE_SIZE, list_all, list_volumes
from services.provisioner.inventory.domain import (
    C,
    Change,
    Counts,
    Plan,
    R,
    Rules,
    Sync,
    SyncRun,
    SyncStatus,
    SyncTrigger,
    plan,
)
from services.provisioner.inventory.repository import INTERRUPTED, InventoryRepository, InventoryStore
from services.provisioner.inventory.rules import InstanceRules, VolumeRules
from services.provisioner.work.lease import renewed

log = logging.getLogger(__name__)

# Records written per transaction.
CHUNK_SIZE = 1000
# Seconds a run holds its cloud without renewing: how long a run whose provisioner stopped blocks the next one.
RUN_LEASE = 30.0


@dataclass(frozen=True)
class _Reconciled(Generic[R, C]):
    """One kind a sync reconciles: how its records are read and written, its rules, and the prefix of its counts in
    `Counts`."""

    counted: str
    versions: Callable[[InventoryRepository, str], Awaitable[dict[str, str]]]
    records: Callable[[InventoryRepository, str], Awaitable[list[tuple[R, str]]]]
    rules: Callable[[InventoryRepository, Sync], Awaitable[Rules[R, C]]]
    adopt: Callable[[InventoryRepository, Sequence[R]], Awaitable[set[str]]]
    correct: Callable[[InventoryRepository, Sequence[tuple[R, str]]], Awaitable[set[str]]]


async def _instance_rules(repo: InventoryRepository, sync: Sync) -> InstanceRules:
    return InstanceRules(sync, group_ids=await repo.security_group_ids(sync.cloud_id))


async def _volume_rules(repo: InventoryRepository, sync: Sync) -> VolumeRules:
    return VolumeRules(sync, instance_ids=await repo.instance_ids(sync.cloud_id))


_INSTANCES: _Reconciled[Any, Any] = _Reconciled(
    "",
    lambda repo, cid: repo.instance_versions(cid),
    lambda repo, cid: repo.instances(cid),
    _instance_rules,
    lambda repo, records: repo.adopt_instances(records),
    lambda repo, changes: repo.correct_instances(changes),
)
_VOLUMES: _Reconciled[Any, Any] = _Reconciled(
    "volumes_",
    lambda repo, cid: repo.volume_versions(cid),
    lambda repo, cid: repo.volumes(cid),
    _volume_rules,
    lambda repo, records: repo.adopt_volumes(records),
    lambda repo, changes: repo.correct_volumes(changes),
)


@dataclass(frozen=True)
class _Cause:
    """What a change's event is chained to: the record's last event, in the run's correlation id."""

    project_id: str
    correlation_id: str
    last_event_id: str | None


def _describe(exc: Exception) -> str:
    if isinstance(exc, CloudError):
        return errors.reason(exc)
    if isinstance(exc, ClanaviError):
        return exc.detail
    return f"{type(exc).__name__}: {exc}"


@dataclass(eq=False)
class Inventory:
    """Runs syncs: requested ones in the background, and those a `schedule.Schedule` asks for."""

    uow: UnitOfWork[InventoryStore]
    clouds: CloudDirectory
    _: KW_ONLY
    page_size: int = PAGE_SIZE
    chunk_size: int = CHUNK_SIZE
    lease: float = RUN_LEASE
    sleep: Sleep = asyncio.sleep
    _tasks: set[asyncio.Task[SyncRun]] = field(default_factory=set, init=False)

    # --- on demand --------------------------------------------------------------------------------------------

    async def request(self, cloud_id: str, *, project_id: str, correlation_id: str) -> SyncRun:
        """Start a sync of one of the project's clouds in the background and answer its run at once; while one is
        running already, answer that one. NotFound for another project's cloud, ModuleIsDisabled (409) when its
        module is disabled, NotImplementedByCloud (501) when its adapter cannot list instances."""
        async with self.uow.reading() as repos:
            cloud = await owned_cloud(repos.clouds, project_id, cloud_id)
        await self.clouds.require(cloud, Operation.LIST_INSTANCES)
        run, ours = await self._claim(cloud, "manual", correlation_id)
        if ours:
            task = asyncio.create_task(self._execute(cloud, run), name=f"sync-{cloud_id}")
            self._tasks.add(task)
            task.add_done_callback(self._finished)
        return run

    def _finished(self, task: asyncio.Task[SyncRun]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("a sync could not be recorded", exc_info=task.exception())

    async def sync(self, cloud_id: str, *, trigger: SyncTrigger, correlation_id: str) -> SyncRun:
        """Sync a cloud now and answer the finished run (or the one already running, untouched)."""
        cloud = await self.clouds.cloud(cloud_id)
        self.clouds.require_module(cloud.id, cloud.driver)
        run, ours = await self._claim(cloud, trigger, correlation_id)
        return await self._execute(cloud, run) if ours else run

    async def runs(self, cloud_id: str, *, project_id: str, paging: PageRequest) -> tuple[list[SyncRun], str | None]:
        async with self.uow.reading() as repos:
            await owned_cloud(repos.clouds, project_id, cloud_id)
            return await repos.inventory.page_runs(project_id, cloud_id, paging)

    async def run(self, cloud_id: str, run_id: str, *, project_id: str) -> SyncRun:
        async with self.uow.reading() as repos:
            await owned_cloud(repos.clouds, project_id, cloud_id)
            run = await repos.inventory.get_run(project_id, cloud_id, run_id)
        if run is None:
            raise NotFound(f"Sync {run_id} of cloud {cloud_id} does not exist.")
        return run

    async def close(self) -> None:
        """Stop the runs under way (each is closed as interrupted)."""
        await stop_tasks(list(self._tasks))

    # --- a run --------------------------------------------------------------------------------------------------

    async def _claim(self, cloud: Cloud, trigger: SyncTrigger, correlation_id: str) -> tuple[SyncRun, bool]:
        """A new run of the cloud, held by this process (True); or the run already running (False)."""
        for _ in range(100):
            async with self.uow.transaction() as tx:
                run = await tx.repos.inventory.start_run(
                    cloud_id=cloud.id,
                    project_id=cloud.project_id,
                    trigger=trigger,
                    correlation_id=correlation_id,
                    lease=self.lease,
                )
                if run is not None:
                    return run, True
                current = await tx.repos.inventory.running(cloud.id)
            if current is not None:
                return current, False
            # The run that held the cloud has just finished: try again.
            await asyncio.sleep(0.02)
        raise RuntimeError(f"cloud {cloud.id} is neither free to sync nor running a sync")

    def _holding(self, run: SyncRun) -> contextlib.AbstractAsyncContextManager[None]:
        async def hold() -> bool:
            async with self.uow.transaction() as tx:
                return await tx.repos.inventory.hold_run(run.id, self.lease)

        return renewed(self.lease, hold, f"sync {run.id}")

    async def _execute(self, cloud: Cloud, run: SyncRun) -> SyncRun:
        tally: Counter[str] = Counter()
        try:
            async with self._holding(run):
                await self._reconcile(cloud, run, tally)
        except asyncio.CancelledError:
            await self._interrupted(run, _counts(tally))
            raise
        except Exception as exc:
            error = _describe(exc)
            log.warning("sync %s of cloud %s failed: %s", run.id, cloud.id, error)
            failed = CloudSyncFailed(cloud_id=cloud.id, sync_id=run.id, trigger=run.trigger, error=error)
            return await self._finish(run, "failed", _counts(tally), error, failed)
        counts = _counts(tally)
        told = {name: n for name, n in asdict(counts).items() if name in CloudSynced.model_fields}
        synced = CloudSynced(cloud_id=cloud.id, sync_id=run.id, trigger=run.trigger, **told)
        log.info(
            "sync %s of cloud %s: %d listed in %d calls, %d adopted, %d drifted, %d vanished, %d unchanged",
            run.id,
            cloud.id,
            counts.listed,
            counts.list_calls,
            counts.adopted,
            counts.drifted,
            counts.vanished,
            counts.unchanged,
        )
        return await self._finish(run, "succeeded", counts, None, synced)

    async def _finish(
        self, run: SyncRun, status: SyncStatus, counts: Counts, error: str | None, fact: EventPayload
    ) -> SyncRun:
        async with self.uow.transaction() as tx:
            finished = await tx.repos.inventory.finish_run(run.id, status=status, counts=counts, error=error)
            tx.emit_new(run.project_id, fact, correlation_id=run.correlation_id)
        return finished

    async def _interrupted(self, run: SyncRun, counts: Counts) -> None:
        """Close a run stopped by shutdown. Best effort: the cloud's next run closes it otherwise."""
        with contextlib.suppress(Exception):
            async with asyncio.timeout(2), self.uow.transaction() as tx:
                await tx.repos.inventory.finish_run(run.id, status="failed", counts=counts, error=INTERRUPTED)

    async def _reconcile(self, cloud: Cloud, run: SyncRun, tally: Counter[str]) -> None:
        adapter = await self.clouds.adapter(cloud.id)

        async def instances() -> tuple[list[CloudInstance], int]:
            return await list_all(adapter, page_size=self.page_size, sleep=self.sleep)

        await self._reconcile_kind(_INSTANCES, instances, cloud, run, tally)
        if Feature.VOLUMES in adapter.features:

            async def volumes() -> tuple[list[CloudVolume], int]:
                return await list_volumes(adapter, sleep=self.sleep)

            await self._reconcile_kind(_VOLUMES, volumes, cloud, run, tally)

    async def _reconcile_kind(
        self,
        kind: _Reconciled[R, C],
        listing: Callable[[], Awaitable[tuple[list[C], int]]],
        cloud: Cloud,
        run: SyncRun,
        tally: Counter[str],
    ) -> None:
        async with self.uow.reading() as repos:
            before = await kind.versions(repos.inventory, cloud.id)
        listed, tally[f"{kind.counted}list_calls"] = await listing()
        tally[f"{kind.counted}listed"] = len(listed)
        sync = Sync(cloud.id, cloud.project_id, run.id, run.correlation_id, datetime.now(UTC))
        async with self.uow.reading() as repos:
            found = await kind.records(repos.inventory, cloud.id)
            rules = await kind.rules(repos.inventory, sync)
        after = {r.id: version for r, version in found}
        stable = {i for i, version in after.items() if before.get(i) == version}
        changes = plan(rules, listed, [r for r, _ in found], stable=stable)
        tally[f"{kind.counted}unchanged"] = changes.unchanged
        await self._write(kind, changes, after, run, tally)

    async def _write(
        self, kind: _Reconciled[R, C], changes: Plan[R], versions: Mapping[str, str], run: SyncRun, tally: Counter[str]
    ) -> None:
        """Write a plan in chunks, each with its events in one transaction, updating only records still at the
        version read; count what was adopted, drifted and vanished."""
        drifting = {c.after.id for c in changes.drift}
        for chunk in _chunks(changes.adopt, self.chunk_size):
            chained = [_chained(c, run) for c in chunk]
            async with self.uow.transaction() as tx:
                inserted = await kind.adopt(tx.repos.inventory, [record for record, _ in chained])
                tx.events.extend(e for record, events in chained if record.id in inserted for e in events)
            tally[f"{kind.counted}adopted"] += len(inserted)
        for chunk in _chunks(changes.drift + changes.vanish, self.chunk_size):
            chained = [_chained(c, run) for c in chunk]
            async with self.uow.transaction() as tx:
                updated = await kind.correct(tx.repos.inventory, [(r, versions[r.id]) for r, _ in chained])
                tx.events.extend(e for record, events in chained if record.id in updated for e in events)
            tally[f"{kind.counted}drifted"] += len(updated & drifting)
            tally[f"{kind.counted}vanished"] += len(updated - drifting)


def _counts(tally: Counter[str]) -> Counts:
    # What a run did so far (a failed run keeps what it did before the failure); the volumes' list calls are not kept.
    return Counts(**{name: n for name, n in tally.items() if name in Counts.__dataclass_fields__})


def _chunks(items: Sequence[Change[R]], size: int) -> list[Sequence[Change[R]]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def _chained(change: Change[R], run: SyncRun) -> tuple[R, list[Any]]:
    """The record after the change, its last event being the change's event (caused by the record's last)."""
    cause = _Cause(change.after.project_id, run.correlation_id, change.before.last_event_id if change.before else None)
    envelopes, last = chain(cause, [change.event])
    return replace(change.after, last_event_id=last), envelopes


__all__ = ["CHUNK_SIZE", "PAGE_SIZE", "RUN_LEASE", "Inventory"]
