"""What the billing service takes from the bus: the provisioner's accounts, price catalogs, and the lifecycle events
of what it bills (instances, volumes, snapshots, addresses)."""

from __future__ import annotations

from collections.abc import Sequence

from kernel.consumer import payload_of
from kernel.events import CloudAdded, Envelope, PriceCatalogPublished
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
    resource they changed rated once. The prices of every account the batch concerns are held first: exclusively
    where it brings prices, shared where it brings usage."""
    payloads = [(envelope, payload_of(envelope)) for envelope in envelopes]
    lifecycle = usage.told(
        [(e, p) for e, p in payloads if p is not None and not isinstance(p, CloudAdded | PriceCatalogPublished)]
    )
    held = dict.fromkeys(usage.accounts(lifecycle), False)
    held.update((p.cloud_id, True) for _, p in payloads if isinstance(p, PriceCatalogPublished))
    await catalogs.hold(tx, held)
    for envelope, payload in payloads:
        if isinstance(payload, CloudAdded):
            await catalogs.cloud_added(tx, payload)
        elif isinstance(payload, PriceCatalogPublished):
            await catalogs.prices_published(tx, envelope, payload)
    await usage.learn_all(tx, lifecycle)


async def on_event(tx: Transaction[Repositories], envelope: Envelope) -> None:
    await on_events(tx, [envelope])
