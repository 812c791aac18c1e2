"""The lifecycle event pipeline benchmark: `python -m bench.pipeline [--events N] [--warmup N] [--subscribers N]`.

What is timed, per event: the producer commits a row and an event into its outbox (`kernel.outbox.add`); the
`OutboxRelay` publishes it with confirms through a `Bus`; the consumer's `EventConsumer` handles it in one transaction
with its inbox row. Latency = consumer commit - producer commit, both `time.perf_counter()` in this one process.

The fan-out run sends the same kind of events, through a relay of their own, to `--subscribers` services at once, as
the platform does: the audit's own consumer (its migrations, handler and hash-chained repository, wired as
services/audit/app.py wires them) and stand-ins built on the kernel like the single consumer. Each has its own schema,
pool, `Bus` connection (so its own durable queue) and inbox; an event is consumed once the last of them committed it.

The same broker also runs a raw aio-pika baseline (persistent message, publisher confirms, quorum queue, manual ack),
so the ratios in the output compare like with like on this machine. One JSON object goes to stdout, progress to
stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import math
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import aio_pika
import asyncpg
import uvloop
from aio_pika.abc import AbstractIncomingMessage

from bench import _procfs
from bench._cli import exit_on_sigterm, machine, non_negative, positive, progress
from bench._servers import Endpoints, bench_servers
from kernel import db, outbox
from kernel.bus import Bus
from kernel.consumer import EventConsumer, Handler, Receiving
from kernel.events import Envelope, InstanceLaunched, new_event, parse_payload
from kernel.migrations import INBOX_DDL, OUTBOX_DDL, migrate
from kernel.outbox import OutboxRelay, OutgoingMessage
from kernel.settings import KernelSettings
from kernel.unit_of_work import PostgresUnitOfWork, Transaction
from services.audit import consumers as audit_consumers
from services.audit import repository as audit_repository
from services.audit.app import MIGRATIONS as AUDIT_MIGRATIONS
from services.audit.app import SCHEMA as AUDIT_SCHEMA
from services.audit.handlers import AuditRepositories

PROJECT_ID = "bench-project"
WAIT_TIMEOUT = 120.0
LAUNCHED = f"{InstanceLaunched.TYPE}.v{InstanceLaunched.VERSION}"

METHOD = (
    "one process, one uvloop event loop (as the services run), own PostgreSQL 15 (fsync on) + RabbitMQ; "
    "pipeline latency = perf_counter after the producer "
    "COMMIT (row + outbox.add) -> EventConsumer.after_commit (handler rows + inbox committed, alone or in a batch,"
    " before ack), via OutboxRelay (woken at commit) + Bus.publish_many (confirms) + quorum queue; raw = aio-pika "
    "persistent publish with confirms to a quorum queue -> consumer receipt (ack after); paced = one at a time; "
    "throughput = concurrent producers or publishes, rate = first commit/publish to last consumer commit/receipt; "
    "backlog_drain = events committed with the relay stopped, then relayed (relay + broker + consumer alone); "
    "cpu_cores_used = CPU s / wall s of this process, each own server's process tree and the whole shared machine; "
    "cpu_ms_per_* = this process + own servers; pools, prefetch, consumer concurrency as ServiceRuntime defaults; "
    "fan_out = the throughput run through a relay of its own to N subscribing services at once (the audit's consumer "
    "with its migrations, handler and repository, and N-1 stand-ins like the single consumer), each with its own "
    "schema, pool, Bus connection, quorum queue and inbox; latency and rate end at the commit of the last of them"
)


def _setting_default(name: str) -> int:
    value = KernelSettings.model_fields[name].default
    assert isinstance(value, int)
    return value


POOL_MIN = _setting_default("db_pool_min")
POOL_MAX = _setting_default("db_pool_max")
PREFETCH = _setting_default("consumer_prefetch")
MAX_DELIVERIES = _setting_default("max_deliveries")
CONSUMER_CONCURRENCY = max(1, POOL_MAX - 2)  # as kernel.runtime.ServiceRuntime.start_consumer


# --- statistics -------------------------------------------------------------------------------------------------


def _percentile(ordered: Sequence[float], p: float) -> float:
    """Nearest-rank percentile of an already sorted, non-empty sequence."""
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def latency_summary(seconds: Sequence[float]) -> dict[str, float | int]:
    ordered = sorted(s * 1000 for s in seconds)
    if not ordered:
        return {"count": 0}
    return {
        "count": len(ordered),
        "p50_ms": round(_percentile(ordered, 50), 3),
        "p90_ms": round(_percentile(ordered, 90), 3),
        "p99_ms": round(_percentile(ordered, 99), 3),
        "max_ms": round(ordered[-1], 3),
        "min_ms": round(ordered[0], 3),
        "mean_ms": round(sum(ordered) / len(ordered), 3),
    }


def _ratio(numerator: float, denominator: float) -> float | None:
    return round(numerator / denominator, 2) if denominator > 0 else None


class CpuWindow:
    """CPU used during a run, in cores (1.0 = one core busy): by this process, by each server the benchmark started
    (with their child processes), and by the whole machine, which other tenants may share."""

    def __init__(self, pids: dict[str, int]) -> None:
        self._pids = pids
        self._wall = time.perf_counter()
        self._process = time.process_time()
        stats = _procfs.all_stats()
        self._servers = {name: _procfs.tree_seconds(pid, stats) for name, pid in pids.items()}
        self._machine = _procfs.machine_busy_seconds()

    def cores(self) -> dict[str, float | None]:
        wall = time.perf_counter() - self._wall
        used: dict[str, float | None] = {"bench_process": round((time.process_time() - self._process) / wall, 2)}
        stats = _procfs.all_stats()
        for name, pid in self._pids.items():
            before, now = self._servers[name], _procfs.tree_seconds(pid, stats)
            used[name] = round((now - before) / wall, 2) if before is not None and now is not None else None
        machine_now = _procfs.machine_busy_seconds()
        used["machine"] = None
        if machine_now is not None and self._machine is not None:
            used["machine"] = round((machine_now - self._machine) / wall, 2)
        return used


def cpu_per_item(cores: dict[str, float | None], rate: float) -> float | None:
    """Milliseconds of CPU per event or message: this process plus the servers the benchmark started."""
    own = [v for k, v in cores.items() if k != "machine"]
    if rate <= 0 or any(v is None for v in own):
        return None
    return round(sum(v for v in own if v is not None) / rate * 1000, 3)


def cpu_per_item_each(cores: dict[str, float | None], rate: float) -> dict[str, float | None]:
    """Milliseconds of CPU per event or message of this process and of each server the benchmark started."""
    return {
        name: round(used / rate * 1000, 3) if used is not None and rate > 0 else None
        for name, used in cores.items()
        if name != "machine"
    }


# --- tracking commit and consumption times by event id ---------------------------------------------------------


@dataclass
class Tracker:
    """Start times (producer commit, raw publish) and end times (consumer commit, raw receipt) by id. With `needed`
    subscribers, an id is finished when the `needed`-th of them reports it (each reports an id once)."""

    started: dict[uuid.UUID, float] = field(default_factory=dict)
    finished: dict[uuid.UUID, float] = field(default_factory=dict)
    needed: int = 1
    _waiters: dict[uuid.UUID, asyncio.Future[float]] = field(default_factory=dict)
    _reported: dict[uuid.UUID, int] = field(default_factory=dict)

    def expect(self, event_id: uuid.UUID) -> asyncio.Future[float]:
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self._waiters[event_id] = future
        return future

    def start(self, event_id: uuid.UUID, at: float) -> None:
        self.started[event_id] = at

    def finish(self, event_id: uuid.UUID, at: float) -> None:
        if self.needed > 1:
            reported = self._reported.get(event_id, 0) + 1
            if reported < self.needed:
                self._reported[event_id] = reported
                return
            self._reported.pop(event_id, None)
        self.finished[event_id] = at
        future = self._waiters.pop(event_id, None)
        if future is not None and not future.done():
            future.set_result(at)

    def latencies(self, ids: Sequence[uuid.UUID]) -> list[float]:
        return [self.finished[i] - self.started[i] for i in ids]

    def span(self, ids: Sequence[uuid.UUID]) -> float:
        """First start to last finish."""
        return max(self.finished[i] for i in ids) - min(self.started[i] for i in ids)


async def _wait_all(futures: Sequence[asyncio.Future[float]], what: str) -> None:
    try:
        await asyncio.wait_for(asyncio.gather(*futures), timeout=WAIT_TIMEOUT)
    except TimeoutError:
        missing = sum(1 for f in futures if not f.done())
        raise RuntimeError(f"{what}: {missing} of {len(futures)} not consumed after {WAIT_TIMEOUT:.0f}s") from None


# An event or message sent, and when it is consumed.
Sent = tuple[uuid.UUID, asyncio.Future[float]]


async def _consumed(sent: Sequence[Sent], what: str) -> list[uuid.UUID]:
    """The ids of what was sent, once every one of them is consumed."""
    await _wait_all([consumed for _, consumed in sent], what)
    return [sent_id for sent_id, _ in sent]


async def _one_at_a_time(send: Callable[[], Awaitable[Sent]], count: int, what: str) -> list[uuid.UUID]:
    """Send `count` times, each once the one before is consumed."""
    ids = []
    for _ in range(count):
        ids += await _consumed([await send()], what)
    return ids


# --- the pipeline -----------------------------------------------------------------------------------------------


class Launches:
    """The consumer's one repository: what a read model or the audit would keep of each launch."""

    def __init__(self, conn: db.Connection) -> None:
        self._conn = conn

    async def add(self, envelope: Envelope, launched: InstanceLaunched) -> None:
        await self._conn.execute(
            "INSERT INTO launches (event_id, instance_id, provider_id, occurred_at) VALUES ($1, $2, $3, $4)",
            envelope.id,
            launched.instance_id,
            launched.provider_id,
            envelope.occurred_at,
        )


