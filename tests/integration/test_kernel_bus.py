"""The outbox, the relay, the bus and the consumer together, on a real PostgreSQL and a real RabbitMQ.

Each test has a schema of its own (outbox, inbox, and a table the handler writes to) and a bus prefix of its own. A
tap queue bound to the events exchange sees every message the relay publishes, so duplicates cannot hide behind the
consumer's inbox.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import aio_pika
import asyncpg
import pytest
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, AbstractQueue, AbstractRobustConnection
from prometheus_client import REGISTRY

from kernel import correlation, outbox
from kernel.bus import Bus
from kernel.consumer import EventConsumer, PermanentFailure
from kernel.db import Connection, Pool
from kernel.events import Envelope, EventPayload, new_event, parse_payload
from kernel.migrations import INBOX_DDL, OUTBOX_DDL
from kernel.outbox import OutboxRelay
from kernel.unit_of_work import PostgresUnitOfWork, Transaction, caused_by
from tests.conftest import Servers, make_pool

pytestmark = pytest.mark.integration

T = TypeVar("T")
DEADLINE = 15.0
MAX_DELIVERIES = 2
SERVICE = "t"


class ThingHappened(EventPayload):
    TYPE = "test_kernel_bus.thing_happened"
    n: int


class ThingNoted(EventPayload):
    """What the handler emits in reply, in tests of the consumer alone."""

    TYPE = "test_kernel_bus.thing_noted"
    n: int


class Received:
    """The test service's one repository: the table its handler writes to."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def add(self, envelope: Envelope, n: int) -> None:
        await self._conn.execute(
            "INSERT INTO received (event_id, n, correlation_id) VALUES ($1, $2, $3)",
            envelope.id,
            n,
            correlation.current.get(),
        )


def unit_of_work(pool: Pool) -> PostgresUnitOfWork[Received]:
    return PostgresUnitOfWork(lambda: pool, Received)


class AlwaysFails(EventPayload):
    """The handler raises an ordinary exception for this one, every time."""

    TYPE = "test_kernel_bus.always_fails"
    n: int


class NeverValid(EventPayload):
    """The handler declares this one impossible to handle."""

    TYPE = "test_kernel_bus.never_valid"
    n: int


