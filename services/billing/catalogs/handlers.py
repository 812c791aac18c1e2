"""Use cases of price catalogs: learn the accounts and the prices the provisioner publishes; a version that completes
re-rates the account's usage from when it takes effect (usage told before its prices arrived)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from kernel.events import CloudAdded, Envelope, PriceCatalogPublished
from kernel.unit_of_work import Transaction
from services.billing.unit_of_work import Repositories
from services.billing.usage.rating import PAGE, Prices, rate


async def hold(tx: Transaction[Repositories], cloud_ids: Mapping[str, bool]) -> None:
    """Hold the accounts' prices for the transaction: exclusively (True) to add to them, shared to rate with them."""
    if cloud_ids:
        await tx.repos.catalogs.hold(cloud_ids)


async def cloud_added(tx: Transaction[Repositories], payload: CloudAdded) -> None:
    await tx.repos.catalogs.cloud_added(payload.cloud_id, payload.project, payload.driver)


async def prices_published(tx: Transaction[Repositories], envelope: Envelope, payload: PriceCatalogPublished) -> None:
    """Keep a page of a version's prices; the page that completes it re-rates the account's usage from when the
    version takes effect."""
    if not await tx.repos.catalogs.add_page(payload):
        return
    now = datetime.now(UTC)
    prices = Prices()
    ids = await tx.repos.usage.of_cloud_since(payload.cloud_id, payload.effective_from)
    # A page of resources at a time: an account may hold many thousands.
    for n in range(0, len(ids), PAGE):
        await rate(tx, dict.fromkeys(ids[n : n + PAGE], envelope.id), now, prices=prices)


__all__ = ["cloud_added", "hold", "prices_published"]