R = TypeVar("R")


class TimedConsumer(EventConsumer[R]):
    """An `EventConsumer` that notes the time once its transaction (handler + inbox row) has committed."""

    def __init__(self, uow: Receiving[R], *, name: str, handle: Handler[R], concurrency: int, tracker: Tracker) -> None:
        super().__init__(uow, name=name, handle=handle, concurrency=concurrency)
        self._tracker = tracker
        self.duplicates = 0
        self.committed: dict[uuid.UUID, float] = {}

    def after_commit(self, envelope: Envelope, fresh: bool) -> None:
        committed = time.perf_counter()
        if fresh:
            self.committed[envelope.id] = committed
            self._tracker.finish(envelope.id, committed)
        else:
            self.duplicates += 1


async def _record_launch(tx: Transaction[Launches], envelope: Envelope) -> None:
    """The consumer's handler."""
    payload = parse_payload(envelope)
    assert isinstance(payload, InstanceLaunched)
    await tx.repos.add(envelope, payload)


def _launch_event(n: int) -> Envelope:
    instance_id = str(uuid.uuid4())
    return new_event(
        InstanceLaunched(
            instance_id=instance_id,
            cloud_id="aws-eu-west-1",
            provider_id=f"i-{n:017x}",
            flavor_id="t3.micro",
            image_id="ami-0123456789abcdef0",
        ),
        project_id=PROJECT_ID,
        correlation_id=f"bench-{n}",
    )


