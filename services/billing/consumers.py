"""What the billing service takes from the bus: the provisioner's accounts, price catalogs, and the lifecycle events
of what it bills (instances, volumes, snapshots, addresses)."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import ValidationError

from kernel.consumer import PermanentFailure
from kernel.events import CloudAdded, Envelope, EventPayload, PriceCatalogPublished, parse_payload
from kernel.events.envelope import UnknownEventType
from kernel.unit_of_work import Transaction
from services.billing.catalogs import handlers as catalogs
from services.billing.unit_of_work import Repositories
from services.billing.usage import handlers as usage

__all__ = ["BINDINGS", "on_event", "on_events"]

BINDINGS = (
    "cloud.added.#",
    "price_catalog.published.#",
    "instance.requested.#",
    "instance.launched.#",
    "instance.running.#",
    "instance.stopped.#",
    "instance.suspended.#",
    "instance.terminated.#",
    "instance.failed.#",
    "volume.created.#",
    "volume.deleted.#",
    "snapshot.created.#",
    "snapshot.deleted.#",
    "address.allocated.#",
    "address.released.#",
)


def _parsed(envelope: Envelope) -> EventPayload | None:
    try:
        return parse_payload(envelope)
    except UnknownEventType:
        return None  # a newer version than this service knows: nothing here depends on it
    except ValidationError as exc:
        # Redelivery would fail the same way: dead-lettered at once, for an operator to look at.
        raise PermanentFailure(f"{envelope.routing_key} {envelope.id} does not match its schema") from exc


async def on_events(tx: Transaction[Repositories], envelopes: Sequence[Envelope]) -> None:
    """A batch: accounts and prices first (what the usage is priced by), then the lifecycle events together, each
    resource they changed rated once."""
    lifecycle: list[tuple[Envelope, EventPayload]] = []
    for envelope in envelopes:
        payload = _parsed(envelope)
        if isinstance(payload, CloudAdded):
            await catalogs.cloud_added(tx, payload)
        elif isinstance(payload, PriceCatalogPublished):
            await catalogs.prices_published(tx, envelope, payload)
        elif payload is not None:
            lifecycle.append((envelope, payload))
    await usage.learn_all(tx, lifecycle)


async def on_event(tx: Transaction[Repositories], envelope: Envelope) -> None:
    await on_events(tx, [envelope])
