"""The transactional outbox and its relay on a real PostgreSQL, publishing to an in-memory fake of the bus port."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import TypeVar

import asyncpg
import pytest

from kernel import outbox
from kernel.db import Connection, Pool
from kernel.events import Envelope, EventPayload, new_event
from kernel.migrations import INBOX_DDL, OUTBOX_DDL
from kernel.outbox import OutboxRelay, OutgoingMessage
from kernel.unit_of_work import PostgresUnitOfWork
from tests.conftest import make_pool

pytestmark = pytest.mark.integration

T = TypeVar("T")
DEADLINE = 10.0


class ItemStored(EventPayload):
    TYPE = "test_kernel_outbox.item_stored"
    n: int


class FakePublisher:
    """The bus's `publish_many` port in memory; fails the first `failures` calls as an unreachable broker would."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.calls = 0
        self.batches: list[list[OutgoingMessage]] = []

    async def __call__(self, messages: Sequence[OutgoingMessage]) -> None:
        self.calls += 1
        if self.failures > 0:
            self.failures -= 1
            raise ConnectionError("broker unreachable")
        self.batches.append(list(messages))

    @property
    def ids(self) -> list[str]:
        return [message_id for batch in self.batches for _, message_id, _ in batch]


async def eventually(probe: Callable[[], Awaitable[T | None]], what: str, timeout: float = DEADLINE) -> T:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = await probe()
        if value is not None and value is not False:
            return value
        if loop.time() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


@pytest.fixture
async def schema(module_database: str) -> AsyncIterator[str]:
    name = f"o_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(module_database)
    try:
        await conn.execute(f"CREATE SCHEMA {name}")
        await conn.execute(f"SET search_path TO {name}")
        await conn.execute(OUTBOX_DDL)
        await conn.execute(INBOX_DDL)
        yield name
    finally:
        await conn.execute(f"DROP SCHEMA {name} CASCADE")
        await conn.close()


@pytest.fixture
async def pool(module_database: str, schema: str) -> AsyncIterator[Pool]:
    pool = await make_pool(module_database, schema)
    yield pool
    await pool.close()


def events(*numbers: int) -> list[Envelope]:
    return [new_event(ItemStored(n=n), project_id="p", correlation_id="c") for n in numbers]


async def commit(pool: Pool, *envelopes: Envelope) -> None:
    async with pool.acquire() as conn, conn.transaction():
        await outbox.add(conn, *envelopes)


async def pending(pool: Pool) -> int:
    count: int = await pool.fetchval("SELECT count(*) FROM outbox")
    return count


async def test_add_writes_the_envelope_as_committed(pool: Pool) -> None:
    [event] = events(1)
    await commit(pool, event)

    row = await pool.fetchrow("SELECT id, routing_key, body FROM outbox")

    assert row is not None
    assert row["id"] == event.id
    assert row["routing_key"] == "test_kernel_outbox.item_stored.v1"
    assert Envelope.model_validate_json(row["body"]) == event


async def test_add_of_nothing_writes_nothing(pool: Pool) -> None:
    await commit(pool)

    assert await pending(pool) == 0


async def test_relay_once_publishes_in_batches_in_commit_order(pool: Pool, schema: str, module_database: str) -> None:
    first, second = events(*range(4)), events(*range(4, 10))
    await commit(pool, *first)
    await commit(pool, *second)
    publish = FakePublisher()
    relay = OutboxRelay(pool, publish, schema=schema, batch_size=3)

    sent = [await relay.relay_once() for _ in range(5)]

    assert sent == [3, 3, 3, 1, 0]
    assert [len(b) for b in publish.batches] == [3, 3, 3, 1]
    assert publish.ids == [str(e.id) for e in first + second]
    for (routing_key, message_id, body), event in zip(
        (m for b in publish.batches for m in b), first + second, strict=True
    ):
        assert routing_key == event.routing_key
        assert message_id == str(event.id)
        assert Envelope.model_validate_json(body) == event
    assert await relay.pending() == 0


async def test_a_failed_publish_keeps_the_batch_for_the_next_try(pool: Pool, schema: str, module_database: str) -> None:
    batch = events(1, 2, 3)
    await commit(pool, *batch)
    publish = FakePublisher(failures=1)
    relay = OutboxRelay(pool, publish, schema=schema)

    with pytest.raises(ConnectionError):
        await relay.relay_once()
    assert await relay.pending() == 3

    assert await relay.relay_once() == 3
    assert publish.ids == [str(e.id) for e in batch]
    assert await relay.pending() == 0


