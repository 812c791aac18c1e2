"""v1 price catalog events, published by the provisioner when a version of a cloud account's prices is imported.
The billing service reads the prices themselves from `/v1/clouds/{id}/prices?at=`; events carry what changed."""

from __future__ import annotations

from datetime import datetime

from kernel.events.envelope import EventPayload


class _PriceCatalogEvent(EventPayload):
    catalog_id: str
    cloud_id: str
    version: int
    effective_from: datetime
    currency: str
    # "upload:json", "upload:csv", "aws-offer", "libcloud".
    source: str
    # When the source says its prices were last updated, when it says so.
    source_updated_at: datetime | None
    price_count: int
    # How many rows were taken with a warning (unknown flavor ids, prices left out).
    warning_count: int

    SUBJECT = "cloud_id"


class PriceCatalogImported(_PriceCatalogEvent):
    """The account's first catalog version."""

    TYPE = "price_catalog.imported"


class PriceCatalogReplaced(_PriceCatalogEvent):
    """A version that takes over from the account's earlier ones at `effective_from` (they stay as they were for the
    time before)."""

    TYPE = "price_catalog.replaced"
    replaces_version: int
