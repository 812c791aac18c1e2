"""Price catalogs and their rules; no I/O.

A catalog version holds one account's prices in one currency from its `effective_from` on, until a later version
takes effect. Versions are never changed: a new price is a new version, so the prices in force at any past moment
stay what they were. Amounts are `Decimal` here, `numeric` in PostgreSQL and strings in JSON: never a float.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from kernel.errors import ValidationFailed

# Three capital letters, as ISO 4217 writes currency codes (USD, EUR, JPY).
CURRENCY = re.compile(r"^[A-Z]{3}$")
# The most warnings an import keeps (the count is kept whole).
MAX_WARNINGS = 20
# A month of running, in hours: 365 x 24 / 12, the figure AWS's and most clouds' calculators use.
HOURS_A_MONTH = Decimal(730)
# The most digits after the point an amount keeps; more are refused rather than rounded.
SCALE = 10
# No price comes near this; a bound keeps absurd numbers (1e400000) out of storage and answers.
LIMIT = Decimal(10) ** 20
# A month of running, in hours: 365 x 24 / 12, the figure AWS's and most clouds' calculators use.
HOURS_A_MONTH = Decimal(730)


class PriceKind(StrEnum):
    """What a price is for; each has one unit."""

    FLAVOR = "flavor"
    VOLUME = "volume"
    SNAPSHOT = "snapshot"
    ADDRESS = "address"
    # What running an image adds to its server's hour (an operating system's licence, a marketplace image).
    IMAGE = "image"


UNITS = {
    PriceKind.FLAVOR: "hour",
    PriceKind.VOLUME: "GB-month",
    PriceKind.SNAPSHOT: "GB-month",
    PriceKind.ADDRESS: "hour",
    PriceKind.IMAGE: "hour",
}


@dataclass(frozen=True)
class Price:
    kind: PriceKind
    # "" : in every region of the account (a price for the region itself wins).
    region: str
    # The flavor id, or the volume type; "" : any.
    item: str
    amount: Decimal

    @property
    def unit(self) -> str:
        return UNITS[self.kind]


@dataclass(frozen=True)
class PriceList:
    """What an import read from a file, before it is a version of a catalog."""

    currency: str
    prices: tuple[Price, ...]
    # Where the prices come from ("upload:json", "upload:csv", "aws-offer", "libcloud", "builtin:simcloud").
    source: str
    # When the source says its prices were last updated (Libcloud's `updated`, an offer file's `publicationDate`).
    source_updated_at: datetime | None = None
    warnings: tuple[str, ...] = ()
    # Warnings past MAX_WARNINGS are counted, not kept.
    warning_count: int = 0


@dataclass(frozen=True)
class CatalogVersion:
    id: str
    project_id: str
    cloud_id: str
    version: int
    effective_from: datetime
    currency: str
    source: str
    source_updated_at: datetime | None
    price_count: int
    warnings: tuple[str, ...]
    warning_count: int
    created_at: datetime
    correlation_id: str
    last_event_id: str | None = None


@dataclass
class Problems:
    """The faults found in a price file, each naming its field or row; raised together, so one answer lists them."""

    errors: list[dict[str, Any]] = field(default_factory=list)

    def add(self, where: str, detail: str, *, row: int | None = None) -> None:
        self.errors.append({"field": where, "detail": detail, **({"row": row} if row is not None else {})})

    def raise_any(self) -> None:
        if self.errors:
            first = self.errors[0]
            at = f" (row {first['row']})" if "row" in first else ""
            raise ValidationFailed(
                f"The price file is not valid: {first['field']}{at}: {first['detail']}.", errors=self.errors[:100]
            )


def amount_of(value: object, problems: Problems, where: str, row: int | None) -> Decimal | None:
    """A price as an exact, finite, non-negative Decimal; None (with the problem noted) otherwise. Floats are not
    taken: a JSON number is read as a Decimal before it gets here."""
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        problems.add(where, "must be a decimal number (a string or a JSON number)", row=row)
        return None
    try:
        amount = Decimal(str(value).strip())
    except ArithmeticError:
        problems.add(where, "is not a decimal number", row=row)
        return None
    if not amount.is_finite():
        problems.add(where, "must be a finite number", row=row)
        return None
    if amount < 0:
        problems.add(where, "must not be negative", row=row)
        return None
    if amount >= LIMIT:
        problems.add(where, f"must be less than {LIMIT:,}", row=row)
        return None
    exponent = amount.as_tuple().exponent
    if isinstance(exponent, int) and -exponent > SCALE:
        problems.add(where, f"has more than {SCALE} digits after the point", row=row)
        return None
    return amount


def check_currency(currency: object, problems: Problems, where: str, row: int | None = None) -> str | None:
    if not isinstance(currency, str) or not CURRENCY.match(currency):
        problems.add(where, "must be an ISO 4217 code: three capital letters", row=row)
        return None
    return currency


def one_currency(currencies: Iterable[tuple[str, int | None]], problems: Problems) -> str | None:
    """The one currency of a file's rows; a second one is a fault naming the first row that has it."""
    first: str | None = None
    for currency, row in currencies:
        if first is None:
            first = currency
        elif currency != first:
            problems.add("currency", f"a catalog has one currency: {currency} after {first}", row=row)
            return None
    return first


def capped(warnings: Sequence[str]) -> tuple[tuple[str, ...], int]:
    return tuple(warnings[:MAX_WARNINGS]), len(warnings)


def in_force(versions: Sequence[CatalogVersion], at: datetime) -> CatalogVersion | None:
    """The version whose prices hold at `at`: the latest to take effect by then (the later import, of two that take
    effect at the same moment)."""
    started = [v for v in versions if v.effective_from <= at]
    return max(started, key=lambda v: (v.effective_from, v.version), default=None)


def price_of(prices: Iterable[Price], kind: PriceKind, region: str | None, item: str = "") -> Price | None:
    """The price of `item` in `region`: the region's own before one for every region, the item's own before one
    for any item."""
    best: tuple[int, Price] | None = None
    for p in prices:
        if p.kind != kind or p.region not in ("", region) or p.item not in ("", item):
            continue
        rank = (p.region == region) * 2 + (p.item == item and item != "")
        if best is None or rank > best[0]:
            best = (rank, p)
    return best[1] if best else None