LAUNCHES_DDL = (
    "CREATE TABLE launches (event_id uuid PRIMARY KEY, instance_id text NOT NULL, provider_id text NOT NULL, "
    "occurred_at timestamptz NOT NULL, recorded_at timestamptz NOT NULL DEFAULT now())"
)


class Subscriber(Protocol):
    """A subscribing service: its schema, what its queue is bound to, and its consumer."""

    @property
    def service(self) -> str:
        """Its Bus service name (so its own durable queue) and its consumer's name in its inbox."""

    @property
    def schema(self) -> str: ...

    @property
    def bindings(self) -> Sequence[str]: ...

    async def create_schema(self, database_url: str) -> None: ...

    def consumer(self, pool: db.Pool, tracker: Tracker) -> TimedConsumer[Any]: ...

    async def stored(self, conn: db.Connection, ids: Sequence[uuid.UUID]) -> int:
        """How many of the events `ids` its table holds."""


@dataclass(frozen=True)
class StandIn:
    """A consumer built on the kernel that keeps a row per launch: the single consumer, and the fan-out's others."""

    service: str
    schema: str
    bindings: tuple[str, ...] = (LAUNCHED,)

    async def create_schema(self, database_url: str) -> None:
        conn = await asyncpg.connect(database_url)
        try:
            await conn.execute(f"CREATE SCHEMA {self.schema}")
            await conn.execute(f"SET search_path TO {self.schema}")
            for statement in (INBOX_DDL, LAUNCHES_DDL):
                await conn.execute(statement)
        finally:
            await conn.close()

    def consumer(self, pool: db.Pool, tracker: Tracker) -> TimedConsumer[Launches]:
        return TimedConsumer(
            PostgresUnitOfWork(lambda: pool, Launches),
            name=self.service,
            handle=_record_launch,
            concurrency=CONSUMER_CONCURRENCY,
            tracker=tracker,
        )

    async def stored(self, conn: db.Connection, ids: Sequence[uuid.UUID]) -> int:
        count = await conn.fetchval("SELECT count(*) FROM launches WHERE event_id = ANY($1::uuid[])", list(ids))
        return int(count)


@dataclass(frozen=True)
class AuditSubscriber:
    """The audit service's consumer as services/audit/app.py wires it: the schema its migrations make, its bindings,
    its handler, its repositories in a unit of work of their own, its service name as the consumer's name."""

    schema: str
    service: str = "audit"
    bindings: tuple[str, ...] = audit_consumers.BINDINGS

    async def create_schema(self, database_url: str) -> None:
        await asyncio.to_thread(migrate, database_url, schema=self.schema, location=AUDIT_MIGRATIONS)

    def consumer(self, pool: db.Pool, tracker: Tracker) -> TimedConsumer[AuditRepositories]:
        uow = PostgresUnitOfWork[AuditRepositories](lambda: pool, audit_repository.Repositories)
        return TimedConsumer(
            uow, name=self.service, handle=audit_consumers.on_event, concurrency=CONSUMER_CONCURRENCY, tracker=tracker
        )

    async def stored(self, conn: db.Connection, ids: Sequence[uuid.UUID]) -> int:
        count = await conn.fetchval("SELECT count(*) FROM events WHERE id = ANY($1::uuid[])", list(ids))
        return int(count)