async def test_the_relay_rides_out_publish_failures(pool: Pool, schema: str, module_database: str) -> None:
    batch = events(1, 2)
    await commit(pool, *batch)
    publish = FakePublisher(failures=2)
    relay = OutboxRelay(pool, publish, schema=schema, idle_poll=0.1)
    task = asyncio.create_task(relay.run())
    try:

        async def published() -> list[str] | None:
            return publish.ids or None

        assert await eventually(published, "the batch to be published after the failures") == [str(e.id) for e in batch]
        assert publish.calls == 3
        await eventually(lambda: _is_zero(relay.pending()), "the outbox to be empty")
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


def _unit_of_work(pool: Pool, wrote_events: Callable[[], None]) -> PostgresUnitOfWork[Connection]:
    return PostgresUnitOfWork(lambda: pool, lambda conn: conn, wrote_events=wrote_events)


async def test_the_relay_is_woken_after_a_commit_with_events_only(pool: Pool) -> None:
    woken: list[int] = []
    uow = _unit_of_work(pool, lambda: woken.append(len(woken)))
    with pytest.raises(RuntimeError):
        async with uow.transaction() as tx:
            tx.emit_new("p", ItemStored(n=1), correlation_id="c")
            raise RuntimeError("rolled back")
    async with uow.transaction():
        pass  # no events: nothing to send
    assert woken == [] and await pending(pool) == 0

    async with uow.transaction() as tx:
        tx.emit_new("p", ItemStored(n=2), correlation_id="c")
        assert woken == [], "woken before the commit"
    assert woken == [0] and await pending(pool) == 1


async def test_a_channel_woken_in_process_sends_no_notify_and_wakes_after_commit_only(
    pool: Pool, module_database: str
) -> None:
    woken: list[str] = []
    uow = _unit_of_work(pool, lambda: None)
    uow.wake_in_process("local_work", lambda: woken.append("local_work"))
    heard: asyncio.Queue[str] = asyncio.Queue()
    listener = await asyncpg.connect(module_database)
    try:
        for channel in ("local_work", "everyone"):
            await listener.add_listener(channel, lambda _c, _p, channel, _payload: heard.put_nowait(channel))
        with pytest.raises(RuntimeError):
            async with uow.transaction() as tx:
                tx.notify("local_work")
                raise RuntimeError("rolled back")
        assert woken == []
        async with uow.transaction() as tx:
            tx.notify("local_work")
            tx.notify("everyone")
            assert woken == [], "woken before the commit"
        assert woken == ["local_work"]
        # The other channel is still told to every process, by a NOTIFY at commit.
        assert await asyncio.wait_for(heard.get(), DEADLINE) == "everyone"
        await listener.execute("SELECT 1")  # a round trip flushes any notification still on its way
        assert heard.empty()
    finally:
        await listener.close()


async def test_an_idle_relay_sends_what_its_unit_of_work_committed_at_once(pool: Pool, schema: str) -> None:
    publish = FakePublisher()
    # It would wait a minute between polls: only being woken can make it publish quickly.
    relay = OutboxRelay(pool, publish, schema=schema, idle_poll=60)
    uow = _unit_of_work(pool, relay.wake)
    task = asyncio.create_task(relay.run())
    try:
        sent = []
        for n in (1, 2):
            async with uow.transaction() as tx:
                sent.append(tx.emit_new("p", ItemStored(n=n), correlation_id="c"))
            await eventually(lambda n=n: _published(publish, n), f"event {n}", timeout=5)  # type: ignore[misc]
        assert publish.ids == sent
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def _is_zero(count: Awaitable[int]) -> bool:
    return await count == 0


async def _published(publish: FakePublisher, count: int) -> bool:
    return len(publish.ids) >= count


async def test_events_received_together_are_recorded_in_the_inbox_at_one_commit(pool: Pool) -> None:
    uow = _unit_of_work(pool, lambda: None)
    held, first, second = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    async with uow.receiving(held, "svc") as tx:
        assert tx is not None

    with pytest.raises(RuntimeError):
        async with uow.receiving_many([first, held], "svc") as (_, fresh):
            assert fresh == {first}
            raise RuntimeError("a handler failed")
    async with uow.receiving_many([held, first, second], "svc") as (_, fresh):
        assert fresh == {first, second}  # the failed batch recorded nothing
    async with uow.receiving_many([second], "other") as (_, fresh):
        assert fresh == {second}  # another consumer's inbox

    rows = await pool.fetch("SELECT event_id, consumer FROM inbox ORDER BY consumer, event_id")
    assert sorted((r["event_id"], r["consumer"]) for r in rows) == sorted(
        [(held, "svc"), (first, "svc"), (second, "svc"), (second, "other")]
    )