async def eventually(probe: Callable[[], Awaitable[T | None]], what: str, timeout: float = DEADLINE) -> T:
    """Poll `probe` until it returns something other than None (or False), failing after `timeout` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = await probe()
        if value is not None and value is not False:
            return value
        if loop.time() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def _at_least(items: list[Any], count: int) -> bool:
    return len(items) >= count


@pytest.fixture
async def schema(module_database: str) -> AsyncIterator[str]:
    """A schema of this test's own with the kernel's outbox and inbox, and a table the handler fills."""
    name = f"k_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(module_database)
    try:
        await conn.execute(f"CREATE SCHEMA {name}")
        await conn.execute(f"SET search_path TO {name}")
        await conn.execute(OUTBOX_DDL)
        await conn.execute(INBOX_DDL)
        await conn.execute(
            """CREATE TABLE received (
                seq bigserial PRIMARY KEY,
                event_id uuid NOT NULL,
                n integer NOT NULL,
                correlation_id text
            )"""
        )
        yield name
    finally:
        await conn.execute(f"DROP SCHEMA {name} CASCADE")
        await conn.close()


@pytest.fixture
async def pool(module_database: str, schema: str) -> AsyncIterator[Pool]:
    pool = await make_pool(module_database, schema)
    yield pool
    await pool.close()


@dataclass
class Observed:
    # Every call of the handler, by event id, including the ones that failed.
    attempts: list[uuid.UUID] = field(default_factory=list)
    # Every delivery the consumer finished with (acked, rejected or nacked), by message id.
    deliveries: list[str | None] = field(default_factory=list)


@dataclass
class Harness:
    """One service "t": its outbox relay, its subscription, and what the test observes."""

    pool: Pool
    bus: Bus
    relay: OutboxRelay
    tap: AbstractQueue
    dead: AbstractQueue
    attempts: list[uuid.UUID]
    deliveries: list[str | None]
    tapped: list[AbstractIncomingMessage] = field(default_factory=list)

    async def commit(self, *payloads: EventPayload, correlation_id: str = "cid-test") -> list[Envelope]:
        events = [new_event(p, project_id="proj", correlation_id=correlation_id) for p in payloads]
        async with self.pool.acquire() as conn, conn.transaction():
            await outbox.add(conn, *events)
        return events

    async def received(self) -> list[tuple[uuid.UUID, int]]:
        rows = await self.pool.fetch("SELECT event_id, n FROM received ORDER BY seq")
        return [(r["event_id"], r["n"]) for r in rows]

    async def outbox_drained(self) -> None:
        """Wait for the relay to delete what it published (it confirms first, then commits the delete)."""

        async def probe() -> bool:
            return await self.relay.pending() == 0

        await eventually(probe, "the outbox to be empty")

    async def drain_tap(self) -> list[AbstractIncomingMessage]:
        while (message := await self.tap.get(no_ack=True, fail=False)) is not None:
            self.tapped.append(message)
        return self.tapped

    async def tapped_ids(self, count: int) -> list[str]:
        """The ids of the first `count` messages published, once that many have been."""

        async def probe() -> list[str] | None:
            tapped = await self.drain_tap()
            return [str(m.message_id) for m in tapped] if len(tapped) >= count else None

        return await eventually(probe, f"{count} published messages")

    async def handled(self, *events: Envelope) -> list[tuple[uuid.UUID, int]]:
        """What the handler recorded, once every one of `events` is in it."""
        wanted = {e.id for e in events}

        async def probe() -> list[tuple[uuid.UUID, int]] | None:
            rows = await self.received()
            return rows if wanted <= {event_id for event_id, _ in rows} else None

        return await eventually(probe, f"the handler to record {len(wanted)} events")

    async def dead_letters(self, count: int) -> list[AbstractIncomingMessage]:
        found: list[AbstractIncomingMessage] = []

        async def probe() -> list[AbstractIncomingMessage] | None:
            while (message := await self.dead.get(no_ack=True, fail=False)) is not None:
                found.append(message)
            return found if len(found) >= count else None

        return await eventually(probe, f"{count} dead-lettered messages")


@pytest.fixture
async def amqp(servers: Servers) -> AsyncIterator[AbstractRobustConnection]:
    connection = await aio_pika.connect_robust(servers.rabbit.url)
    yield connection
    await connection.close()


def recording_handler(observed: Observed) -> Callable[[Transaction[Received], Envelope], Awaitable[None]]:
    async def handle(tx: Transaction[Received], envelope: Envelope) -> None:
        observed.attempts.append(envelope.id)
        payload = parse_payload(envelope)
        if isinstance(payload, AlwaysFails):
            raise RuntimeError(f"handler bug on {payload.n}")
        if isinstance(payload, NeverValid):
            raise PermanentFailure("this event can never be handled")
        assert isinstance(payload, ThingHappened)
        await tx.repos.add(envelope, payload.n)

    return handle


async def start_service(
    amqp_url: str, bus_prefix: str, pool: Pool, schema: str, dsn: str, channel: AbstractChannel
) -> tuple[Harness, asyncio.Task[None]]:
    bus = Bus(amqp_url, prefix=bus_prefix, service=SERVICE)
    await bus.connect(patience=10)
    tap = await channel.declare_queue(exclusive=True, auto_delete=True)
    await tap.bind(bus.exchange_name, routing_key="#")
    observed = Observed()
    consumer = EventConsumer(unit_of_work(pool), name=SERVICE, handle=recording_handler(observed), retry_delay=0.01)

    async def on_message(message: AbstractIncomingMessage) -> None:
        try:
            await consumer(message)
        finally:
            observed.deliveries.append(message.message_id)

    # One message at a time: the handler sees them in the order the queue holds them.
    await bus.subscribe(bindings=["test_kernel_bus.#"], callback=on_message, max_deliveries=MAX_DELIVERIES, prefetch=1)
    dead = await channel.declare_queue(f"{bus_prefix}.{SERVICE}.dead", passive=True)
    relay = OutboxRelay(pool, bus.publish_many, schema=schema, idle_poll=0.2)
    harness = Harness(
        pool=pool,
        bus=bus,
        relay=relay,
        tap=tap,
        dead=dead,
        attempts=observed.attempts,
        deliveries=observed.deliveries,
    )
    task = asyncio.create_task(relay.run(), name="test-outbox-relay")
    return harness, task


async def stop_service(harness: Harness, task: asyncio.Task[None], channel: AbstractChannel, bus_prefix: str) -> None:
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await harness.bus.close()
    for queue in (f"{bus_prefix}.{SERVICE}", f"{bus_prefix}.{SERVICE}.dead"):
        await channel.queue_delete(queue)
    for exchange in (f"{bus_prefix}.events", f"{bus_prefix}.dead"):
        await channel.exchange_delete(exchange)


@pytest.fixture
async def service(
    servers: Servers,
    bus_prefix: str,
    pool: Pool,
    schema: str,
    module_database: str,
    amqp: AbstractRobustConnection,
) -> AsyncIterator[Harness]:
    channel = await amqp.channel()
    harness, task = await start_service(servers.rabbit.url, bus_prefix, pool, schema, module_database, channel)
    try:
        yield harness
    finally:
        await stop_service(harness, task, channel, bus_prefix)
        await channel.close()


# --- the relay ------------------------------------------------------------------------------------------------


async def test_every_event_is_published_once_in_commit_order(service: Harness) -> None:
    events: list[Envelope] = []
    for batch in range(4):
        events += await service.commit(*(ThingHappened(n=batch * 5 + i) for i in range(5)))

    published = await service.tapped_ids(len(events))

    assert published == [str(e.id) for e in events]
    handled = await service.handled(*events)
    assert handled == [(e.id, i) for i, e in enumerate(events)]
    await service.outbox_drained()
    # Nothing is published a second time: the next event is the next message.
    marker = await service.commit(ThingHappened(n=99))
    assert await service.tapped_ids(len(events) + 1) == [str(e.id) for e in events + marker]
    await service.handled(*marker)
    assert len(await service.drain_tap()) == len(events) + 1


async def test_published_messages_carry_the_envelope(service: Harness) -> None:
    [event] = await service.commit(ThingHappened(n=7), correlation_id="cid-carried")

    await service.tapped_ids(1)
    message = service.tapped[0]

    assert message.routing_key == "test_kernel_bus.thing_happened.v1"
    assert message.content_type == "application/json"
    assert message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
    assert Envelope.model_validate_json(message.body) == event
    # The consumer runs the handler under the event's correlation id.
    await service.handled(event)
    assert await service.pool.fetchval("SELECT correlation_id FROM received") == "cid-carried"


async def test_a_rolled_back_transaction_publishes_nothing(service: Harness) -> None:
    doomed = [new_event(ThingHappened(n=i), project_id="p", correlation_id="c") for i in range(3)]
    with pytest.raises(RuntimeError, match="change of plan"):
        async with service.pool.acquire() as conn, conn.transaction():
            await outbox.add(conn, *doomed)
            raise RuntimeError("change of plan")

    marker = await service.commit(ThingHappened(n=100))

    assert await service.tapped_ids(1) == [str(marker[0].id)]
    assert await service.handled(*marker) == [(marker[0].id, 100)]
    assert len(await service.drain_tap()) == 1
    await service.outbox_drained()


async def test_an_event_committed_late_with_an_earlier_sequence_is_not_lost(service: Harness) -> None:
    # A takes its outbox sequence number first but commits after B has been published.
    slow = new_event(ThingHappened(n=1), project_id="p", correlation_id="c")
    async with service.pool.acquire() as conn:
        tx = conn.transaction()
        await tx.start()
        try:
            await outbox.add(conn, slow)
            fast = await service.commit(ThingHappened(n=2))
            assert await service.tapped_ids(1) == [str(fast[0].id)]
        except BaseException:
            await tx.rollback()
            raise
        await tx.commit()

    assert await service.tapped_ids(2) == [str(fast[0].id), str(slow.id)]
    await service.handled(slow, *fast)


# --- the consumer ---------------------------------------------------------------------------------------------


async def test_a_redelivered_duplicate_is_handled_once(service: Harness) -> None:
    dup = new_event(ThingHappened(n=1), project_id="p", correlation_id="c")
    message = (dup.routing_key, str(dup.id), dup.model_dump_json().encode())
    await service.bus.publish_many([message])
    await service.bus.publish_many([message])
    [marker] = await service.commit(ThingHappened(n=2))

    await eventually(lambda: _at_least(service.deliveries, 3), "three deliveries")

    assert sorted(str(x) for x in service.deliveries) == sorted([str(dup.id), str(dup.id), str(marker.id)])
    assert await service.handled(dup, marker) == [(dup.id, 1), (marker.id, 2)]
    assert service.attempts.count(dup.id) == 1
    assert await service.pool.fetchval("SELECT count(*) FROM inbox WHERE consumer = $1", SERVICE) == 2


async def test_a_handler_that_always_fails_ends_in_the_dead_letter_queue(service: Harness) -> None:
    [poison] = await service.commit(AlwaysFails(n=13))

    [dead] = await service.dead_letters(1)

    assert Envelope.model_validate_json(dead.body).id == poison.id
    assert dead.message_id == str(poison.id)
    # Dead after the configured number of failed deliveries, no more and no fewer.
    assert service.attempts.count(poison.id) == MAX_DELIVERIES
    assert await service.received() == []
    assert await service.pool.fetchval("SELECT count(*) FROM inbox") == 0
    # The queue goes on with the next event.
    [after] = await service.commit(ThingHappened(n=14))
    assert await service.handled(after) == [(after.id, 14)]


async def test_a_handler_that_raises_permanent_failure_is_dead_lettered_at_once(service: Harness) -> None:
    [impossible] = await service.commit(NeverValid(n=1))

    [dead] = await service.dead_letters(1)

    assert dead.message_id == str(impossible.id)
    assert service.attempts.count(impossible.id) == 1


async def test_an_invalid_payload_is_dead_lettered_at_once(service: Harness) -> None:
    bad = new_event(ThingHappened(n=1), project_id="p", correlation_id="c").model_copy(update={"payload": {"n": "x"}})
    await service.bus.publish_many([(bad.routing_key, str(bad.id), bad.model_dump_json().encode())])

    [dead] = await service.dead_letters(1)

    assert dead.message_id == str(bad.id)
    assert service.attempts == [bad.id]
    await eventually(lambda: _at_least(service.deliveries, 1), "the consumer to finish")
    assert service.deliveries == [str(bad.id)]


@pytest.mark.parametrize("body", [b"this is not json", b'{"hello": "world"}', b"[]", b""])
async def test_a_message_that_is_not_an_envelope_is_dead_lettered_at_once(service: Harness, body: bytes) -> None:
    await service.bus.publish_many([("test_kernel_bus.garbage.v1", "not-an-event", body)])

    [dead] = await service.dead_letters(1)

    assert dead.body == body
    await eventually(lambda: _at_least(service.deliveries, 1), "the consumer to finish")
    assert service.deliveries == ["not-an-event"]
    assert service.attempts == []


async def _noting(tx: Transaction[Received], envelope: Envelope) -> None:
    """Records the event and emits a reply to it; an n of 0 fails after both."""
    payload = parse_payload(envelope)
    assert isinstance(payload, ThingHappened)
    await tx.repos.add(envelope, payload.n)
    tx.emit(caused_by(envelope), ThingNoted(n=payload.n))
    if payload.n == 0:
        raise RuntimeError("the handler fails after its writes")


async def _outbox(pool: Pool) -> list[Envelope]:
    return [Envelope.model_validate_json(r["body"]) for r in await pool.fetch("SELECT body FROM outbox ORDER BY seq")]


async def test_what_a_handler_emits_commits_with_its_effect_and_the_inbox_row(pool: Pool) -> None:
    consumer = EventConsumer(unit_of_work(pool), name=SERVICE, handle=_noting)
    delivered = new_event(ThingHappened(n=7), project_id="proj", correlation_id="cid-7")

    assert await consumer.handle_delivery(delivered) is True
    assert await consumer.handle_delivery(delivered) is False

    [reply] = await _outbox(pool)
    assert (reply.type, reply.payload) == (ThingNoted.TYPE, {"n": 7})
    assert (reply.project_id, reply.correlation_id, reply.causation_id) == ("proj", "cid-7", str(delivered.id))
    assert await pool.fetchval("SELECT count(*) FROM received") == 1


async def test_a_failing_handler_leaves_no_effect_no_reply_and_no_inbox_row(pool: Pool) -> None:
    consumer = EventConsumer(unit_of_work(pool), name=SERVICE, handle=_noting)
    failing = new_event(ThingHappened(n=0), project_id="proj", correlation_id="cid-0")

    with pytest.raises(RuntimeError):
        await consumer.handle_delivery(failing)

    assert await _outbox(pool) == []
    assert await pool.fetchval("SELECT count(*) FROM received") == 0
    assert await pool.fetchval("SELECT count(*) FROM inbox") == 0


# --- the broker goes away -------------------------------------------------------------------------------------


def _relay_errors() -> float:
    return REGISTRY.get_sample_value("clanavi_outbox_relay_errors_total") or 0.0


async def test_the_relay_keeps_events_while_the_broker_is_down_and_publishes_them_later(
    servers: Servers, bus_prefix: str, pool: Pool, schema: str, module_database: str
) -> None:
    # Quick reconnection, so the test does not wait out aio-pika's default five seconds.
    url = f"{servers.rabbit.url}?reconnect_interval=0.2"
    bus = Bus(url, prefix=bus_prefix, service=SERVICE)
    await bus.connect(patience=10)
    received: list[Envelope] = []

    async def handle(tx: Transaction[Received], envelope: Envelope) -> None:
        received.append(envelope)

    consumer = EventConsumer(unit_of_work(pool), name=SERVICE, handle=handle, retry_delay=0.01)
    await bus.subscribe(bindings=["test_kernel_bus.#"], callback=consumer, max_deliveries=5, prefetch=1)
    relay = OutboxRelay(pool, bus.publish_many, schema=schema, idle_poll=0.2)
    task = asyncio.create_task(relay.run(), name="test-outbox-relay-outage")
    try:
        [before] = await _commit(pool, ThingHappened(n=0))
        await eventually(lambda: _at_least(received, 1), "the first event, before the outage")

        errors = _relay_errors()
        await asyncio.to_thread(servers.rabbit.stop_app)
        try:
            during = await _commit(pool, *(ThingHappened(n=i) for i in range(1, 6)))
            await eventually(lambda: _bool(_relay_errors() > errors), "the relay to fail to publish")
            assert await relay.pending() == len(during)
        finally:
            await asyncio.to_thread(servers.rabbit.start_app)

        await eventually(lambda: _at_least(received, 1 + len(during)), "the events kept during the outage")
        await eventually(lambda: _empty(relay), "the outbox to be empty")
        assert [e.id for e in received] == [before.id] + [e.id for e in during]
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await bus.close()
        connection = await aio_pika.connect(servers.rabbit.url)
        async with connection:
            channel = await connection.channel()
            for queue in (f"{bus_prefix}.{SERVICE}", f"{bus_prefix}.{SERVICE}.dead"):
                await channel.queue_delete(queue)
            for exchange in (f"{bus_prefix}.events", f"{bus_prefix}.dead"):
                await channel.exchange_delete(exchange)


async def _commit(pool: Pool, *payloads: EventPayload) -> list[Envelope]:
    events = [new_event(p, project_id="proj", correlation_id="c") for p in payloads]
    async with pool.acquire() as conn, conn.transaction():
        await outbox.add(conn, *events)
    return events


async def _bool(value: bool) -> bool:
    return value


async def _empty(relay: OutboxRelay) -> bool:
    return await relay.pending() == 0


async def test_an_event_no_queue_takes_stays_in_the_outbox_until_a_subscriber_binds(
    pool: Pool, schema: str, module_database: str, servers: Servers, bus_prefix: str
) -> None:
    """A publisher that starts before any subscriber (a first deploy) must not lose what it publishes meanwhile."""
    bus = Bus(servers.rabbit.url, prefix=bus_prefix, service="publisher")
    await bus.connect()
    relay = OutboxRelay(pool, bus.publish_many, schema=schema, idle_poll=0.05)
    early = await _commit(pool, ThingHappened(n=1))
    with pytest.raises(aio_pika.exceptions.PublishError):
        await relay.relay_once()
    assert await relay.pending() == 1, "an unroutable event left the outbox"

    received: list[uuid.UUID] = []

    async def handle(tx: Transaction[Received], envelope: Envelope) -> None:
        received.append(envelope.id)

    subscriber = Bus(servers.rabbit.url, prefix=bus_prefix, service="late")
    await subscriber.connect()
    consumer = EventConsumer(unit_of_work(pool), name="late", handle=handle)
    await subscriber.subscribe(bindings=["#"], callback=consumer, max_deliveries=3, prefetch=10)
    try:
        assert await relay.relay_once() == 1
        await eventually(lambda: _bool(received == [early[0].id]), "the early event reaching the late subscriber")
    finally:
        await subscriber.close()
        await bus.close()