@dataclass(frozen=True)
class Subscribed:
    """A subscriber while the pipeline runs: its pool, its bus connection and its consumer."""

    subscriber: Subscriber
    pool: db.Pool
    bus: Bus
    consumer: TimedConsumer[Any]

    async def stored(self, ids: Sequence[uuid.UUID]) -> int:
        async with self.pool.acquire() as conn:
            return await self.subscriber.stored(conn, ids)


@dataclass
class RelayStats:
    """What the relay handed to the bus: batches, and per event the time its batch was confirmed and its position."""

    batches: int = 0
    largest: int = 0
    publishing: float = 0.0  # seconds spent inside publish_many
    confirmed: dict[uuid.UUID, float] = field(default_factory=dict)
    position: dict[uuid.UUID, int] = field(default_factory=dict)

    def wrap(self, publish_many: Callable[[Sequence[OutgoingMessage]], Awaitable[None]]) -> outbox.PublishMany:
        async def counted(messages: Sequence[OutgoingMessage]) -> None:
            began = time.perf_counter()
            await publish_many(messages)
            done = time.perf_counter()
            self.publishing += done - began
            self.batches += 1
            self.largest = max(self.largest, len(messages))
            for _, message_id, _ in messages:
                event_id = uuid.UUID(message_id)
                self.confirmed[event_id] = done
                self.position[event_id] = len(self.position)

        return counted

    def reset(self) -> None:
        self.batches = self.largest = 0
        self.publishing = 0.0


