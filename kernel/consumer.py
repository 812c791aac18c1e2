"""Consuming events: each delivery is handled in one transaction of the service's unit of work, which also records
the event in the consumer's inbox and adds what the handler emits to the outbox; then the message is acked.

A redelivered event whose id is already in the inbox is acked without running the handler again. Transient
failures are nacked for another try; the queue's delivery limit moves a message that keeps failing to the dead-letter
queue. A message that can never succeed (not an envelope, unknown type, invalid payload) is dead-lettered at once.

Under load, deliveries that are waiting are handled together: up to `batch_size` events in one transaction (their
inbox rows in one statement, each handler in turn, one commit), then each is acked. A commit is the dearest part of
handling an event, and a service whose handlers serialise (the audit's chain) would otherwise commit one event at a
time. A batch that fails is handled again event by event, so one bad event fails alone. With nothing waiting, an event
is handled at once, on its own.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import AbstractAsyncContextManager, contextmanager
from typing import Generic, Protocol, TypeVar

from aio_pika.abc import AbstractIncomingMessage
from pydantic import ValidationError
from tenacity import wait_exponential

from kernel import correlation
from kernel.errors import ValidationFailed
from kernel.events import Envelope, EventPayload, parse_payload
from kernel.events.envelope import UnknownEventType
from kernel.metrics import EVENTS_CONSUMED
from kernel.retry import pause_after
from kernel.unit_of_work import Transaction

log = logging.getLogger(__name__)

__all__ = ["BatchHandler", "EventConsumer", "Handler", "PermanentFailure", "Receiving", "payload_of"]

R = TypeVar("R")
R_co = TypeVar("R_co", covariant=True)

# Given the delivery's transaction rather than a connection: what a handler changes and emits commits with the
# inbox row, or not at all.
Handler = Callable[[Transaction[R], Envelope], Awaitable[None]]
# Given every fresh event of a batch at once, in delivery order: for a service whose handling of several events
# together costs less than of each alone (the scaler decides once for a batch's metric samples).
BatchHandler = Callable[[Transaction[R], Sequence[Envelope]], Awaitable[None]]


class Receiving(Protocol[R_co]):
    """What a consumer needs of its service's unit of work (kernel.unit_of_work has it)."""

    def receiving_many(
        self, event_ids: Sequence[uuid.UUID], consumer: str
    ) -> AbstractAsyncContextManager[tuple[Transaction[R_co], frozenset[uuid.UUID]]]: ...


class PermanentFailure(Exception):
    """The event can never be handled; retrying is pointless."""


def payload_of(envelope: Envelope) -> EventPayload | None:
    """The envelope's payload as its schema, or None when it is a newer version than this service knows (nothing in
    a consumer depends on what it cannot read). A payload that does not match its schema would fail the same way on
    every redelivery: it is dead-lettered at once, for an operator to look at."""
    try:
        return parse_payload(envelope)
    except UnknownEventType:
        return None
    except ValidationError as exc:
        raise PermanentFailure(f"{envelope.routing_key} {envelope.id} does not match its schema") from exc


class EventConsumer(Generic[R]):
    def __init__(
        self,
        uow: Receiving[R],
        *,
        name: str,
        handle: Handler[R],
        retry_delay: float = 0.5,
        concurrency: int = 8,
        batch_size: int = 32,
        handle_many: BatchHandler[R] | None = None,
    ) -> None:
        self._uow = uow
        self._name = name
        self._handle = handle
        self._handle_many = handle_many
        # The pause before a failed delivery goes back: `retry_delay` doubling with each delivery, up to 10 s.
        self._backoff = wait_exponential(multiplier=retry_delay, max=10.0)
        # Transactions at once; kept below the pool size so the service's API always finds a connection.
        self._concurrency = concurrency
        self._slots = asyncio.Semaphore(concurrency)
        self._batch_size = batch_size
        # Deliveries waiting for a transaction, and the tasks that take them, at most `concurrency`.
        self._waiting: deque[tuple[Envelope, asyncio.Future[bool]]] = deque()
        self._takers: set[asyncio.Task[None]] = set()

    def after_commit(self, envelope: Envelope, fresh: bool) -> None:
        """Called once the transaction that handled `envelope` committed (`fresh` False: it was a redelivery)."""

    async def handle_delivery(self, envelope: Envelope) -> bool:
        """Run the handler once per event id; False when the event had been handled before."""
        [fresh] = await self.handle_together([envelope])
        return fresh

    async def handle_together(self, envelopes: Sequence[Envelope]) -> list[bool]:
        """Handle `envelopes` in one transaction; for each, False when it had been handled before (or earlier in
        the same batch). Raises when any handler fails: then none of them is recorded."""
        first: dict[uuid.UUID, Envelope] = {}
        for envelope in envelopes:
            first.setdefault(envelope.id, envelope)
        async with self._slots:
            async with self._uow.receiving_many(list(first), self._name) as (tx, fresh):
                todo = [envelope for event_id, envelope in first.items() if event_id in fresh]
                if self._handle_many is not None:
                    if todo:
                        await self._handle_many(tx, todo)
                else:
                    for envelope in todo:
                        with _correlated(envelope):
                            await self._handle(tx, envelope)
            outcomes = []
            for envelope in envelopes:
                handled = envelope.id in fresh and first.get(envelope.id) is envelope
                self.after_commit(envelope, handled)
                outcomes.append(handled)
            return outcomes

    async def _handled(self, envelope: Envelope) -> bool:
        """Handle a delivery with the others waiting then: True once its transaction committed, False for a
        redelivery; raises what handling it alone raised."""
        done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._waiting.append((envelope, done))
        if len(self._takers) < self._concurrency:
            taker = asyncio.create_task(self._take(), name=f"{self._name}-consumer")
            self._takers.add(taker)
            taker.add_done_callback(self._takers.discard)
        return await done

    async def _take(self) -> None:
        """Handle what is waiting, a batch at a time, until nothing is."""
        while self._waiting:
            batch = [self._waiting.popleft() for _ in range(min(len(self._waiting), self._batch_size))]
            if len(batch) > 1:
                try:
                    outcomes = await self.handle_together([envelope for envelope, _ in batch])
                except Exception:
                    log.warning("a batch of %d events failed; handling them one by one", len(batch), exc_info=True)
                else:
                    for (_, done), fresh in zip(batch, outcomes, strict=True):
                        _settle(done, fresh)
                    continue
            for envelope, done in batch:
                try:
                    fresh = await self.handle_delivery(envelope)
                except Exception as exc:  # noqa: BLE001 - the delivery's own handling decides what it means
                    if not done.done():
                        done.set_exception(exc)
                else:
                    _settle(done, fresh)

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
            fresh = await self._handled(envelope)
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


def _settle(done: asyncio.Future[bool], fresh: bool) -> None:
    if not done.done():  # its delivery may have been cancelled meanwhile (the channel closed)
        done.set_result(fresh)


@contextmanager
def _correlated(envelope: Envelope) -> Iterator[None]:
    """The event's correlation id is the current one while its handler runs (what it emits continues it)."""
    token = correlation.current.set(envelope.correlation_id)
    try:
        yield
    finally:
        correlation.current.reset(token)
