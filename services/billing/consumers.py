"""What the billing service takes from the bus: the provisioner's accounts, price catalogs, and the lifecycle events
of what it bills (instances, volumes, snapshots, addresses)."""

from __future__ import annotations

from collections.abc import Sequence

from kernel.consumer import payload_of
from kernel.events import CloudAdded, Envelope, EventPayload, PriceCatalogPublished
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


async def on_events(tx: Transaction[Repositories], envelopes: Sequence[Envelope]) -> None:
    """A batch: accounts and prices first (what the usage is priced by), then the lifecycle events together, each
    resource they changed rated once."""
    lifecycle: list[tuple[Envelope, EventPayload]] = []
    for envelope in envelopes:
        payload = payload_of(envelope)
        if isinstance(payload, CloudAdded):
            await catalogs.cloud_added(tx, payload)
        elif isinstance(payload, PriceCatalogPublished):
            await catalogs.prices_published(tx, envelope, payload)
        elif payload is not None:
            lifecycle.append((envelope, payload))
    await usage.learn_all(tx, lifecycle)


async def on_event(tx: Transaction[Repositories], envelope: Envelope) -> None:
    await on_events(tx, [envelope])
