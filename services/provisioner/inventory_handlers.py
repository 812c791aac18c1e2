"""Inventory sync: reconcile a cloud account's records with what its cloud has, on demand and on a schedule.

One run of an account: take the account's advisory lock (so no two runs of it ever overlap, in this process or
another replica), read every record's version, list everything the cloud has page by page, read the records again,
compare them in memory (`inventory.plan_instances`), and write the changes in chunks, each chunk's rows and events
in one transaction. Volumes follow the same way (`inventory.plan_volumes`) when the adapter has them. The run is
recorded in `sync_runs` from start to end and closes with `cloud.synced` (or `cloud.sync_failed`).

No FastAPI and no aio-pika here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Protocol, TypeAlias, TypeVar

from adapters.base import CloudAdapter, CloudError, Feature, Throttled
from adapters.base import Instance as CloudInstance
from adapters.base import Volume as CloudVolume
from kernel.db import Connection, Pool
from kernel.errors import ClanaviError
from kernel.events import CloudSynced, CloudSyncFailed, Envelope, new_event
from kernel.keyset import PageRequest
from kernel.runtime import stop_tasks
from services.provisioner import errors, owned, repository
from services.provisioner import inventory_repository as store
from services.provisioner.clouds import CloudDirectory
from services.provisioner.domain import InstanceRecord
from services.provisioner.errors import ModuleDisabled
from services.provisioner.inventory import (
    Change,
    Counts,
    Plan,
    R,
    SyncRun,
    SyncTrigger,
    VolumeChange,
    plan_instances,
    plan_volumes,
)
from services.provisioner.repository import CloudAccount
from services.provisioner.resources import ResourceRecord

if TYPE_CHECKING:
    import asyncpg
    from asyncpg.pool import PoolConnectionProxy

    # A connection borrowed from the pool for a whole run (it holds the account's lock).
    Borrowed: TypeAlias = PoolConnectionProxy[asyncpg.Record]

log = logging.getLogger(__name__)

T = TypeVar("T")
Changed = TypeVar("Changed", Change[InstanceRecord], VolumeChange)
R_contra = TypeVar("R_contra", InstanceRecord, ResourceRecord, contravariant=True)

# Instances asked for per list call (the most SimCloud and EC2 answer at once).
PAGE_SIZE = 1000
# Records written per transaction.
CHUNK_SIZE = 1000
# Tries of one list call the cloud throttles or does not answer, before the run fails.
LIST_ATTEMPTS = 5


async def list_all(
    adapter: CloudAdapter, *, page_size: int = PAGE_SIZE, attempts: int = LIST_ATTEMPTS
) -> tuple[list[CloudInstance], int]:
    """Every instance the cloud lists, following its cursor page by page, and the number of list calls made."""
    items: list[CloudInstance] = []
    cursor: str | None = None
    calls = 0
    while True:
        page, tries = await _retried(
            lambda: adapter.list_instances(cursor=cursor, limit=page_size),  # noqa: B023 - awaited at once
            attempts,
        )
        calls += tries
        items.extend(page.items)
        cursor = page.next_cursor
        if cursor is None:
            return items, calls


async def list_volumes(adapter: CloudAdapter, *, attempts: int = LIST_ATTEMPTS) -> tuple[list[CloudVolume], int]:
    """Every volume the cloud lists (the adapter follows the cloud's own pages), and the number of list calls."""
    volumes, calls = await _retried(adapter.list_volumes, attempts)
    return list(volumes), calls


async def _retried(call: Callable[[], Awaitable[T]], attempts: int) -> tuple[T, int]:
    """A list call, tried again while the cloud throttles it or does not answer; its answer and the tries made."""
    attempt = 1
    while True:
        try:
            return await call(), attempt
        except CloudError as exc:
            if not exc.retryable or attempt >= attempts:
                raise
            wait = errors.retry_after(exc) if isinstance(exc, Throttled) else 0.5 * 2 ** (attempt - 1)
            await asyncio.sleep(wait * (0.5 + random.random() / 2))  # noqa: S311 - jitter, not a secret
            attempt += 1


def _chunks(items: Sequence[Changed], size: int) -> list[Sequence[Changed]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


class Commit(Protocol[R_contra]):
    """Writes one chunk of changes of one kind (inventory_repository.commit_chunk, commit_volume_chunk)."""

    async def __call__(
        self,
        conn: Connection,
        *,
        adopt: Sequence[tuple[R_contra, Envelope]],
        update: Sequence[tuple[R_contra, str, Envelope]],
    ) -> tuple[set[str], set[str]]: ...


def _chained(change: Change[R], run: SyncRun) -> tuple[R, Envelope]:
    """The record after the change, its last event being the change's event (caused by the record's last)."""
    envelope = new_event(
        change.event,
        project_id=change.after.project_id,
        correlation_id=run.correlation_id,
        causation_id=change.before.last_event_id if change.before else None,
    )
    return replace(change.after, last_event_id=str(envelope.id)), envelope


def _describe(exc: Exception) -> str:
    if isinstance(exc, CloudError):
        return errors.reason(exc)
    if isinstance(exc, ClanaviError):
        return exc.detail
    return f"{type(exc).__name__}: {exc}"


@dataclass
class _Tally:
    """A run's counts so far (a failed run keeps what it did before the failure)."""

    adopted: int = 0
    drifted: int = 0
    vanished: int = 0
    unchanged: int = 0
    listed: int = 0
    list_calls: int = 0
    volumes_adopted: int = 0
    volumes_drifted: int = 0
    volumes_vanished: int = 0
    volumes_unchanged: int = 0
    volumes_listed: int = 0

    def counts(self) -> Counts:
        return Counts(
            adopted=self.adopted,
            drifted=self.drifted,
            vanished=self.vanished,
            unchanged=self.unchanged,
            listed=self.listed,
            list_calls=self.list_calls,
            volumes_adopted=self.volumes_adopted,
            volumes_drifted=self.volumes_drifted,
            volumes_vanished=self.volumes_vanished,
            volumes_unchanged=self.volumes_unchanged,
            volumes_listed=self.volumes_listed,
        )


@dataclass
class _Claim:
    """A run this process started: the connection holding the account's lock, for as long as the run lasts."""

    conn: Borrowed
    account: CloudAccount
    run: SyncRun


class Inventory:
    """Runs syncs: requested ones in the background, scheduled ones from `run_scheduled`."""

    def __init__(
        self,
        pool: Pool,
        clouds: CloudDirectory,
        *,
        interval: float = 300.0,
        page_size: int = PAGE_SIZE,
        chunk_size: int = CHUNK_SIZE,
    ) -> None:
        """`interval`: seconds between scheduled syncs of each account (0: none)."""
        self._pool = pool
        self._clouds = clouds
        self._interval = interval
        self._page_size = page_size
        self._chunk_size = chunk_size
        self._tasks: set[asyncio.Task[SyncRun]] = set()
        # When an account never synced is first due, spread over the interval from this process's start.
        self._first_due: dict[str, datetime] = {}

    # --- on demand --------------------------------------------------------------------------------------------

    async def request(self, cloud_id: str, *, project_id: str, correlation_id: str) -> SyncRun:
        """Start a sync of one of the project's accounts in the background and answer its run at once; while one is
        running already, answer that one. NotFound for another project's account, ModuleDisabled (409) when its
        module is disabled, NotImplementedByCloud (501) when its adapter cannot list instances."""
        account = await owned.cloud(self._pool, project_id, cloud_id)
        await self._clouds.require(account.id, "list_instances")
        claim = await self._claim(account, "manual", correlation_id)
        if isinstance(claim, SyncRun):
            return claim
        task = asyncio.create_task(self._execute(claim), name=f"sync-{cloud_id}")
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        return claim.run

    def _finished(self, task: asyncio.Task[SyncRun]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("a sync could not be recorded", exc_info=task.exception())

    async def sync(self, cloud_id: str, *, trigger: SyncTrigger, correlation_id: str) -> SyncRun:
        """Sync an account now and answer the finished run (or the one already running, untouched)."""
        account = await self._clouds.check_enabled(cloud_id)
        claim = await self._claim(account, trigger, correlation_id)
        if isinstance(claim, SyncRun):
            return claim
        return await self._execute(claim)

    async def runs(self, cloud_id: str, *, project_id: str, paging: PageRequest) -> tuple[list[SyncRun], str | None]:
        await owned.cloud(self._pool, project_id, cloud_id)
        return await store.page_runs(self._pool, project_id, cloud_id, paging)

    async def run(self, cloud_id: str, run_id: str, *, project_id: str) -> SyncRun:
        await owned.cloud(self._pool, project_id, cloud_id)
        return await owned.sync_run(self._pool, project_id, cloud_id, run_id)

    async def close(self) -> None:
        """Stop the runs under way (each is closed as interrupted)."""
        await stop_tasks(list(self._tasks))

    # --- a run --------------------------------------------------------------------------------------------------

    async def _claim(self, account: CloudAccount, trigger: SyncTrigger, correlation_id: str) -> _Claim | SyncRun:
        """Take the account's lock and record a new run; or, when another session holds the lock, its run."""
        for _ in range(100):
            claim = await self._try_claim(account, trigger, correlation_id)
            if claim is not None:
                return claim
            current = await store.running(self._pool, account.id)
            if current is not None:
                return current
            # The holder has the lock but has not recorded its run yet, or has just finished: look again.
            await asyncio.sleep(0.02)
        raise RuntimeError(f"the sync lock of cloud {account.id} is held by a session that records no run")

    async def _try_claim(self, account: CloudAccount, trigger: SyncTrigger, correlation_id: str) -> _Claim | None:
        conn: Borrowed = await self._pool.acquire()
        try:
            if await store.try_lock(conn, account.id):
                try:
                    run = await store.start_run(
                        conn,
                        cloud_id=account.id,
                        project_id=account.project_id,
                        trigger=trigger,
                        correlation_id=correlation_id,
                    )
                except BaseException:
                    await store.unlock(conn, account.id)
                    raise
                return _Claim(conn, account, run)
        except BaseException:
            await self._pool.release(conn)
            raise
        await self._pool.release(conn)
        return None

    async def _execute(self, claim: _Claim) -> SyncRun:
        conn, account, run = claim.conn, claim.account, claim.run
        tally = _Tally()
        try:
            try:
                await self._reconcile(conn, account, run, tally)
            except asyncio.CancelledError:
                await self._interrupted(run, tally.counts())
                raise
            except Exception as exc:
                error = _describe(exc)
                log.warning("sync %s of cloud %s failed: %s", run.id, account.id, error)
                failed = CloudSyncFailed(cloud_id=account.id, sync_id=run.id, trigger=run.trigger, error=error)
                return await store.finish_run(
                    conn,
                    run.id,
                    status="failed",
                    counts=tally.counts(),
                    error=error,
                    events=[self._event(run, failed)],
                )
            counts = tally.counts()
            synced = CloudSynced(
                cloud_id=account.id,
                sync_id=run.id,
                trigger=run.trigger,
                adopted=counts.adopted,
                drifted=counts.drifted,
                vanished=counts.vanished,
                unchanged=counts.unchanged,
                volumes_adopted=counts.volumes_adopted,
                volumes_drifted=counts.volumes_drifted,
                volumes_vanished=counts.volumes_vanished,
                volumes_unchanged=counts.volumes_unchanged,
            )
            finished = await store.finish_run(
                conn, run.id, status="succeeded", counts=counts, events=[self._event(run, synced)]
            )
            log.info(
                "sync %s of cloud %s: %d listed in %d calls, %d adopted, %d drifted, %d vanished, %d unchanged",
                run.id,
                account.id,
                counts.listed,
                counts.list_calls,
                counts.adopted,
                counts.drifted,
                counts.vanished,
                counts.unchanged,
            )
            return finished
        finally:
            with contextlib.suppress(Exception):
                await store.unlock(conn, account.id)
            await self._pool.release(conn)

    async def _interrupted(self, run: SyncRun, counts: Counts) -> None:
        """Close a run stopped by shutdown, on a connection of its own (the run's may be mid-query). Best effort:
        the account's next run closes it otherwise."""
        with contextlib.suppress(Exception):
            async with asyncio.timeout(2), self._pool.acquire() as conn:
                await store.finish_run(conn, run.id, status="failed", counts=counts, error=store.INTERRUPTED)

    @staticmethod
    def _event(run: SyncRun, payload: CloudSynced | CloudSyncFailed) -> Envelope:
        return new_event(payload, project_id=run.project_id, correlation_id=run.correlation_id)

    async def _reconcile(self, conn: Connection, account: CloudAccount, run: SyncRun, tally: _Tally) -> None:
        adapter = await self._clouds.adapter(account.id)
        before = await store.versions(conn, account.id)
        listed, tally.list_calls = await list_all(adapter, page_size=self._page_size)
        tally.listed = len(listed)
        found = await repository.of_cloud(conn, account.id)
        after = {r.id: version for r, version in found}
        plan = plan_instances(
            listed,
            [r for r, _ in found],
            cloud_id=account.id,
            project_id=account.project_id,
            sync_id=run.id,
            correlation_id=run.correlation_id,
            stable={i for i, version in after.items() if before.get(i) == version},
            now=datetime.now(UTC),
            group_ids=await store.security_group_ids(conn, account.id),
        )
        tally.unchanged = plan.unchanged
        tally.adopted, tally.drifted, tally.vanished = await self._write(conn, plan, after, run, store.commit_chunk)
        if Feature.VOLUMES in adapter.features:
            await self._reconcile_volumes(conn, adapter, account, run, tally)

    async def _reconcile_volumes(
        self, conn: Connection, adapter: CloudAdapter, account: CloudAccount, run: SyncRun, tally: _Tally
    ) -> None:
        before = await store.volume_versions(conn, account.id)
        listed, _ = await list_volumes(adapter)
        tally.volumes_listed = len(listed)
        found = await store.volumes_of(conn, account.id)
        after = {r.id: version for r, version in found}
        plan = plan_volumes(
            listed,
            [r for r, _ in found],
            cloud_id=account.id,
            project_id=account.project_id,
            sync_id=run.id,
            correlation_id=run.correlation_id,
            stable={i for i, version in after.items() if before.get(i) == version},
            now=datetime.now(UTC),
            instance_ids=await store.instance_ids(conn, account.id),
        )
        tally.volumes_unchanged = plan.unchanged
        written = await self._write(conn, plan, after, run, store.commit_volume_chunk)
        tally.volumes_adopted, tally.volumes_drifted, tally.volumes_vanished = written

    async def _write(
        self, conn: Connection, plan: Plan[R], versions: Mapping[str, str], run: SyncRun, commit: Commit[R]
    ) -> tuple[int, int, int]:
        """Write a plan in chunks, each with its events in one transaction, updating only records still at the
        version read; how many were adopted, drifted and vanished."""
        adopted = drifted = vanished = 0
        drifting = {c.after.id for c in plan.drift}
        for chunk in _chunks(plan.adopt, self._chunk_size):
            inserted, _ = await commit(conn, adopt=[_chained(c, run) for c in chunk], update=[])
            adopted += len(inserted)
        for chunk in _chunks(plan.drift + plan.vanish, self._chunk_size):
            chained = [_chained(c, run) for c in chunk]
            _, updated = await commit(
                conn, adopt=[], update=[(record, versions[record.id], envelope) for record, envelope in chained]
            )
            drifted += len(updated & drifting)
            vanished += len(updated - drifting)
        return adopted, drifted, vanished

    # --- on a schedule ------------------------------------------------------------------------------------------

    async def run_scheduled(self) -> None:
        """Sync every enabled account once per interval, the accounts spread over it; runs until cancelled."""
        if self._interval <= 0:
            return
        while True:
            try:
                wait = await self.sync_due()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("scheduling inventory syncs failed")
                wait = min(self._interval, 30.0)
            await asyncio.sleep(wait)

    async def sync_due(self) -> float:
        """Sync the accounts whose turn has come, one after the other; answer the seconds until the next is due."""
        accounts = [
            a for a in await repository.list_clouds(self._pool) if a.enabled and self._clouds.module_enabled(a.driver)
        ]
        if not accounts:
            return self._interval
        gap = self._interval / len(accounts)
        last = await store.last_started(self._pool)
        now = datetime.now(UTC)
        due: dict[str, datetime] = {}
        for n, account in enumerate(accounts):
            if account.id in last:
                due[account.id] = last[account.id] + timedelta(seconds=self._interval)
            else:
                due[account.id] = self._first_due.setdefault(account.id, now + timedelta(seconds=gap * (n + 1)))
        later: list[datetime] = []
        for account in sorted(accounts, key=lambda a: due[a.id]):
            if due[account.id] > datetime.now(UTC):
                later.append(due[account.id])
                continue
            try:
                await self.sync(account.id, trigger="scheduled", correlation_id=f"sync-{uuid.uuid4()}")
            except ModuleDisabled:
                continue  # disabled since the list was read
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("the scheduled sync of cloud %s could not start", account.id)
        if not later:
            return gap
        return max(0.05, min(gap, (min(later) - datetime.now(UTC)).total_seconds()))


__all__ = ["CHUNK_SIZE", "PAGE_SIZE", "Inventory", "list_all"]
