"""The event consumer on the kernel's in-memory unit of work: a handler runs once per event id in a transaction that
also holds the inbox row, what it emits is chained to the delivered event, and each outcome acks, retries or
dead-letters the message."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, cast

import pytest
from aio_pika.abc import AbstractIncomingMessage

from kernel.consumer import EventConsumer, PermanentFailure
from kernel.events import Envelope, EventPayload, new_event, parse_payload
from kernel.unit_of_work import FakeUnitOfWork, Transaction, caused_by


class Pinged(EventPayload):
    TYPE = "test_kernel_consumer.pinged"
    n: int


class Ponged(EventPayload):
    TYPE = "test_kernel_consumer.ponged"
    n: int


@dataclass
class Seen:
    """The consumer's one repository: the numbers it handled."""

    numbers: list[int] = field(default_factory=list)


async def pong(tx: Transaction[Seen], envelope: Envelope) -> None:
    """Notes the number and answers it; 0 fails after both, -1 can never be handled."""
    payload = parse_payload(envelope)
    assert isinstance(payload, Pinged)
    tx.repos.numbers.append(payload.n)
    tx.emit(caused_by(envelope), Ponged(n=payload.n))
    if payload.n == 0:
        raise RuntimeError("a bug after the writes")
    if payload.n == -1:
        raise PermanentFailure("never")


def ping(n: int) -> Envelope:
    return new_event(Pinged(n=n), project_id="proj", correlation_id=f"cid-{n}")


@pytest.fixture
def uow() -> FakeUnitOfWork[Seen]:
    return FakeUnitOfWork(Seen())


def consumer(uow: FakeUnitOfWork[Seen]) -> EventConsumer[Seen]:
    return EventConsumer(uow, name="svc", handle=pong, retry_delay=0)


async def test_an_event_is_handled_once_with_its_effect_its_reply_and_its_inbox_row(uow: FakeUnitOfWork[Seen]) -> None:
    delivered = ping(7)

    assert await consumer(uow).handle_delivery(delivered) is True
    assert await consumer(uow).handle_delivery(delivered) is False

    assert uow.repos.numbers == [7]
    assert uow.inbox == {(delivered.id, "svc")}
    [reply] = uow.events
    assert (reply.type, reply.payload) == (Ponged.TYPE, {"n": 7})
    assert (reply.project_id, reply.correlation_id, reply.causation_id) == ("proj", "cid-7", str(delivered.id))


async def test_another_consumer_of_the_same_event_handles_it_too(uow: FakeUnitOfWork[Seen]) -> None:
    delivered = ping(1)
    assert await consumer(uow).handle_delivery(delivered)
    assert await EventConsumer(uow, name="other", handle=pong).handle_delivery(delivered)
    assert uow.repos.numbers == [1, 1]


async def test_a_failing_handler_leaves_nothing_behind_and_may_run_again(uow: FakeUnitOfWork[Seen]) -> None:
    failing = ping(0)
    with pytest.raises(RuntimeError):
        await consumer(uow).handle_delivery(failing)
    assert (uow.repos.numbers, uow.events, uow.inbox, uow.rolled_back) == ([], [], set(), 1)
    with pytest.raises(RuntimeError):
        await consumer(uow).handle_delivery(failing)  # a redelivery runs the handler again


class Message:
    """What the consumer reads of and does to an AMQP delivery."""

    def __init__(self, body: bytes, deliveries: int = 0) -> None:
        self.body = body
        self.headers: dict[str, Any] = {"x-delivery-count": deliveries}
        self.outcome: str | None = None

    async def ack(self) -> None:
        self.outcome = "ack"

    async def reject(self, requeue: bool = False) -> None:
        self.outcome = "requeue" if requeue else "dead"

    async def nack(self, requeue: bool = True) -> None:
        self.outcome = "retry" if requeue else "dead"


async def deliver(uow: FakeUnitOfWork[Seen], body: bytes) -> str | None:
    message = Message(body)
    await consumer(uow)(cast(AbstractIncomingMessage, message))
    return message.outcome


@pytest.mark.parametrize(
    ("body", "outcome"),
    [
        (ping(3).model_dump_json().encode(), "ack"),
        (ping(0).model_dump_json().encode(), "retry"),
        (ping(-1).model_dump_json().encode(), "dead"),
        (ping(3).model_copy(update={"payload": {"n": "x"}}).model_dump_json().encode(), "dead"),
        (ping(3).model_copy(update={"type": "test_kernel_consumer.unknown"}).model_dump_json().encode(), "dead"),
        (b"not an envelope", "dead"),
    ],
)
async def test_each_outcome_acks_retries_or_dead_letters(uow: FakeUnitOfWork[Seen], body: bytes, outcome: str) -> None:
    assert await deliver(uow, body) == outcome
    assert len(uow.inbox) == (1 if outcome == "ack" else 0)


async def deliver_together(uow: FakeUnitOfWork[Seen], *envelopes: Envelope) -> list[str | None]:
    """Deliver `envelopes` at once to a consumer with one transaction at a time: all but the first wait for it."""
    messages = [Message(e.model_dump_json().encode()) for e in envelopes]
    waiting = EventConsumer(uow, name="svc", handle=pong, retry_delay=0, concurrency=1)
    await asyncio.gather(*(waiting(cast(AbstractIncomingMessage, m)) for m in messages))
    return [m.outcome for m in messages]


async def test_events_delivered_together_are_handled_in_one_transaction(uow: FakeUnitOfWork[Seen]) -> None:
    pings = [ping(n) for n in range(1, 6)]

    assert await deliver_together(uow, *pings) == ["ack"] * 5

    assert uow.committed == 1 and uow.repos.numbers == [1, 2, 3, 4, 5]
    assert uow.inbox == {(p.id, "svc") for p in pings}
    # Each reply continues its own event, not the batch's first.
    assert [(r.correlation_id, r.causation_id) for r in uow.events] == [(p.correlation_id, str(p.id)) for p in pings]


async def test_a_redelivery_in_or_before_a_batch_is_handled_once(uow: FakeUnitOfWork[Seen]) -> None:
    earlier, again = ping(1), ping(2)
    assert await consumer(uow).handle_delivery(earlier)

    assert await deliver_together(uow, earlier, again, again, ping(3)) == ["ack"] * 4

    assert uow.repos.numbers == [1, 2, 3]


async def test_a_failing_event_fails_alone_and_the_rest_of_its_batch_is_handled(uow: FakeUnitOfWork[Seen]) -> None:
    outcomes = await deliver_together(uow, ping(2), ping(0), ping(-1), ping(3))

    assert outcomes == ["ack", "retry", "dead", "ack"]
    assert uow.repos.numbers == [2, 3] and len(uow.inbox) == 2
    assert uow.rolled_back == 3  # the batch, then the two failing events on their own
