"""The one pending-action engine: every kind of record (instances, and every other resource kind) whose action waits
for its cloud goes through it, told apart by a table of kinds (`Kind`).

One action, three steps, never a transaction or a pooled connection held across the cloud call:

1. claim: one transaction takes the due record under a fresh token with a lease (`claimed_until`) and commits;
2. call: the cloud is called with nothing of the database held; while the call lasts (an EC2 retry may sleep 20 s)
   the lease is renewed every third of it, each time in a short transaction of its own;
3. settle: a second transaction saves the outcome and its events (chained, into the outbox), only while the token
   is still the record's. When it is not, another worker took the action over after the lease ran out, or a user's
   request replaced it (a termination): the outcome is logged and dropped. That is safe because every cloud call is
   one that can be made again: launches and the creations of volumes, snapshots, images and addresses carry the
   record's id as client token, and what else an earlier try did is found again in the cloud
   (`resources.cloud.recover`).

A process killed mid-call leaves a claim that nobody renews: the record is due again once its lease runs out.

Transitions the clouds carry out (pending -> running, creating -> available) are followed the same way for every
kind: read the moving records, ask each cloud about them in one call, and commit what changed.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections import defaultdict
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from adapters.base import CloudAdapter, CloudError, Throttled
from kernel import correlation
from kernel.errors import ClanaviError
from kernel.events import EventPayload
from kernel.unit_of_work import UnitOfWork
from services.provisioner import errors
from services.provisioner.work.lease import renewed
from services.provisioner.work.pacing import Pacer, Retrying, RetryPolicy, give_up_reason, plan_after_failure

log = logging.getLogger(__name__)

# Seconds a claim holds a record without being renewed: how long a record waits after its worker died mid-call.
LEASE = 30.0
# The LISTEN/NOTIFY channel that wakes the worker when an action becomes due.
WORK_CHANNEL = "provisioner_work"


if TYPE_CHECKING:
    from kernel.unit_of_work import ChainedRecord

    class Pending(ChainedRecord, Retrying, Protocol):
        """What the engine reads of a record (a dataclass, whose events it chains, and whose retries it plans)."""

        @property
        def id(self) -> str: ...
        @property
        def provider_id(self) -> str | None: ...
        @property
        def pending_action(self) -> str | None: ...


Rec = TypeVar("Rec", bound="Pending")
R_contra = TypeVar("R_contra", contravariant=True)
V = TypeVar("V")


class PendingStore(Protocol[Rec]):
    """A kind's table, as the engine uses it."""

    async def due(self, limit: int) -> list[str]: ...
    async def claim(self, record_id: str, token: str, lease: float) -> Rec | None: ...
    async def extend(self, record_id: str, token: str, lease: float) -> bool: ...
    async def settle(self, record: Rec, token: str, *, retry_in: float) -> Rec | None:
        """Save the record and end the claim, when `token` still holds it (None otherwise)."""
        ...

    async def release(self, record_id: str, token: str) -> bool: ...
    async def discard(self, record_id: str, token: str) -> bool: ...
    async def moving(self) -> list[Rec]:
        """Records in a transition their cloud carries out, which the engine follows: as much of them as comparing
        them with their cloud needs (what changes is saved from `lock_moving`'s whole records)."""
        ...

    async def lock_moving(self, ids: Sequence[str]) -> list[Rec]: ...
    async def save(self, record: Rec) -> Rec: ...


@dataclass(frozen=True)
class Settlement(Generic[Rec]):
    """An attempt's outcome: the record to save (None: remove it, nothing having come of it), its events, and when
    a still pending action is due again."""

    record: Rec | None
    events: Sequence[EventPayload] = ()
    retry_in: float = 0.0


