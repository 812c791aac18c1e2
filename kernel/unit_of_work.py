"""The unit of work every use case runs in: one transaction in which it reads and changes its service's records and
records the events the change caused, which commit together (the transactional outbox) or not at all.

A use case receives a `UnitOfWork` and opens it once per transaction it needs:

    async with uow.transaction() as tx:
        record = await tx.repos.instances.lock(instance_id)
        ...
        after = tx.changed(after, InstanceStopped(...))  # chained to the record's last event, which it becomes
        await tx.repos.instances.save(after)

    async with uow.reading() as repos:                # a read needs no transaction
        page = await repos.instances.page(...)

Events are chained as they are emitted: each is caused by the one before it about the same record (the first by the
record's last event), and carries the record's project and correlation id. They go into the outbox when the
transaction commits, and the relay is woken by it; `notify` wakes other listeners (a worker, the replicas that keep
a copy of what changed) at commit the same way. Nothing is written when the block raises.

An event consumer handles each delivery in `receiving(event_id, consumer)`, a transaction that also records the event
in the consumer's inbox (None, and nothing written, for a redelivery); what its handler emits about the delivered
event is chained to it with `caused_by(envelope)`.

`PostgresUnitOfWork` runs on a pool; `FakeUnitOfWork` keeps the repositories a test gives it in memory, with the same
commit-or-nothing behaviour, so use cases are unit-tested without any server.
"""

from __future__ import annotations

import copy
import dataclasses
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar

from kernel import correlation, outbox
from kernel.db import Connection, Pool
from kernel.events import Envelope, EventPayload, new_event

__all__ = [
    "Chained",
    "FakeUnitOfWork",
    "PostgresUnitOfWork",
    "Transaction",
    "UnitOfWork",
    "caused_by",
    "chain",
]

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

R = TypeVar("R")
# A use case typed with the repositories it uses is given a unit of work over all of its service's.
R_co = TypeVar("R_co", covariant=True)


class Chained(Protocol):
    """What chaining reads of the record an event is about."""

    @property
    def project_id(self) -> str: ...
    @property
    def correlation_id(self) -> str: ...
    @property
    def last_event_id(self) -> str | None: ...


if TYPE_CHECKING:

    class ChainedRecord(Chained, DataclassInstance, Protocol):
        """A record kept as a dataclass, whose `last_event_id` a change replaces."""


D = TypeVar("D", bound="ChainedRecord")


@dataclass(frozen=True, slots=True)
class _Origin:
    project_id: str
    correlation_id: str
    last_event_id: str | None = None


def caused_by(envelope: Envelope) -> Chained:
    """What a consumer's events are chained to: the event it received, in that event's project and correlation."""
    return _Origin(envelope.project_id, envelope.correlation_id, str(envelope.id))


def chain(record: Chained, payloads: Sequence[EventPayload]) -> tuple[list[Envelope], str | None]:
    """The envelopes of a record's new events, each caused by the one before (the first by the record's last event),
    and the id of the last (the record's last event id after them)."""
    envelopes = []
    causation = record.last_event_id
    for payload in payloads:
        envelope = new_event(
            payload, project_id=record.project_id, correlation_id=record.correlation_id, causation_id=causation
        )
        envelopes.append(envelope)
        causation = str(envelope.id)
    return envelopes, causation


@dataclass(frozen=True)
class Transaction(Generic[R_co]):
    """One open transaction: its repositories, and the events and notifications it will commit."""

    repos: R_co
    events: list[Envelope] = field(default_factory=list)
    # (channel, payload) pairs
    notifications: set[tuple[str, str]] = field(default_factory=set)

    def emit(self, about: Chained, *payloads: EventPayload) -> str | None:
        """Queue events about a record; returns the id of the last (the record's `last_event_id` from now on)."""
        envelopes, last = chain(about, payloads)
        self.events.extend(envelopes)
        return last

    def changed(self, record: D, *payloads: EventPayload) -> D:
        """Queue the events of a record's change; the record with the last of them as its `last_event_id` (the same
        record when there are none), which is what its repository saves."""
        if not payloads:
            return record
        return dataclasses.replace(record, last_event_id=self.emit(record, *payloads))

    def emit_new(self, project_id: str, *payloads: EventPayload, correlation_id: str | None = None) -> str | None:
        """Queue events about something with no record of its own (they are chained among themselves), in the
        request's correlation id unless one is given."""
        cid = correlation_id or correlation.accept_or_new(correlation.current.get())
        return self.emit(_Origin(project_id, cid), *payloads)

    def notify(self, channel: str, payload: str = "") -> None:
        """Wake the listeners of `channel` once this transaction commits, telling them `payload`."""
        self.notifications.add((channel, payload))


class UnitOfWork(Protocol[R_co]):
    """What a use case is given: transactions, and reads without one, over its service's repositories."""

    def transaction(self) -> AbstractAsyncContextManager[Transaction[R_co]]: ...

    def reading(self) -> AbstractAsyncContextManager[R_co]: ...