class Pipeline:
    """Producer schema (instances + outbox) and relay, and each subscriber's schema (its inbox and tables), on one
    database; an event is consumed once every subscriber committed it."""

    def __init__(self, database_url: str, amqp_url: str, *, tag: str, subscribers: Sequence[Subscriber]) -> None:
        self.database_url = database_url
        self.amqp_url = amqp_url
        self.producer_schema = f"bench_producer_{tag}"
        self.prefix = f"bench{tag}"
        self.subscribers = subscribers
        self.tracker = Tracker(needed=len(subscribers))
        self.relay_stats = RelayStats()
        self._producer_pool: db.Pool | None = None
        self._relay_bus: Bus | None = None
        self._relay: OutboxRelay | None = None
        self._relay_task: asyncio.Task[None] | None = None
        self.subscribed: list[Subscribed] = []
        self._sequence = 0

    @property
    def producer_pool(self) -> db.Pool:
        assert self._producer_pool is not None
        return self._producer_pool

    async def create_schemas(self) -> None:
        conn = await asyncpg.connect(self.database_url)
        try:
            await conn.execute(f"CREATE SCHEMA {self.producer_schema}")
            await conn.execute(f"SET search_path TO {self.producer_schema}")
            for statement in (
                OUTBOX_DDL,
                "CREATE TABLE instances (id uuid PRIMARY KEY, project_id text NOT NULL, name text NOT NULL, "
                "state text NOT NULL, created_at timestamptz NOT NULL DEFAULT now())",
            ):
                await conn.execute(statement)
        finally:
            await conn.close()
        for subscriber in self.subscribers:
            await subscriber.create_schema(self.database_url)

    async def _pool(self, schema: str, role: str) -> db.Pool:
        """A pool sized as a service's (ServiceRuntime's defaults)."""
        return await db.create_pool(
            self.database_url, schema=schema, application=f"clanavi-bench-{role}", min_size=POOL_MIN, max_size=POOL_MAX
        )

    async def start(self) -> None:
        await self.create_schemas()
        self._producer_pool = await self._pool(self.producer_schema, "producer")
        self._relay_bus = Bus(self.amqp_url, prefix=self.prefix, service="bench-relay")
        await self._relay_bus.connect()
        for subscriber in self.subscribers:
            pool = await self._pool(subscriber.schema, subscriber.service.removeprefix("bench-"))
            bus = Bus(self.amqp_url, prefix=self.prefix, service=subscriber.service)
            self.subscribed.append(Subscribed(subscriber, pool, bus, subscriber.consumer(pool, self.tracker)))
            await bus.connect()
            await bus.subscribe(
                bindings=subscriber.bindings,
                callback=self.subscribed[-1].consumer,
                max_deliveries=MAX_DELIVERIES,
                prefetch=PREFETCH,
            )
        self._relay = OutboxRelay(
            self.producer_pool,
            self.relay_stats.wrap(self._relay_bus.publish_many),
            schema=self.producer_schema,
        )
        self.resume_relay()

    def resume_relay(self) -> None:
        assert self._relay is not None and self._relay_task is None
        self._relay_task = asyncio.create_task(self._relay.run(), name="bench-outbox-relay")

    async def pause_relay(self) -> None:
        if self._relay_task is not None:
            self._relay_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._relay_task
            self._relay_task = None

    async def produce(self) -> Sent:
        """One producer transaction: the instance row and its event; returns once committed."""
        self._sequence += 1
        event = _launch_event(self._sequence)
        consumed = self.tracker.expect(event.id)
        async with self.producer_pool.acquire() as conn:
            async with conn.transaction():
                await conn.execute(
                    "INSERT INTO instances (id, project_id, name, state) VALUES ($1, $2, $3, 'running')",
                    uuid.UUID(event.payload["instance_id"]),
                    PROJECT_ID,
                    f"vm-{self._sequence}",
                )
                await outbox.add(conn, event)
            committed = time.perf_counter()
        if self._relay is not None:
            self._relay.wake()  # as a service's unit of work does once it committed events
        self.tracker.start(event.id, committed)
        return event.id, consumed

    async def paced(self, count: int) -> list[uuid.UUID]:
        return await _one_at_a_time(self.produce, count, "pipeline paced event")

    async def _produce_concurrently(self, count: int, producers: int) -> list[Sent]:
        produced: list[Sent] = []
        remaining = count

        async def producer() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                produced.append(await self.produce())

        await asyncio.gather(*(producer() for _ in range(producers)))
        return produced

    async def concurrent(self, count: int, producers: int) -> list[uuid.UUID]:
        return await _consumed(await self._produce_concurrently(count, producers), "pipeline throughput events")

    async def fill_backlog(self, count: int, producers: int) -> list[Sent]:
        """Commit `count` events with the relay stopped."""
        await self.pause_relay()
        return await self._produce_concurrently(count, producers)

    async def drain(self, backlog: list[Sent]) -> float:
        """Start the relay on a backlog; seconds from then to the last consumer commit. The capacity of relay, broker
        and consumer without producers competing for the CPU."""
        began = time.perf_counter()
        self.resume_relay()
        await _wait_all([consumed for _, consumed in backlog], "pipeline backlog drain")
        return max(self.tracker.finished[event_id] for event_id, _ in backlog) - began

    async def outbox_pending(self) -> int:
        assert self._relay is not None
        return await self._relay.pending()

    async def server_facts(self) -> dict[str, str]:
        async with self.producer_pool.acquire() as conn:
            facts = {}
            for name in ("server_version", "fsync", "synchronous_commit", "wal_sync_method"):
                facts[name] = str(await conn.fetchval(f"SHOW {name}"))
            return facts

    async def close(self, *, drop_schemas: bool, drop_topology: bool) -> None:
        await self.pause_relay()
        await _close_quietly(*(s.bus for s in self.subscribed), self._relay_bus)
        if drop_topology:
            queues = [f"{self.prefix}.{s.service}" for s in self.subscribers]
            with contextlib.suppress(Exception):
                await _delete_topology(
                    self.amqp_url,
                    queues=[name for queue in queues for name in (queue, f"{queue}.dead")],
                    exchanges=(f"{self.prefix}.events", f"{self.prefix}.dead"),
                )
        await _close_quietly(*(s.pool for s in self.subscribed), self._producer_pool)
        if drop_schemas:
            with contextlib.suppress(Exception):
                conn = await asyncpg.connect(self.database_url)
                try:
                    for schema in (self.producer_schema, *(s.schema for s in self.subscribers)):
                        await conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
                finally:
                    await conn.close()


class _Closable(Protocol):
    async def close(self) -> None: ...


async def _close_quietly(*resources: _Closable | None) -> None:
    """Close each one that was opened; a failure to close one does not keep the others open."""
    for resource in resources:
        if resource is not None:
            with contextlib.suppress(Exception):
                await resource.close()


async def _delete_topology(amqp_url: str, *, queues: Sequence[str], exchanges: Sequence[str] = ()) -> None:
    """Remove what a run declared on a broker the benchmark does not own."""
    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel()
        for queue in queues:
            await channel.queue_delete(queue)
        for exchange in exchanges:
            await channel.exchange_delete(exchange)
    finally:
        await connection.close()


# --- the raw aio-pika baseline ----------------------------------------------------------------------------------


