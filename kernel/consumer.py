"""Consuming events: each delivery is handled in one transaction of the service's unit of work, which also records
the event in the consumer's inbox and adds what the handler emits to the outbox; then the message is acked.

A redelivered event whose id is already in the inbox is acked without running the handler again. Transient
failures are nacked for another try; the queue's delivery limit moves a message that keeps failing to the dead-letter
queue. A message that can never succeed (not an envelope, unknown type, invalid payload) is dead-lettered at once.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Generic, Protocol, TypeVar

from aio_pika.abc import AbstractIncomingMessage
from pydantic import ValidationError
from tenacity import wait_exponential

from kernel import correlation
from kernel.errors import ValidationFailed
from kernel.events import Envelope
from kernel.events.envelope import UnknownEventType
from kernel.metrics import EVENTS_CONSUMED
from kernel.retry import pause_after
from kernel.unit_of_work import Transaction

log = logging.getLogger(__name__)

__all__ = ["EventConsumer", "Handler", "PermanentFailure", "Receiving"]

R = TypeVar("R")
R_co = TypeVar("R_co", covariant=True)

# Given the delivery's transaction rather than a connection: what a handler changes and emits commits with the
# inbox row, or not at all.
Handler = Callable[[Transaction[R], Envelope], Awaitable[None]]


class Receiving(Protocol[R_co]):
    """What a consumer needs of its service's unit of work (kernel.unit_of_work has it)."""

    def receiving(
        self, event_id: uuid.UUID, consumer: str
    ) -> AbstractAsyncContextManager[Transaction[R_co] | None]: ...


class PermanentFailure(Exception):
    """The event can never be handled; retrying is pointless."""


class EventConsumer(Generic[R]):
    def __init__(
        self, uow: Receiving[R], *, name: str, handle: Handler[R], retry_delay: float = 0.5, concurrency: int = 8
    ) -> None:
        self._uow = uow
        self._name = name
        self._handle = handle
        # The pause before a failed delivery goes back: `retry_delay` doubling with each delivery, up to 10 s.
        self._backoff = wait_exponential(multiplier=retry_delay, max=10.0)
        # Deliveries handled at once; kept below the pool size so the service's API always finds a connection.
        self._slots = asyncio.Semaphore(concurrency)

    async def handle_delivery(self, envelope: Envelope) -> bool:
        """Run the handler once per event id; False when the event had been handled before."""
        async with self._slots, self._uow.receiving(envelope.id, self._name) as tx:
            if tx is None:
                return False
            await self._handle(tx, envelope)
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
