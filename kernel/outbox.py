"""The transactional outbox: an event is written in the same transaction as the change it reports, and a relay
publishes it afterwards with publisher confirms. Nothing is published that was not committed, and nothing committed
is lost when the broker or the process goes away: the relay simply publishes it later.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence

from tenacity import wait_exponential

from kernel.db import Connection, Pool
from kernel.events import Envelope
from kernel.metrics import OUTBOX_PUBLISHED, OUTBOX_RELAY_ERRORS
from kernel.notify import Signal
from kernel.retry import retrying

log = logging.getLogger(__name__)

# (routing key, message id, body) of one message.
OutgoingMessage = tuple[str, str, bytes]
PublishMany = Callable[[Sequence[OutgoingMessage]], Awaitable[None]]


async def add(conn: Connection, *events: Envelope) -> None:
    """Queue events for publication; call inside the transaction that makes the change they report, and wake the
    relay once it committed (the unit of work does both)."""
    if not events:
        return
    # One statement however many: a bulk change (an inventory sync) queues thousands at once.
    await conn.execute(
        "INSERT INTO outbox (id, routing_key, body) SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[])",
        [e.id for e in events],
        [e.routing_key for e in events],
        [e.model_dump_json() for e in events],
    )


class OutboxRelay:
    """Moves committed events from a schema's outbox to the bus in the order they were written, batch by batch.

    Concurrent writers may commit out of that order, and consumers handle deliveries concurrently: a consumer that
    cares about order uses `occurred_at` and the state it already holds, never arrival order.

    The writers of this process wake it after they commit (`wake`). No NOTIFY: PostgreSQL serialises every commit
    that sends one on a global lock, which capped how many writes with events could commit at once. What another
    process commits is that process's relay's to send; any relay still finds whatever is left (its process ended
    right after the commit) on its next poll.
    """

    def __init__(
        self,
        pool: Pool,
        publish_many: PublishMany,
        *,
        schema: str,
        batch_size: int = 500,
        idle_poll: float = 1.0,
    ) -> None:
        self._pool = pool
        self._publish_many = publish_many
        self._schema = schema
        self._batch_size = batch_size
        self._idle_poll = idle_poll
        self._committed = Signal()

    def wake(self) -> None:
        """Events were committed to the outbox: send them now rather than at the next poll."""
        self._committed.set()

    async def relay_once(self) -> int:
        """Publish one batch; returns how many events went out."""
        async with self._pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                "SELECT seq, id, routing_key, body FROM outbox ORDER BY seq LIMIT $1 FOR UPDATE SKIP LOCKED",
                self._batch_size,
            )
            if not rows:
                return 0
            await self._publish_many([(r["routing_key"], str(r["id"]), r["body"].encode()) for r in rows])
            await conn.execute("DELETE FROM outbox WHERE seq = ANY($1::bigint[])", [r["seq"] for r in rows])
        OUTBOX_PUBLISHED.inc(len(rows))
        return len(rows)

    async def pending(self) -> int:
        async with self._pool.acquire() as conn:
            count: int = await conn.fetchval("SELECT count(*) FROM outbox")
            return count

    async def run(self) -> None:
        """Relay until cancelled. A failing batch (the broker or the database is away) is tried again after 0.2 s,
        doubling up to 5 s; an idle relay waits to be woken, or polls every `idle_poll` seconds."""
        while True:
            async for attempt in retrying(
                Exception, wait=wait_exponential(multiplier=0.2, max=5.0), log=log, what="outbox relay"
            ):
                with attempt:
                    try:
                        sent = await self.relay_once()
                    except Exception:
                        OUTBOX_RELAY_ERRORS.inc()
                        raise
            if sent < self._batch_size:
                await self._committed.wait(self._idle_poll)
