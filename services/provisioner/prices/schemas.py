"""The API models of price catalogs (the gateway serves the same). Amounts are decimal strings ("0.0200"), never JSON
floats: a float cannot hold most prices exactly."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, Field

from services.provisioner.prices.domain import PriceKind

PriceFormat = Literal["clanavi", "aws-offer", "libcloud"]


class PriceOut(BaseModel):
    kind: PriceKind
    region: str = Field(description='"" : every region of the account')
    item: str = Field(description='The flavor id or volume type; "" : any')
    unit: Literal["hour", "GB-month"]
    price: Decimal = Field(description="A decimal string, per `unit`, in the catalog's currency")


class PriceCatalogVersionOut(BaseModel):
    id: str
    cloud_id: str
    version: int
    effective_from: datetime
    currency: str = Field(description="ISO 4217")
    source: str = Field(description='"upload:json", "upload:csv", "aws-offer" or "libcloud"')
    source_updated_at: datetime | None = Field(description="When the source says its prices were last updated")
    price_count: int
    warnings: list[str] = Field(description="At most 20; `warning_count` counts them all")
    warning_count: int
    created_at: datetime


class PricesOut(BaseModel):
    cloud_id: str
    at: datetime
    version: int = Field(description="0: the adapter module's built-in prices (SimCloud's)")
    catalog_id: str | None
    effective_from: datetime
    currency: str
    source: str
    source_updated_at: datetime | None
    source_age_days: int | None = Field(description="How old the source's prices were at `at`, in whole days")
    prices: list[PriceOut]