class Kind(Protocol[R_contra, Rec, V]):
    """One row of the table of kinds: what the engine does differently for instances and for the other resources.
    `R_contra` is what the kind reads of the unit of work's repositories, `V` what its cloud calls answer."""

    name: str

    def store(self, repos: R_contra) -> PendingStore[Rec]: ...
    async def call(self, adapter: CloudAdapter, record: Rec, uow: UnitOfWork[R_contra]) -> V:
        """Carry out the pending action in the cloud; a worker's attempt may follow an interrupted one."""
        ...

    def applied(self, record: Rec, value: V) -> Settlement[Rec]: ...
    def failed(self, record: Rec, reason: str) -> Settlement[Rec]: ...
    async def gave_up(self, adapter: CloudAdapter, record: Rec, reason: str, pacer: Pacer) -> Settlement[Rec]:
        """The action failed for good; the kind may ask the cloud how the resource is now."""
        ...

    def followed_together(self, record: Rec) -> Hashable:
        """Records with the same answer here are asked about in one cloud call."""
        ...

    async def current(self, adapter: CloudAdapter, records: Sequence[Rec]) -> Mapping[str, V]:
        """What the cloud has of these records now, by provider id (missing: gone)."""
        ...

    def observe(self, record: Rec, value: V | None, now: datetime) -> tuple[Rec, list[EventPayload]]: ...
    async def changed(self, repos: R_contra, after: Rec) -> None:
        """What else the change of a record changes, in the same transaction."""
        ...


class Connected(Protocol):
    """The connected adapters the engine calls (the cloud directory)."""

    async def adapter(self, cloud_id: str) -> CloudAdapter: ...


class ClaimLost(Exception):
    """The record is no longer held by the claim whose outcome was to be settled."""


