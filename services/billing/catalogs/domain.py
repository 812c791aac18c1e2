"""The billing service's copy of each cloud account's price catalog versions, as the provisioner published them, and
the rule that picks a price; no I/O. Amounts are `Decimal`: never a float."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

# A month of running, in hours (365 x 24 / 12), by which GB-month prices are spread over seconds.
HOURS_A_MONTH = Decimal(730)


@dataclass(frozen=True, slots=True)
class Price:
    # "flavor", "volume", "snapshot", "address", "image".
    kind: str
    # "": every region of the account.
    region: str
    # The flavor or image id, or the volume type; "": any.
    item: str
    amount: Decimal


@dataclass(frozen=True, slots=True)
class Version:
    cloud_id: str
    version: int
    effective_from: datetime
    currency: str
    prices: tuple[Price, ...]

    def price(self, kind: str, region: str | None, item: str = "", *, own: bool = False) -> Price | None:
        """The price of `item` in `region`: the region's own before one for every region (or, with no region known,
        any region's), the item's own before one for any item; with `own`, only a price for the item itself (a
        flavor's or an image's)."""
        best: tuple[int, Price] | None = None
        for p in self.prices:
            if p.kind != kind or p.item not in ("", item) or (own and p.item != item):
                continue
            if region is not None and p.region not in ("", region):
                continue
            rank = (region is not None and p.region == region) * 4 + (p.region == "") * 2 + (p.item == item != "")
            if best is None or rank > best[0]:
                best = (rank, p)
        return best[1] if best else None


@dataclass(frozen=True, slots=True)
class PriceBook:
    """The versions of one account's catalog, in force one after the other."""

    versions: tuple[Version, ...]

    @staticmethod
    def of(versions: Iterable[Version]) -> PriceBook:
        return PriceBook(tuple(sorted(versions, key=lambda v: (v.effective_from, v.version))))

    def in_force(self, at: datetime) -> Version | None:
        """The version whose prices hold at `at`: the latest to take effect by then."""
        found = None
        for v in self.versions:
            if v.effective_from > at:
                break
            found = v
        return found

    def changes(self) -> Sequence[datetime]:
        """When a version takes over: usage is cut there, so each part is priced by one version."""
        return [v.effective_from for v in self.versions]


EMPTY = PriceBook(())

__all__ = ["EMPTY", "HOURS_A_MONTH", "Price", "PriceBook", "Version"]
