"""Consuming events: each delivery is handled in one database transaction together with its inbox row, then acked.

A redelivered event whose id is already in the inbox is acked without running the handler again. Transient
failures are nacked for another try; the queue's delivery limit moves a message that keeps failing to the dead-letter
queue. A message that can never succeed (not an envelope, unknown type, invalid payload) is dead-lettered at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from aio_pika.abc import AbstractIncomingMessage
from pydantic import ValidationError
from tenacity import wait_exponential

from kernel import correlation
from kernel.db import Connection, Pool
from kernel.errors import ValidationFailed
from kernel.events import Envelope
from kernel.events.envelope import UnknownEventType
from kernel.metrics import EVENTS_CONSUMED
from kernel.retry import pause_after

log = logging.getLogger(__name__)

Handler = Callable[[Connection, Envelope], Awaitable[None]]


class PermanentFailure(Exception):
    """The event can never be handled; retrying is pointless."""


class EventConsumer:
    def __init__(
        self, pool: Pool, *, name: str, handle: Handler, retry_delay: float = 0.5, concurrency: int = 8
    ) -> None:
        self._pool = pool
        self._name = name
        self._handle = handle
        # The pause before a failed delivery goes back: `retry_delay` doubling with each delivery, up to 10 s.
        self._backoff = wait_exponential(multiplier=retry_delay, max=10.0)
        # Deliveries handled at once; kept below the pool size so the service's API always finds a connection.
        self._slots = asyncio.Semaphore(concurrency)

    async def handle_delivery(self, envelope: Envelope) -> bool:
        """Run the handler once per event id; False when the event had been handled before."""
        async with self._slots, self._pool.acquire() as conn, conn.transaction():
            fresh = await conn.fetchval(
                "INSERT INTO inbox (event_id, consumer) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING true",
                envelope.id,
                self._name,
            )
            if not fresh:
                return False
            await self._handle(conn, envelope)
            return True

    async def __call__(self, message: AbstractIncomingMessage) -> None:
        try:
            envelope = Envelope.model_validate_json(message.body)
        except ValidationError as exc:
            log.error("dead-lettering a message that is not an event envelope: %s", exc.errors()[:3])
            EVENTS_CONSUMED.labels(type="invalid", outcome="dead").inc()
            await message.reject(requeue=False)
            return
        token = correlation.current.set(envelope.correlation_id)
        try:
            fresh = await self.handle_delivery(envelope)
            EVENTS_CONSUMED.labels(type=envelope.type, outcome="handled" if fresh else "duplicate").inc()
            await message.ack()
        except (PermanentFailure, ValidationFailed, ValidationError, UnknownEventType) as exc:
            log.error("dead-lettering %s %s: %s", envelope.routing_key, envelope.id, exc)
            EVENTS_CONSUMED.labels(type=envelope.type, outcome="dead").inc()
            await message.reject(requeue=False)
        except Exception:
            count = (message.headers or {}).get("x-delivery-count", 0)
            deliveries = count if isinstance(count, int) else 0
            log.exception(
                "handling %s %s failed (delivery %d); retrying", envelope.routing_key, envelope.id, deliveries + 1
            )
            EVENTS_CONSUMED.labels(type=envelope.type, outcome="retry").inc()
            # Requeued messages come straight back; a short pause keeps a failing handler from spinning.
            await asyncio.sleep(pause_after(self._backoff, deliveries + 1))
            await message.nack(requeue=True)
        finally:
            correlation.current.reset(token)