class RawRoundTrip:
    """Persistent messages with publisher confirms into a quorum queue, consumed with manual ack."""

    def __init__(self, amqp_url: str, *, queue: str) -> None:
        self.amqp_url = amqp_url
        self.queue_name = queue
        self.tracker = Tracker()
        self.body = _launch_event(0).model_dump_json().encode()  # the size of a real envelope
        self._publisher: aio_pika.abc.AbstractConnection | None = None
        self._consumer: aio_pika.abc.AbstractConnection | None = None
        self._exchange: aio_pika.abc.AbstractExchange | None = None
        self.server_properties: dict[str, Any] = {}

    async def start(self) -> None:
        self._publisher = await aio_pika.connect(self.amqp_url, client_properties={"connection_name": "bench-raw-pub"})
        self._consumer = await aio_pika.connect(self.amqp_url, client_properties={"connection_name": "bench-raw-sub"})
        transport = self._publisher.transport
        if transport is not None:
            self.server_properties = dict(transport.connection.server_properties)
        publish_channel = await self._publisher.channel(publisher_confirms=True)
        self._exchange = publish_channel.default_exchange
        consume_channel = await self._consumer.channel()
        await consume_channel.set_qos(prefetch_count=PREFETCH)
        queue = await consume_channel.declare_queue(self.queue_name, durable=True, arguments={"x-queue-type": "quorum"})
        await queue.consume(self._on_message)

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        received = time.perf_counter()
        if message.message_id is not None:
            self.tracker.finish(uuid.UUID(message.message_id), received)
        await message.ack()

    async def publish(self) -> Sent:
        assert self._exchange is not None
        message_id = uuid.uuid4()
        consumed = self.tracker.expect(message_id)
        self.tracker.start(message_id, time.perf_counter())
        await self._exchange.publish(
            aio_pika.Message(
                self.body,
                message_id=str(message_id),
                content_type="application/json",
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            ),
            routing_key=self.queue_name,
            timeout=10,
        )
        return message_id, consumed

    async def paced(self, count: int) -> list[uuid.UUID]:
        return await _one_at_a_time(self.publish, count, "raw paced message")

    async def concurrent(self, count: int) -> list[uuid.UUID]:
        return await _consumed(await asyncio.gather(*(self.publish() for _ in range(count))), "raw throughput messages")

    async def close(self, *, drop: bool) -> None:
        await _close_quietly(self._consumer, self._publisher)
        if drop:
            with contextlib.suppress(Exception):
                await _delete_topology(self.amqp_url, queues=(self.queue_name,))


# --- the run ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    events: int
    paced: int
    warmup: int
    producers: int
    subscribers: int


def fan_out_subscribers(count: int, *, tag: str) -> list[Subscriber]:
    """The audit's consumer and `count` - 1 stand-ins, each in a schema of its own."""
    subscribers: list[Subscriber] = [AuditSubscriber(schema=f"bench_{AUDIT_SCHEMA}_{tag}")]
    subscribers += [StandIn(f"bench-subscriber-{n}", f"bench_subscriber{n}_{tag}") for n in range(1, count)]
    return subscribers


async def measure_fan_out(endpoints: Endpoints, options: Options, *, tag: str) -> dict[str, Any]:
    """The throughput run through a relay of its own to `options.subscribers` subscribing services at once."""
    subscribers = fan_out_subscribers(options.subscribers, tag=tag)
    fan_out = Pipeline(endpoints.database_url, endpoints.amqp_url, tag=f"{tag}_fan", subscribers=subscribers)
    try:
        progress(f"setting up the fan-out to {len(subscribers)} subscribers")
        await fan_out.start()
        progress(f"fan-out warm-up: {options.warmup} events")
        warmup_ids = await fan_out.concurrent(options.warmup, options.producers)
        progress(f"fan-out throughput: {options.events} events from {options.producers} producers")
        fan_out.relay_stats.reset()
        window = CpuWindow(endpoints.pids)
        ids = await fan_out.concurrent(options.events, options.producers)
        cpu = window.cores()
        relay_batches = fan_out.relay_stats.batches
        rate = len(ids) / fan_out.tracker.span(ids)

        expected = warmup_ids + ids
        pending = await fan_out.outbox_pending()
        started = fan_out.tracker.started
        by_subscriber: dict[str, dict[str, Any]] = {}
        for subscribed in fan_out.subscribed:
            committed = subscribed.consumer.committed
            by_subscriber[subscribed.subscriber.service] = {
                "latency": latency_summary([committed[i] - started[i] for i in ids]),
                "duplicates_seen": subscribed.consumer.duplicates,
                "events_lost": len(expected) - await subscribed.stored(expected),
            }
        audit = fan_out.subscribed[0]
        async with audit.pool.acquire() as conn:
            chain = await audit_repository.EventRepository(conn).verify()
        return {
            "subscribers": len(subscribers),
            "events_per_s": round(rate, 1),
            "latency": latency_summary(fan_out.tracker.latencies(ids)),
            "relay_batches": relay_batches,
            "relay_mean_batch": round(len(ids) / relay_batches, 1) if relay_batches else None,
            "cpu_cores_used": cpu,
            "cpu_ms_per_event": cpu_per_item(cpu, rate),
            "cpu_ms_per_event_by_process": cpu_per_item_each(cpu, rate),
            "by_subscriber": by_subscriber,
            "duplicates_seen": sum(s["duplicates_seen"] for s in by_subscriber.values()),
            "events_lost": sum(s["events_lost"] for s in by_subscriber.values()),
            "outbox_left": pending,
            "audit_chain": {"valid": chain.valid, "checked": chain.checked, "expected": len(expected)},
        }
    finally:
        await fan_out.close(drop_schemas=not endpoints.own_database, drop_topology=not endpoints.own_broker)