class PostgresUnitOfWork(Generic[R]):
    """Transactions on a pool; `repositories` binds the service's repositories to a connection, and `wrote_events`
    is called once a transaction that queued events has committed (it wakes the service's outbox relay)."""

    def __init__(
        self,
        pool: Callable[[], Pool],
        repositories: Callable[[Connection], R],
        *,
        wrote_events: Callable[[], None] = lambda: None,
    ) -> None:
        self._pool = pool
        self._repositories = repositories
        self._wrote_events = wrote_events
        self._in_process: dict[str, Callable[[], None]] = {}

    def wake_in_process(self, channel: str, wake: Callable[[], None]) -> None:
        """Tell `channel`'s notifications to `wake`, in this process, once their transaction commits, instead of
        sending a NOTIFY: for work that any process's loop may take (the loops also poll). PostgreSQL serialises every
        commit that notifies on one lock, so a busy write path notifies nobody it need not."""
        self._in_process[channel] = wake

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction[R]]:
        async with self._pool().acquire() as conn:
            async with conn.transaction(), self._on(conn) as tx:
                yield tx
            self._committed(tx)

    @asynccontextmanager
    async def receiving(self, event_id: uuid.UUID, consumer: str) -> AsyncIterator[Transaction[R] | None]:
        """A transaction that also records `event_id` in `consumer`'s inbox; None, with nothing written, when the
        inbox holds it already (a redelivery)."""
        async with self.receiving_many((event_id,), consumer) as (tx, fresh):
            yield tx if fresh else None

    @asynccontextmanager
    async def receiving_many(
        self, event_ids: Sequence[uuid.UUID], consumer: str
    ) -> AsyncIterator[tuple[Transaction[R], frozenset[uuid.UUID]]]:
        """One transaction that records all of `event_ids` in `consumer`'s inbox, with the ids it did not hold yet
        (the events to handle; the others are redeliveries)."""
        async with self._pool().acquire() as conn:
            async with conn.transaction():
                rows = await conn.fetch(
                    "INSERT INTO inbox (event_id, consumer) SELECT unnest($1::uuid[]), $2"
                    " ON CONFLICT DO NOTHING RETURNING event_id",
                    list(event_ids),
                    consumer,
                )
                async with self._on(conn) as tx:
                    yield tx, frozenset(row["event_id"] for row in rows)
            self._committed(tx)

    def _committed(self, tx: Transaction[R]) -> None:
        if tx.events:
            self._wrote_events()
        for channel in {channel for channel, _ in tx.notifications if channel in self._in_process}:
            self._in_process[channel]()

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[R]:
        async with self._pool().acquire() as conn:
            yield self._repositories(conn)

    @asynccontextmanager
    async def _on(self, conn: Connection) -> AsyncIterator[Transaction[R]]:
        """The work of a transaction open on `conn`: what the block queued is written before it commits."""
        tx = Transaction(self._repositories(conn))
        yield tx
        await outbox.add(conn, *tx.events)
        for channel, payload in sorted(tx.notifications):
            if channel not in self._in_process:
                # NOTIFY is transactional: listeners hear it at commit, never for a rollback.
                await conn.execute("SELECT pg_notify($1, $2)", channel, payload)


class FakeUnitOfWork(Generic[R]):
    """In memory: `repos` are the committed state. A transaction works on a deep copy of them, which replaces them
    when the block ends without an error; `committed` counts those, `events` and `notifications` are what they
    committed, in order, and `inbox` the (event id, consumer) pairs received."""

    def __init__(self, repos: R) -> None:
        self.repos = repos
        self.committed = 0
        self.rolled_back = 0
        self.events: list[Envelope] = []
        self.notifications: list[tuple[str, str]] = []
        self.inbox: set[tuple[uuid.UUID, str]] = set()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction[R]]:
        tx = Transaction(copy.deepcopy(self.repos))
        try:
            yield tx
        except BaseException:
            self.rolled_back += 1
            raise
        self.repos = tx.repos
        self.events.extend(tx.events)
        self.notifications.extend(sorted(tx.notifications))
        self.committed += 1

    @asynccontextmanager
    async def receiving(self, event_id: uuid.UUID, consumer: str) -> AsyncIterator[Transaction[R] | None]:
        if (event_id, consumer) in self.inbox:
            yield None
            return
        async with self.transaction() as tx:
            yield tx
        self.inbox.add((event_id, consumer))

    @asynccontextmanager
    async def receiving_many(
        self, event_ids: Sequence[uuid.UUID], consumer: str
    ) -> AsyncIterator[tuple[Transaction[R], frozenset[uuid.UUID]]]:
        fresh = frozenset(event_id for event_id in event_ids if (event_id, consumer) not in self.inbox)
        async with self.transaction() as tx:
            yield tx, fresh
        self.inbox.update((event_id, consumer) for event_id in fresh)

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[R]:
        yield self.repos

    def event_types(self) -> list[str]:
        return [e.type for e in self.events]