class Engine:
    """The engine of one service's unit of work: whatever repositories each kind reads of it are there."""

    def __init__(
        self,
        uow: UnitOfWork[Any],
        clouds: Connected,
        *,
        policy: RetryPolicy | None = None,
        pacer: Pacer | None = None,
        lease: float = LEASE,
    ) -> None:
        self.uow = uow
        self.clouds = clouds
        self.policy = policy or RetryPolicy()
        self.pacer = pacer or Pacer()
        self.lease = lease

    @staticmethod
    def new_claim() -> str:
        return str(uuid.uuid4())

    async def due(self, kind: Kind[Any, Rec, V], limit: int) -> list[str]:
        async with self.uow.reading() as repos:
            return await kind.store(repos).due(limit)

    async def step(self, kind: Kind[Any, Rec, V], record_id: str) -> bool:
        """The worker's attempt at a due action: False when it was not due (taken by another worker, or not yet)."""
        token = self.new_claim()
        async with self.uow.transaction() as tx:
            record = await kind.store(tx.repos).claim(record_id, token, self.lease)
        if record is None:
            return False
        reset = correlation.current.set(record.correlation_id)
        try:
            async with self.holding(kind, record.id, token):
                settlement = await self._attempt(kind, record)
            if settlement is None:
                async with self.uow.transaction() as tx:
                    await kind.store(tx.repos).release(record.id, token)
                return False
            with contextlib.suppress(ClaimLost):
                await self.settle(kind, record.id, token, settlement)
            return True
        finally:
            correlation.current.reset(reset)

    async def _attempt(self, kind: Kind[Any, Rec, V], record: Rec) -> Settlement[Rec] | None:
        """What came of calling the cloud for the record's action; None to leave it untouched."""
        wait = self.pacer.wait(record.cloud_id)
        if wait > 0:
            # The cloud throttled lately: leave it alone for a moment (this try does not count).
            return Settlement(record, retry_in=wait)
        try:
            adapter = await self.clouds.adapter(record.cloud_id)
        except errors.ModuleIsDisabled:
            return None  # the action waits, untouched, until the module is enabled again
        except ClanaviError as exc:  # the cloud is disabled, or its adapter not installed
            return kind.failed(record, exc.detail)
        try:
            value = await kind.call(adapter, record, self.uow)
        except CloudError as exc:
            plan = plan_after_failure(record, exc, self.policy, self.pacer)
            if plan is not None:
                retried = replace(record, attempts=plan.attempts, throttled=plan.throttled, reason=errors.describe(exc))
                return Settlement(retried, retry_in=plan.delay)
            log.warning("%s %s of %s failed for good: %s", kind.name, record.pending_action, record.id, exc)
            return await kind.gave_up(adapter, record, give_up_reason(exc, self.policy), self.pacer)
        self.pacer.succeeded(record.cloud_id)
        return kind.applied(record, value)

    async def settle(
        self, kind: Kind[Any, Rec, V], record_id: str, token: str, settlement: Settlement[Rec]
    ) -> Rec | None:
        """Commit an outcome while `token` still holds the record: the saved record (None when it was removed).
        Raises ClaimLost, having logged it, when the claim is no longer the record's."""
        try:
            async with self.uow.transaction() as tx:
                store = kind.store(tx.repos)
                if settlement.record is None:
                    if not await store.discard(record_id, token):
                        raise ClaimLost(record_id)
                    return None
                after = tx.changed(settlement.record, *settlement.events)
                saved = await store.settle(after, token, retry_in=settlement.retry_in)
                if saved is None:
                    raise ClaimLost(record_id)
                await kind.changed(tx.repos, saved)
                if saved.pending_action is not None:
                    tx.notify(WORK_CHANNEL)
                return saved
        except ClaimLost:
            log.warning(
                "%s %s: its claim ran out or was replaced while the cloud was called; the outcome is dropped (the "
                "action's next attempt finds what this one did)",
                kind.name,
                record_id,
            )
            raise

    def holding(
        self, kind: Kind[Any, Rec, V], record_id: str, token: str
    ) -> contextlib.AbstractAsyncContextManager[None]:
        """Keep the claim's lease alive while the block runs."""

        async def extend() -> bool:
            async with self.uow.transaction() as tx:
                return await kind.store(tx.repos).extend(record_id, token, self.lease)

        return renewed(self.lease, extend, f"{kind.name} {record_id}")

    async def follow(self, kind: Kind[Any, Rec, V]) -> int:
        """Check every record of the kind in transition with its cloud (one call per group) and record what changed;
        how many records changed."""
        async with self.uow.reading() as repos:
            moving = await kind.store(repos).moving()
        groups: dict[Hashable, list[Rec]] = defaultdict(list)
        for record in moving:
            groups[kind.followed_together(record)].append(record)
        changed = 0
        for records in groups.values():
            seen = await self.current(kind, records)
            if seen is None:
                continue
            now = datetime.now(UTC)
            # Compared in memory first: most checks find nothing new, and need no transaction at all.
            updates = [r.id for r in records if kind.observe(r, seen.get(r.provider_id or ""), now) != (r, [])]
            if updates:
                changed += await self._observed(kind, updates, seen, now)
        return changed

    async def current(self, kind: Kind[Any, Rec, V], records: Sequence[Rec]) -> Mapping[str, V] | None:
        """What the cloud of `records` (all in one) has of them now, by provider id; None when it is throttling us
        or cannot be asked (then nothing is to be concluded)."""
        cloud_id = records[0].cloud_id
        if self.pacer.wait(cloud_id) > 0:
            return None
        try:
            seen = await kind.current(await self.clouds.adapter(cloud_id), records)
        except Throttled as exc:
            self.pacer.throttled(cloud_id, errors.retry_after(exc))
            return None
        except (CloudError, ClanaviError) as exc:
            log.warning("could not follow %ss in cloud %s: %s", kind.name, cloud_id, exc)
            return None
        self.pacer.succeeded(cloud_id)
        return seen

    async def _observed(self, kind: Kind[Any, Rec, V], ids: Sequence[str], seen: Mapping[str, V], now: datetime) -> int:
        changed = 0
        async with self.uow.transaction() as tx:
            store = kind.store(tx.repos)
            for record in await store.lock_moving(ids):
                after, events = kind.observe(record, seen.get(record.provider_id or ""), now)
                if events or after != record:
                    saved = await store.save(tx.changed(after, *events))
                    await kind.changed(tx.repos, saved)
                    changed += 1
        return changed


__all__ = [
    "LEASE",
    "WORK_CHANNEL",
    "ClaimLost",
    "Connected",
    "Engine",
    "Kind",
    "PendingStore",
    "Settlement",
]
