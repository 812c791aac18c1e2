"""The prices of a catalog version as `price_catalog.published` events, in pages: how the billing service gets its
own copy of them from the bus. No I/O."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from kernel.events import CloudAdded, PriceCatalogPublished, PriceRow
from services.provisioner.prices.builtin import SINCE, builtin_for
from services.provisioner.prices.domain import Price


def pages(
    *,
    catalog_id: str,
    cloud_id: str,
    version: int,
    effective_from: datetime,
    currency: str,
    source: str,
    prices: Sequence[Price],
) -> list[PriceCatalogPublished]:
    """The version's prices in pages of `PriceCatalogPublished.PAGE_SIZE` rows (one empty page for a version with
    none, so that a consumer still learns the version)."""
    rows = [PriceRow(kind=p.kind.value, region=p.region, item=p.item, amount=str(p.amount)) for p in prices]
    size = PriceCatalogPublished.PAGE_SIZE
    chunks = [rows[i : i + size] for i in range(0, len(rows), size)] or [[]]
    return [
        PriceCatalogPublished(
            catalog_id=catalog_id,
            cloud_id=cloud_id,
            version=version,
            effective_from=effective_from,
            currency=currency,
            source=source,
            page=n,
            pages=len(chunks),
            prices=chunk,
        )
        for n, chunk in enumerate(chunks, start=1)
    ]


def builtin_pages(added: CloudAdded) -> list[PriceCatalogPublished]:
    """The built-in list of a new account's adapter module as version 0 (none for a module without one)."""
    builtin = builtin_for(added.driver)
    if builtin is None:
        return []
    return pages(
        catalog_id=f"builtin:{added.cloud_id}",
        cloud_id=added.cloud_id,
        version=0,
        effective_from=SINCE,
        currency=builtin.currency,
        source=builtin.source,
        prices=builtin.prices,
    )


__all__ = ["builtin_pages", "pages"]
