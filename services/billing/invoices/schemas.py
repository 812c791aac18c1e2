"""The invoice API's models. Amounts are decimal strings in JSON: never floats."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, Field


class InvoiceSummaryOut(BaseModel):
    month: str = Field(description="YYYY-MM")
    currency: str
    total: Decimal
    lines: int = Field(description="Cost lines in the month (Correction lines among them)")
    corrections: int
    status: Literal["open", "closed"] = Field(description="open: the month is under way")


class InvoiceLineOut(BaseModel):
    service_name: str
    resource_type: str
    resource_id: str
    resource_name: str
    component: str
    pricing_unit: str
    quantity: Decimal
    consumed_seconds: Decimal
    currency: str
    cost: Decimal
    corrections: Decimal = Field(description="Of `cost`, what Correction lines added (negative: took off)")


class TotalOut(BaseModel):
    currency: str
    total: Decimal


class InvoiceOut(BaseModel):
    project_id: str
    month: str
    status: Literal["open", "closed"]
    totals: list[TotalOut]
    lines: list[InvoiceLineOut]


__all__ = ["InvoiceLineOut", "InvoiceOut", "InvoiceSummaryOut", "TotalOut"]
