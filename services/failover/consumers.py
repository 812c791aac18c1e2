"""What the failover service takes from the bus: the provisioner's facts about instances and addresses, metric
samples, and what came of its commands."""

from __future__ import annotations

from pydantic import ValidationError

from kernel.consumer import PermanentFailure
from kernel.events import Envelope, parse_payload
from kernel.events.envelope import UnknownEventType
from kernel.unit_of_work import Transaction, caused_by
from services.failover.health import handlers
from services.failover.unit_of_work import Repositories

__all__ = ["BINDINGS", "on_event"]

BINDINGS = (
    "instance.#",
    "address.associated.#",
    "address.disassociated.#",
    "metrics.sampled.#",
    "command.refused.#",
)


async def on_event(tx: Transaction[Repositories], envelope: Envelope) -> None:
    try:
        payload = parse_payload(envelope)
    except UnknownEventType:
        return  # a newer version than this service knows: nothing here depends on it
    except ValidationError as exc:
        # Redelivery would fail the same way: dead-lettered at once, for an operator to look at.
        raise PermanentFailure(f"{envelope.routing_key} {envelope.id} does not match its schema") from exc
    await handlers.learn(tx, envelope, payload, caused_by(envelope))
