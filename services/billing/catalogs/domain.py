"""The billing service's copy of each cloud account's price catalog versions, as the provisioner published them, and
the rule that picks a price; no I/O. Amounts are `Decimal`: never a float."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
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
    _ratio: tuple[int, int] | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def ratio(self) -> tuple[int, int]:
        """`amount` as a fraction in lowest terms: a cost is worked out from it in whole units of a line's last place,
        with no rounding but the one that ends it. Worked out once, when first asked: a catalog holds thousands of
        prices, and a rating uses few."""
        ratio = self._ratio
        if ratio is None:
            ratio = self.amount.as_integer_ratio()
            object.__setattr__(self, "_ratio", ratio)
        return ratio


@dataclass(frozen=True, slots=True)
class Version:
    cloud_id: str
    version: int
    effective_from: datetime
    currency: str
    prices: tuple[Price, ...]
    # What `price` found, by its arguments: a catalog holds thousands of prices, and every part of every resource's
    # usage asks for one.
    _found: dict[tuple[str, str | None, str, bool], Price | None] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def price(self, kind: str, region: str | None, item: str = "", *, own: bool = False) -> Price | None:
        """The price of `item` in `region`: the region's own before one for every region (or, with no region known,
        any region's), the item's own before one for any item; with `own`, only a price for the item itself (a
        flavor's or an image's)."""
        key = (kind, region, item, own)
        try:
            return self._found[key]
        except KeyError:
            found = self._found[key] = self._best(kind, region, item, own)
            return found

    def _best(self, kind: str, region: str | None, item: str, own: bool) -> Price | None:
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


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def microseconds(at: datetime) -> int:
    """`at` as whole microseconds since the Unix epoch: instants compared and cut as integers."""
    return (at - _EPOCH) // _MICROSECOND


def moment(us: int) -> datetime:
    """The instant (UTC) `us` microseconds after the Unix epoch: `microseconds` undone."""
    return _EPOCH + timedelta(microseconds=us)


@dataclass(frozen=True, slots=True)
class PriceBook:
    """The versions of one account's catalog, in force one after the other."""

    versions: tuple[Version, ...]
    # When each version takes over, in microseconds since the epoch, in the versions' order: usage is cut there, so
    # that each part is priced by one version.
    starts: tuple[int, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "starts", tuple(microseconds(v.effective_from) for v in self.versions))

    @staticmethod
    def of(versions: Iterable[Version]) -> PriceBook:
        return PriceBook(tuple(sorted(versions, key=lambda v: (v.effective_from, v.version))))


EMPTY = PriceBook(())

__all__ = ["EMPTY", "HOURS_A_MONTH", "Price", "PriceBook", "Version", "microseconds", "moment"]
