"""v1 price catalog events, published by the provisioner when a version of a cloud account's prices is imported.
`price_catalog.imported` / `.replaced` say what changed; `price_catalog.published` carries the prices themselves, so
the billing service keeps its own copy from the bus and never calls the provisioner for them."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from pydantic import BaseModel, ConfigDict

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


class PriceRow(BaseModel):
    """One price of a catalog version, as `price_catalog.published` carries it. The amount is a decimal string."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # "flavor", "volume", "snapshot", "address", "image".
    kind: str
    # "": every region of the account.
    region: str
    # The flavor or image id, or the volume type; "": any.
    item: str
    amount: str


class PriceCatalogPublished(EventPayload):
    """The prices themselves of a catalog version, in pages of at most `PAGE_SIZE` rows, so that a service that
    charges by them (billing) keeps its own copy without calling the provisioner. Published with
    `price_catalog.imported` / `.replaced`, and for an account whose adapter module has a built-in list when the
    account is added (`version` 0, in force from the start of time until a version is imported)."""

    TYPE = "price_catalog.published"
    catalog_id: str
    cloud_id: str
    version: int
    effective_from: datetime
    currency: str
    source: str
    # 1-based; a consumer takes the version into use once it holds all `pages`.
    page: int
    pages: int
    prices: list[PriceRow]

    SUBJECT = "cloud_id"

    PAGE_SIZE: ClassVar[int] = 500
