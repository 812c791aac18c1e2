"""What the failover service takes from the bus: the provisioner's facts about instances and addresses, metric
samples, and what came of its commands."""

from __future__ import annotations

from kernel.consumer import payload_of
from kernel.events import Envelope
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
    payload = payload_of(envelope)
    if payload is None:
        return
    await handlers.learn(tx, envelope, payload, caused_by(envelope))