async def measure(endpoints: Endpoints, options: Options) -> dict[str, Any]:
    tag = uuid.uuid4().hex[:8]
    single = StandIn("bench-consumer", f"bench_consumer_{tag}")
    pipeline = Pipeline(endpoints.database_url, endpoints.amqp_url, tag=tag, subscribers=[single])
    raw = RawRoundTrip(endpoints.amqp_url, queue=f"bench{tag}.raw")
    try:
        progress("setting up the pipeline and the raw baseline")
        await pipeline.start()
        await raw.start()

        progress(f"warm-up: {options.warmup} pipeline events and raw messages, paced then concurrent")
        await pipeline.paced(options.warmup)
        await pipeline.concurrent(options.warmup, options.producers)
        await raw.paced(options.warmup)
        await raw.concurrent(options.warmup)

        progress(f"raw paced: {options.paced} messages")
        raw_paced = latency_summary(raw.tracker.latencies(await raw.paced(options.paced)))
        progress(f"pipeline paced: {options.paced} events")
        paced_ids = await pipeline.paced(options.paced)
        pipeline_paced = latency_summary(pipeline.tracker.latencies(paced_ids))
        paced_to_relay = [pipeline.relay_stats.confirmed[i] - pipeline.tracker.started[i] for i in paced_ids]

        progress(f"raw throughput: {options.events} messages published concurrently")
        raw_window = CpuWindow(endpoints.pids)
        raw_ids = await raw.concurrent(options.events)
        raw_cpu = raw_window.cores()
        raw_rate = len(raw_ids) / raw.tracker.span(raw_ids)
        progress(f"pipeline throughput: {options.events} events from {options.producers} producers")
        pipeline.relay_stats.reset()
        window = CpuWindow(endpoints.pids)
        pipeline_ids = await pipeline.concurrent(options.events, options.producers)
        cpu = window.cores()
        relay = pipeline.relay_stats
        relay_batches, relay_largest, relay_publishing = relay.batches, relay.largest, relay.publishing
        pipeline_span = pipeline.tracker.span(pipeline_ids)
        pipeline_rate = len(pipeline_ids) / pipeline_span
        commits = [pipeline.tracker.started[i] for i in pipeline_ids]
        commit_rate = len(commits) / (max(commits) - min(commits)) if len(commits) > 1 else 0.0
        to_relay = [relay.confirmed[i] - pipeline.tracker.started[i] for i in pipeline_ids]
        # Events the consumer committed before some event the relay had published earlier (consumer concurrency).
        overtaken, latest = 0, -1
        for event_id in sorted(pipeline_ids, key=pipeline.tracker.finished.__getitem__):
            if relay.position[event_id] < latest:
                overtaken += 1
            latest = max(latest, relay.position[event_id])

        progress(f"pipeline backlog drain: {options.events} events committed with the relay stopped, then relayed")
        backlog = await pipeline.fill_backlog(options.events, options.producers)
        pipeline.relay_stats.reset()
        drain_window = CpuWindow(endpoints.pids)
        drain_rate = len(backlog) / await pipeline.drain(backlog)
        drain_cpu = drain_window.cores()
        drain_batches = pipeline.relay_stats.batches

        pending = await pipeline.outbox_pending()
        postgres = await pipeline.server_facts()
        (consumer,) = (subscribed.consumer for subscribed in pipeline.subscribed)

        fan_out = None
        if options.subscribers:
            await pipeline.pause_relay()  # its once-a-second poll stays out of the fan-out's CPU
            fan_out = await measure_fan_out(endpoints, options, tag=tag)

        rabbit_version = raw.server_properties.get("version")
        if isinstance(rabbit_version, bytes):
            rabbit_version = rabbit_version.decode()

        paced_p50 = float(pipeline_paced.get("p50_ms", 0))
        raw_p50 = float(raw_paced.get("p50_ms", 0))
        return {
            "benchmark": "lifecycle-event-pipeline",
            "method": METHOD,
            "events": {
                "throughput": options.events,
                "paced": options.paced,
                "warmup": options.warmup,
                "producers": options.producers,
                "subscribers": options.subscribers,
            },
            "pipeline": {
                "paced_latency": pipeline_paced,
                "paced_commit_to_relay_confirmed": latency_summary(paced_to_relay),
                "throughput": {
                    "events_per_s": round(pipeline_rate, 1),
                    "producer_commits_per_s": round(commit_rate, 1),
                    "latency": latency_summary(pipeline.tracker.latencies(pipeline_ids)),
                    "commit_to_relay_confirmed": latency_summary(to_relay),
                    "relay_batches": relay_batches,
                    "relay_mean_batch": round(len(pipeline_ids) / relay_batches, 1) if relay_batches else None,
                    "relay_largest_batch": relay_largest,
                    "relay_publishing_share": round(relay_publishing / pipeline_span, 2),
                    "consumed_before_an_earlier_published_event": overtaken,
                    "cpu_cores_used": cpu,
                    "cpu_ms_per_event": cpu_per_item(cpu, pipeline_rate),
                },
                "backlog_drain": {
                    "events_per_s": round(drain_rate, 1),
                    "relay_batches": drain_batches,
                    "cpu_cores_used": drain_cpu,
                    "cpu_ms_per_event_relay_and_consumer": cpu_per_item(drain_cpu, drain_rate),
                },
                "duplicates_seen": consumer.duplicates,
                "outbox_left": pending,
                "fan_out": fan_out,
            },
            "raw_amqp": {
                "paced_latency": raw_paced,
                "throughput": {
                    "messages_per_s": round(raw_rate, 1),
                    "cpu_cores_used": raw_cpu,
                    "cpu_ms_per_message": cpu_per_item(raw_cpu, raw_rate),
                    "latency": latency_summary(raw.tracker.latencies(raw_ids)),
                },
                "body_bytes": len(raw.body),
            },
            "ratios": {
                "pipeline_paced_p50_over_raw_paced_p50": _ratio(paced_p50, raw_p50),
                "raw_msgs_per_s_over_pipeline_events_per_s": _ratio(raw_rate, pipeline_rate),
                # Steadier than the rates on a shared machine: other tenants' load changes time, not CPU per item.
                "pipeline_cpu_per_event_over_raw_cpu_per_message": _ratio(
                    cpu_per_item(cpu, pipeline_rate) or 0.0, cpu_per_item(raw_cpu, raw_rate) or 0.0
                ),
                "fan_out_cpu_per_event_over_pipeline_cpu_per_event": _ratio(
                    fan_out["cpu_ms_per_event"] or 0.0, cpu_per_item(cpu, pipeline_rate) or 0.0
                )
                if fan_out is not None
                else None,
            },
            "settings": {
                "db_pool_min": POOL_MIN,
                "db_pool_max": POOL_MAX,
                "consumer_prefetch": PREFETCH,
                "consumer_concurrency": CONSUMER_CONCURRENCY,
            },
            "servers": {
                "postgres": "own, temporary, durable=True" if endpoints.own_database else "external",
                "rabbitmq": "own, temporary" if endpoints.own_broker else "external",
            },
            "machine": machine(),
            "versions": {
                "aio_pika": aio_pika.__version__,
                "asyncpg": asyncpg.__version__,
                "postgresql": postgres["server_version"],
                "rabbitmq": rabbit_version,
            },
            "postgres_settings": {k: v for k, v in postgres.items() if k != "server_version"},
        }
    finally:
        progress("tearing down")
        await raw.close(drop=not endpoints.own_broker)
        await pipeline.close(drop_schemas=not endpoints.own_database, drop_topology=not endpoints.own_broker)


def parse_args(argv: Sequence[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(prog="python -m bench.pipeline", description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=positive, default=2000, help="events in the throughput runs (2000)")
    parser.add_argument("--paced", type=positive, default=300, help="events in the paced runs (300)")
    parser.add_argument("--warmup", type=non_negative, default=50, help="unmeasured events before measuring (50)")
    parser.add_argument("--producers", type=positive, default=8, help="concurrent producer tasks (8)")
    parser.add_argument(
        "--subscribers",
        type=non_negative,
        default=5,
        help="services in the fan-out run: the audit and stand-ins (5; 0 skips the run)",
    )
    args = parser.parse_args(argv)
    return Options(
        events=args.events,
        paced=args.paced,
        warmup=args.warmup,
        producers=args.producers,
        subscribers=args.subscribers,
    )


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_args(argv)
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    exit_on_sigterm()
    began = time.perf_counter()
    with bench_servers() as endpoints:
        # The services' event loop (kernel.http.serve runs them on uvloop), for the pipeline and the raw baseline alike.
        result = uvloop.run(measure(endpoints, options))
    result["elapsed_s"] = round(time.perf_counter() - began, 1)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
